import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Identity } from '@stack/mcp-auth';
import type { McpConfig } from './config.ts';
import type { PolicyHolder } from './policy.ts';
import type { Authenticator } from './pipeline/authenticate.ts';
import type { Auditor } from './pipeline/audit.ts';
import type { GateContext } from './pipeline/gate.ts';
import type { SessionInfo } from './mcp-server-factory.ts';
import type { SharedRedis } from '@stack/redis';
import type { InFlight } from './http/in-flight.ts';

/** Everything the routes need, built once per app by buildApp(). */
export interface McpAppContext {
  config: McpConfig;
  policy: PolicyHolder;
  authenticator: Authenticator;
  audit: Auditor;
  gate: GateContext;
  newServer: (s: SessionInfo) => McpServer;
  /** Redis, when REDIS_URL is set: rate-limit counters and the revocation list. */
  sharedStore: SharedRedis | undefined;
  /** URL of the RFC 9728 metadata for the MCP endpoint (path-inserted form). */
  resourceMetadataUrl: string;
  /** MCP requests whose responses are not yet sent, per identity and in bytes. */
  inFlight: InFlight;
}

declare module 'fastify' {
  interface FastifyInstance {
    mcp: McpAppContext;
  }
  interface FastifyRequest {
    identity: Identity | null;
  }
}
