import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../src/policy.ts';
import { bearer, callTool, listTools, rpc, startMcpServer, useIssuer } from './helpers.ts';

const policy = parsePolicy({
  scope_implies: { 'db:admin': ['db:write'], 'db:write': ['db:read'] },
  tools: {
    list_tables: { roles: ['admin', 'developer', 'viewer'], scopes: ['db:read'] },
    query: { roles: ['admin', 'developer', 'viewer'], scopes: ['db:read'], rate_limit_per_minute: 2 },
  },
});

describe('rate limits per identity and per tool', () => {
  const issuer = useIssuer();

  it('answers 429 with Retry-After once an identity passes RATE_LIMIT_PER_MINUTE, and audits RATE_LIMITED', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url, RATE_LIMIT_PER_MINUTE: '3' });
    const alice = bearer(await issuer.sign({ aud: s.url, sub: 'alice' }));
    for (let i = 0; i < 3; i++) expect((await rpc(s.url, listTools(), alice)).status).toBe(200);
    const res = await rpc(s.url, listTools(), alice);
    expect(res.status).toBe(429);
    const retry = Number(res.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(await res.json()).toMatchObject({ error: 'rate_limited' });
    expect(s.audit().at(-1)).toMatchObject({ decision: 'RATE_LIMITED', identity: 'alice', method: 'tools/list' });
    // Keyed by identity, not by address: another user from the same address is unaffected,
    // and so is the same user through another client (one budget per user).
    expect((await rpc(s.url, listTools(), bearer(await issuer.sign({ aud: s.url, sub: 'bob' })))).status).toBe(200);
    expect((await rpc(s.url, listTools(), bearer(await issuer.sign({ aud: s.url, sub: 'alice', client_id: 'other' })))).status).toBe(429);
  });

  it('applies a per-tool limit from the policy on top of the identity limit', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url, RATE_LIMIT_PER_MINUTE: '100' }, { policy });
    const carol = bearer(await issuer.sign({ aud: s.url, sub: 'carol' }));
    for (let i = 0; i < 2; i++) expect((await (await rpc(s.url, callTool('query', { sql: 'select 1' }), carol)).json()).result.isError).toBeUndefined();
    const limited = await rpc(s.url, callTool('query', { sql: 'select 1' }), carol);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(s.audit().at(-1)).toMatchObject({ decision: 'RATE_LIMITED', tool: 'query' });
    // Other tools, and the same tool for other identities, still work.
    expect((await rpc(s.url, callTool('list_tables'), carol)).status).toBe(200);
    expect((await rpc(s.url, callTool('query', { sql: 'select 1' }), bearer(await issuer.sign({ aud: s.url, sub: 'dave' })))).status).toBe(200);
  });
});
