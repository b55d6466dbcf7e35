import type { Identity } from '@stack/mcp-auth';
import type { Runtime } from './runtime.ts';
import type { ApprovedCall } from './pipeline/gate.ts';
import type { InFlight } from './http/in-flight.ts';
import type { McpHttpServer } from './mcp-server-factory.ts';
import type { ProtocolEra } from './pipeline/protocol-era.ts';
import type { Endpoint } from './endpoint.ts';
import type { ReloadOutcome } from './stack-reload.ts';

/** What the routes see: the runtime itself (buildApp() adds what only HTTP has), one per app. */
export interface McpAppContext extends Runtime {
  /** URL of the RFC 9728 metadata for the MCP endpoint (path-inserted form). */
  resourceMetadataUrl: string;
  /** MCP requests whose responses are not yet sent, per identity and in bytes. */
  inFlight: InFlight;
  /** The SDK's side of the MCP endpoint, for both protocol revisions. */
  http: McpHttpServer;
  /** Every protected server this app serves: the built-in one first, then the stack file's gateway servers. */
  endpoints: Endpoint[];
  /** Reads the stack file again and applies what it can (main.ts calls it on SIGHUP; see stack-reload.ts). */
  reload(): ReloadOutcome;
}

declare module 'fastify' {
  interface FastifyInstance {
    mcp: McpAppContext;
  }
  interface FastifyRequest {
    identity: Identity | null;
    /** The tools/call the gate approved for this request's message, if it is one. */
    approvedCall: ApprovedCall | null;
    /** The protocol revision the gate found this request's message to speak. */
    mcpEra: ProtocolEra | null;
  }
}
