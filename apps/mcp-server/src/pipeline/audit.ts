import type { AuditSink, FailureAggregator } from '@stack/audit';
import { addressLimitKey } from '@stack/redis';
import type { Identity } from '@stack/mcp-auth';

export type AuditDecision = 'ALLOWED' | 'DENIED' | 'AUTH_FAILED' | 'RATE_LIMITED' | 'INVALID_INPUT' | 'ERROR';

export interface AuditRecord {
  decision: AuditDecision;
  requestId: string;
  reason: string;
  identity?: Identity | undefined;
  method?: string | undefined;
  tool?: string | undefined;
  /** resources/read on a gateway path: the URI asked for. */
  resource?: string | undefined;
  /** prompts/get on a gateway path: the prompt's name. */
  prompt?: string | undefined;
  /** The protected server (stack file name) the request was for, on a gateway path. */
  server?: string | undefined;
  address?: string | undefined;
  transport: 'http' | 'stdio';
  /** Tool (or prompt) arguments: only their names are written, values are redacted. */
  args?: unknown;
}

export interface Auditor {
  record(r: AuditRecord): void;
}

const MAX_ARGS = 32;

function argNames(args: unknown): string[] | undefined {
  if (args === undefined || args === null) return undefined;
  if (typeof args !== 'object' || Array.isArray(args)) return ['(non-object)=[redacted]'];
  return Object.keys(args).slice(0, MAX_ARGS).map((k) => `${k.slice(0, 64)}=[redacted]`);
}

/**
 * One chained JSON line per decision. The sink escapes control characters and redacts secret-named
 * keys; here we make sure no token or argument value is ever passed to it in the first place.
 * Failures before authentication over HTTP (no or bad credentials, a refused Origin) cost the sender
 * nothing, so they go through `failures`: the first few per address and interval in full, the rest
 * counted in one summary line.
 */
export function createAuditor(sink: AuditSink, failures?: FailureAggregator, onRecord?: (r: AuditRecord) => void): Auditor {
  return {
    record(r) {
      onRecord?.(r);
      const event = {
        event: 'mcp.decision',
        decision: r.decision,
        request_id: r.requestId,
        identity: r.identity?.subject,
        auth_kind: r.identity?.kind,
        role: r.identity?.role,
        client: r.identity?.clientId,
        jti: r.identity?.kind === 'user' ? r.identity.tokenId : undefined,
        // The token was sender-constrained (RFC 9449) and came with a proof by its key.
        binding: r.identity?.binding ? 'dpop' : undefined,
        transport: r.transport,
        server: r.server,
        method: r.method?.slice(0, 64),
        tool: r.tool?.slice(0, 64),
        resource: r.resource?.slice(0, 512),
        prompt: r.prompt?.slice(0, 64),
        address: r.address,
        args: argNames(r.args),
        reason: r.reason,
      };
      const unauthenticated = !r.identity && r.transport === 'http' && r.decision !== 'ERROR' && r.decision !== 'ALLOWED';
      if (failures && unauthenticated) failures.write(addressLimitKey(r.address ?? ''), `mcp.${r.decision}`, event);
      else sink.write(event);
    },
  };
}
