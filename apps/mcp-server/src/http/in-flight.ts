import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError, temporarilyUnavailable } from '@stack/oauth';

/**
 * Limits on MCP responses this process holds for clients. A response is "in flight" from the
 * moment its request is admitted until all of it has been handed to the network or its
 * connection has closed. A client that sends calls and never reads the answers (an absent or
 * very slow reader) would otherwise make the process keep every answer: the operating system
 * takes only what fits its socket buffers, and Node keeps the rest for as long as the connection
 * lives, which has no end of its own.
 */
export interface InFlightLimits {
  /** MCP requests one identity may have in flight (handler running or response not yet sent). */
  perIdentity: number;
  /** Response bytes waiting to be sent, all clients together; above it new requests get 503. */
  maxPendingBytes: number;
  /** A response not sent in full this long after it was written is dropped with its connection. */
  sendTimeoutMs: number;
}

export const DEFAULT_IN_FLIGHT_LIMITS: InFlightLimits = {
  perIdentity: 8,
  maxPendingBytes: 64 * 1024 * 1024,
  sendTimeoutMs: 30_000,
};

export interface InFlight {
  /** Counts `res` for `key` until it closes; throws 429 (this identity) or 503 (the whole server) instead. */
  admit(key: string, res: ServerResponse): void;
  /** Starts the send deadline of a response whose body has been written. */
  written(res: ServerResponse): void;
  /** Bytes written to in-flight responses and not yet handed to the network. */
  pendingBytes(): number;
}

export function createInFlight(overrides: Partial<InFlightLimits> = {}): InFlight {
  const limits = { ...DEFAULT_IN_FLIGHT_LIMITS, ...overrides };
  const byKey = new Map<string, number>();
  const open = new Set<ServerResponse>();
  const pendingBytes = () => {
    let sum = 0;
    // writableLength: what the response and its socket still buffer (pipelined responses on one
    // connection count the socket twice: an overestimate, on the safe side).
    for (const res of open) sum += res.writableLength;
    return sum;
  };
  return {
    admit(key, res) {
      const n = byKey.get(key) ?? 0;
      if (n >= limits.perIdentity) {
        throw new OAuthError('rate_limited', `too many requests in flight (at most ${limits.perIdentity}): wait for the answers to earlier requests and read them`, 429, { retryAfter: 1 });
      }
      if (pendingBytes() > limits.maxPendingBytes) throw temporarilyUnavailable('the server is holding too many unsent responses, retry later', 1);
      byKey.set(key, n + 1);
      open.add(res);
      res.once('close', () => {
        open.delete(res);
        const left = (byKey.get(key) ?? 1) - 1;
        if (left > 0) byKey.set(key, left);
        else byKey.delete(key);
      });
    },
    written(res) {
      if (res.writableFinished || res.destroyed) return;
      // Destroying the response closes its connection: what Node and the operating system still
      // hold for it is freed, and 'close' ends its place in flight.
      const timer = setTimeout(() => res.destroy(), limits.sendTimeoutMs);
      timer.unref();
      res.once('close', () => clearTimeout(timer));
    },
    pendingBytes,
  };
}

/** Pipeline step before the gate: admits the request into the in-flight limits (audited when refused). */
export async function limitInFlight(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { inFlight, audit } = request.server.mcp;
  const identity = request.identity!;
  try {
    inFlight.admit(`${identity.kind}:${identity.subject}`, reply.raw);
  } catch (err) {
    const e = err as OAuthError;
    audit.record({ decision: e.status === 429 ? 'RATE_LIMITED' : 'ERROR', requestId: request.id, identity, address: request.ip, transport: 'http', reason: e.description });
    throw err;
  }
}
