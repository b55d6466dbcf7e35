import { AuditLog, deriveAuditKeys, type AuditEvent } from '@stack/audit';
import type { TestAuthServer } from './helpers.ts';

export const HOUR = 3_600_000;

/** A clock for the server (buildApp's `now`) that tests move: half past an hour, so lines an hour apart fall in distinct hours. */
export function testClock(): { now: () => number; at: number; set(ms: number): void } {
  const c = { at: Math.floor(Date.now() / HOUR) * HOUR + HOUR / 2, now: () => c.at, set: (ms: number) => { c.at = ms; } };
  return c;
}

/**
 * Writes chained lines, as the app that owns `file` would, each at the time given: keyed with the
 * server's KEKs; anchored in its database when `anchored` (the authorization server's own log).
 */
export async function writeAuditLines(s: TestAuthServer, file: string, app: 'auth-server' | 'mcp-server', lines: readonly (AuditEvent & { at: number })[], anchored = app === 'auth-server'): Promise<void> {
  let t = lines[0]?.at ?? Date.now();
  const log = await AuditLog.open({
    file, app, keys: deriveAuditKeys(s.app.ctx.keks), anchors: anchored ? s.app.ctx.store.auditAnchors : undefined, now: () => new Date(t), onBrokenChain: 'refuse',
  });
  for (const { at, ...event } of lines) {
    t = at;
    log.write(event);
  }
  await log.close();
}

/** n copies of a line. */
export const times = <T>(n: number, line: T): T[] => Array.from({ length: n }, () => line);

/** An MCP tools/call decision line. */
export const toolCall = (at: number, decision: 'ALLOWED' | 'DENIED' | 'RATE_LIMITED', tool: string, identity = 'user-1', client = 'client-1') =>
  ({ at, event: 'mcp.decision', decision, method: 'tools/call', tool, identity, client, transport: 'http', reason: decision === 'DENIED' ? 'role may not call this tool' : 'ok' });
