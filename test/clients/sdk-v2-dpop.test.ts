import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { EVERYTHING_ENTRY } from '../../apps/mcp-server/test/upstream-helpers.ts';
import { PASSWORD, startStack, type Stack } from '../helpers/stack.ts';
import { ClientHome, REPO, jsonLines, runClient } from './harness.ts';

/**
 * The official MCP SDK v2 client with its DPoP support (provider.dpop(), which the transport turns
 * into withDpopFromProvider → withDpop) through the browser login, against both apps requiring
 * server nonces (DPOP_NONCE=on, MCP_DPOP_NONCE=on): DPoP-bound tokens, nonce rounds at /token and
 * at the MCP server, tools, a forced refresh with the bound refresh token, and the token refused
 * when replayed as a bearer token. Against the shipped database server (`dpop: allowed`, where the
 * refusal is the token's binding) and a gateway server with `dpop: required` (server-everything
 * over stdio; the built-in tools serve one path only).
 */

const SCRIPT = resolve(import.meta.dirname, 'sdk-v2-client.ts');
const TIMEOUT = 45_000;

type Http = { method: string; origin: string; path: string; status: number; scheme?: string; proof: boolean; challenge_schemes?: string[]; proof_nonce: boolean; challenge_error?: string; error?: string; dpop_nonce: boolean; grant_type?: string };
const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { cnf?: { jkt?: string } };

