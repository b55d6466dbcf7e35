import type { FastifyRequest } from 'fastify';
import type { Identity } from '@stack/mcp-auth';
import type { Authenticator } from './pipeline/authenticate.ts';
import type { GateContext } from './pipeline/gate.ts';
import type { Policy } from './policy.ts';
import type { McpHttpServer } from './mcp-server-factory.ts';

/**
 * One protected MCP server on this app: its path, its own protected resource (RFC 9728 metadata,
 * the token audience RFC 8707), its gate (rules, tools, limits, audit) and the SDK servers that
 * speak the protocol for it. The built-in database server is one; each gateway server of the
 * stack file is another.
 */
export interface Endpoint {
  /** The stack file's name for it. */
  name: string;
  path: string;
  /** Canonical resource URL: the token audience this endpoint accepts and its metadata's `resource`. */
  resourceUrl: string;
  /** Its RFC 9728 metadata URL (path-inserted form), named in every 401/403 challenge. */
  resourceMetadataUrl: string;
  /** `resource_name` in its metadata. */
  title: string;
  authenticator: Authenticator;
  gate: GateContext;
  policy: () => Policy;
  http: McpHttpServer;
  /**
   * Brings the tool catalogue up to date before `identity`'s request is gated (an upstream's
   * tools/list, cached); never throws: an upstream that cannot be asked leaves the catalogue as it was.
   */
  refresh?: (identity: Identity) => Promise<void>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The protected server an MCP route serves. */
    endpoint?: Endpoint;
  }
}

/** The endpoint of the route `request` reached, if it is an MCP route. */
export const endpointOf = (request: FastifyRequest): Endpoint | undefined => request.routeOptions.config.endpoint;