describe('MCP SDK v2 client with DPoP (RFC 9449) in a real browser', () => {
  let stack: Stack;
  let dir: string;
  let strictUrl: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdk-v2-dpop-'));
    const stackFile = join(dir, 'stack.yaml');
    // The shipped stack file plus a server taking DPoP-bound tokens only.
    const file = parse(readFileSync(join(REPO, 'stack.yaml'), 'utf8')) as { servers: Record<string, unknown>[] };
    file.servers.push({
      name: 'strict', path: '/mcp/strict', dpop: 'required',
      upstream: { command: process.execPath, args: [EVERYTHING_ENTRY, 'stdio'] },
      default: { roles: ['admin', 'developer', 'viewer'], scopes: ['db:read'] },
    });
    writeFileSync(stackFile, stringify(file));
    stack = await startStack({ authEnv: { STACK_FILE: stackFile, DPOP_NONCE: 'on' }, mcpEnv: { STACK_FILE: stackFile, MCP_DPOP_NONCE: 'on' } });
    strictUrl = `${new URL(stack.mcp.url).origin}/mcp/strict`;
  });
  afterAll(async () => {
    await stack?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** One SDK client run with DPoP through the browser against `serverUrl`; checks what every run must show. */
  async function runDpopClient(serverUrl: string, calls?: { name: string; arguments: Record<string, unknown> }[]) {
    const email = await stack.user('developer');
    const home = new ClientHome();
    try {
      const res = await runClient(process.execPath, ['--import', 'tsx', SCRIPT, serverUrl], {
        env: { ...home.browserEnv({ email, password: PASSWORD }), SDK_V2_DPOP: '1', SDK_V2_EMIT_TOKEN: '1', ...(calls ? { SDK_V2_CALLS: JSON.stringify(calls) } : {}) },
        timeoutMs: TIMEOUT - 5_000,
      });
      const events = jsonLines(res.stdout);
      const find = (name: string) => events.filter((e) => e.event === name);
      expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
      expect((await home.browserRuns(1))[0]?.error).toBeUndefined();

      const { thumbprint } = find('dpop_key')[0] as { thumbprint: string };
      const http = find('http') as unknown as Http[];
      const asOrigin = new URL(stack.auth.url).origin;
      const mcpOrigin = new URL(serverUrl).origin;

      // Tokens: DPoP type, the access token bound to the client's key, before and after the refresh.
      const [issued, refreshed] = find('tokens') as { token_type: string; scope: string; access_token: string; refresh_token_tail: string }[];
      expect(issued).toMatchObject({ token_type: expect.stringMatching(/^dpop$/i), has_refresh_token: true });
      expect(claims(issued!.access_token).cnf).toEqual({ jkt: thumbprint });
      expect(refreshed).toMatchObject({ token_type: expect.stringMatching(/^dpop$/i), has_refresh_token: true });
      expect(claims(refreshed!.access_token).cnf).toEqual({ jkt: thumbprint });
      expect(refreshed!.refresh_token_tail).not.toBe(issued!.refresh_token_tail);

      // Nonce round at /token (RFC 9449 §8): 400 use_dpop_nonce with a DPoP-Nonce, then the retry with it.
      const tokenCalls = http.filter((h) => h.origin === asOrigin && h.path.endsWith('/token'));
      expect(tokenCalls.filter((h) => h.grant_type === 'authorization_code').map((h) => [h.status, h.error, h.proof, h.proof_nonce, h.dpop_nonce])).toEqual([
        [400, 'use_dpop_nonce', true, false, true],
        [200, undefined, true, true, true],
      ]);
      // The refresh carries the remembered nonce and a proof by the same key (the token above): accepted first time.
      expect(tokenCalls.filter((h) => h.grant_type === 'refresh_token').map((h) => [h.status, h.proof, h.proof_nonce])).toEqual([[200, true, true]]);

      // Nonce round at the MCP server (RFC 9449 §9): 401 DPoP use_dpop_nonce, retried inline with the nonce.
      const mcpCalls = http.filter((h) => h.origin === mcpOrigin && h.scheme === 'DPoP');
      const challenged = mcpCalls.findIndex((h) => h.status === 401 && h.challenge_error === 'use_dpop_nonce');
      expect(challenged).toBeGreaterThanOrEqual(0);
      expect(mcpCalls[challenged]).toMatchObject({ proof: true, proof_nonce: false, dpop_nonce: true });
      expect(mcpCalls[challenged + 1]).toMatchObject({ status: 200, proof: true, proof_nonce: true });
      // Every MCP request with a token used the DPoP scheme, with a proof.
      expect(http.filter((h) => h.origin === mcpOrigin && h.scheme !== undefined).every((h) => h.scheme === 'DPoP' && h.proof)).toBe(true);

      expect(find('call')[0]).toMatchObject({ isError: false });
      expect(find('call_after_refresh')[0]).toMatchObject({ isError: false });
      return { accessToken: refreshed!.access_token, scope: issued!.scope, http, find };
    } finally {
      home.remove();
    }
  }

  /** The access token replayed by a plain fetch with the Bearer scheme. */
  const asBearer = async (serverUrl: string, token: string) => {
    const res = await fetch(serverUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'query', arguments: { sql: 'SELECT 1' } } }),
    });
    return { status: res.status, challenge: res.headers.get('www-authenticate'), body: await res.json() as { error?: string; error_description?: string } };
  };

  it('[RFC9449-SDK-E2E] [RFC9449-TOKEN-TYPE] [RFC9449-JKT] [RFC9449-NONCE] [RFC9449-RS-NONCE] [RFC9449-REFRESH-BINDING] [RFC9449-NO-BEARER-DOWNGRADE] dpop allowed: signs in, gets DPoP-bound tokens after a nonce round at each server, calls tools, refreshes with the same key; the token as Bearer is refused', async () => {
    const { accessToken, scope, http, find } = await runDpopClient(stack.mcp.url);
    // The tokenless first request: both schemes offered; the SDK chose DPoP because it has a session.
    expect(http.find((h) => h.path === '/mcp' && h.status === 401 && h.scheme === undefined)?.challenge_schemes).toEqual(['Bearer', 'DPoP']);
    expect(scope).toBe('db:read db:write');
    expect(find('tools')[0]!.names).toEqual(expect.arrayContaining(['list_tables', 'query']));
    expect(find('call')[0]).toMatchObject({ data: { columns: ['n'], rows: [[30]] } });
    expect(find('call_after_refresh')[0]).toMatchObject({ data: { columns: ['n'] } });
    expect(stack.mcp.audit()).toContainEqual(expect.objectContaining({ decision: 'ALLOWED', tool: 'query', binding: 'dpop' }));
    const replay = await asBearer(stack.mcp.url, accessToken);
    expect(replay.status).toBe(401);
    expect(replay.body).toMatchObject({ error: 'invalid_token', error_description: 'this access token is DPoP-bound: send it with the DPoP scheme and a proof' });
  }, TIMEOUT);

  it('[RFC9449-SDK-E2E] [RFC9449-RS-REQUIRED] dpop required: the SDK follows the DPoP-only challenge through the same flow; a bearer token is refused there', async () => {
    const echo = (message: string) => ({ name: 'echo', arguments: { message } });
    const { accessToken, http, find } = await runDpopClient(strictUrl, [echo('first'), echo('after refresh')]);
    expect(find('tools')[0]!.names).toContain('echo');
    expect(find('call')[0]).toMatchObject({ text: 'Echo: first' });
    expect(find('call_after_refresh')[0]).toMatchObject({ text: 'Echo: after refresh' });
    expect(stack.mcp.audit()).toContainEqual(expect.objectContaining({ decision: 'ALLOWED', tool: 'echo', binding: 'dpop' }));
    // The first, tokenless request was answered with a DPoP challenge only (no Bearer offered).
    expect(http.find((h) => h.path === '/mcp/strict' && h.status === 401 && h.scheme === undefined)?.challenge_schemes).toEqual(['DPoP']);
    const replay = await asBearer(strictUrl, accessToken);
    expect(replay.status).toBe(401);
    expect(replay.challenge).toMatch(/^DPoP /);
    expect(replay.challenge).not.toMatch(/Bearer/);
    expect(replay.body).toMatchObject({ error: 'invalid_token', error_description: 'this server accepts only DPoP-bound access tokens, sent with the DPoP scheme and a proof' });
  }, TIMEOUT);
});
