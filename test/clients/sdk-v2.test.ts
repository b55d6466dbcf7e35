import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { PASSWORD, startStack, type Stack } from '../helpers/stack.ts';
import { ClientHome, jsonLines, runClient } from './harness.ts';

/**
 * The official MCP SDK v2 client (`@modelcontextprotocol/client`) as its own process, with its
 * browser step in real Chromium: discovery, registration, sign-in and consent, token, tools/list,
 * tools/call and a refresh. (The v1 SDK flow is covered in test/mcp-sdk-oauth.test.ts.)
 */

const SCRIPT = resolve(import.meta.dirname, 'sdk-v2-client.ts');
const TIMEOUT = 45_000;

describe('MCP SDK v2 client (@modelcontextprotocol/client) in a real browser', () => {
  let stack: Stack;
  beforeAll(async () => { stack = await startStack(); });
  afterAll(async () => { await stack?.close(); });

  async function run(env: Record<string, string>, home: ClientHome) {
    const res = await runClient(process.execPath, ['--import', 'tsx', SCRIPT, stack.mcp.url], { env, timeoutMs: TIMEOUT - 5_000 });
    const events = jsonLines(res.stdout);
    const find = (name: string) => events.filter((e) => e.event === name);
    return { ...res, events, find, browser: await home.browserRuns(1) };
  }

  it('[MCP-RS-PRM-DISCOVERY] [MCP-DCR] [MCP-AS-ISS-RESPONSE] [MCP-AS-REFRESH-ROTATE] discovers, registers, signs in after a wrong password, allows, lists and calls tools, then refreshes', async () => {
    const email = await stack.user('developer');
    const home = new ClientHome();
    try {
      const r = await run(home.browserEnv({ email, password: PASSWORD, wrongPasswordFirst: true, screenshots: 'sdk-v2' }), home);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);

      // PRM found from the 401 challenge, then the AS that advertises RFC 9207 iss.
      expect(r.find('discovered')[0]).toMatchObject({
        resource_metadata_url: `${new URL(stack.mcp.url).origin}/.well-known/oauth-protected-resource/mcp`,
        authorization_server: stack.auth.url,
        iss_parameter_supported: true,
      });
      const [registered] = r.find('registered');
      expect(registered).toMatchObject({ issuer: stack.auth.url });
      expect(stack.auth.auditEvents()).toContainEqual(expect.objectContaining({ event: 'client.registered', client: registered!.client_id }));

      // The browser: wrong password refused on our page, then the right one, consent, the client's loopback.
      const [browser] = r.browser;
      expect(browser?.error).toBeUndefined();
      expect(browser?.wrongPassword?.path).toBe('/login');
      expect(browser?.wrongPassword?.alert).toMatch(/^The email or password is incorrect\./);
      expect(browser?.consentHeading).toBe('Allow SDK v2 desktop client to use your account?');
      const callback = new URL(browser!.final!);
      expect(callback.hostname).toBe('127.0.0.1');
      expect(callback.pathname).toBe('/callback');

      // finishAuth(URLSearchParams) accepted the response only because iss is the issuer it discovered.
      expect(r.find('callback')[0]).toMatchObject({ keys: ['code', 'state', 'iss'], iss: stack.auth.url });
      const [issued, refreshed] = r.find('tokens');
      expect(issued).toMatchObject({ issuer: stack.auth.url, scope: 'db:read db:write', has_refresh_token: true });

      expect(r.find('tools')[0]!.names).toEqual(expect.arrayContaining(['list_tables', 'describe_table', 'query', 'execute_sql']));
      // The whole flow ran on 2026-07-28 (server/discover, per-request envelopes).
      expect(r.find('tools')[0]!.era).toBe('modern');
      expect(r.find('call')[0]).toMatchObject({ isError: false, data: { columns: ['n'], rows: [[30]] } });

      // The garbage access token got a 401; the SDK refreshed, got a rotated refresh token, and called again.
      expect(refreshed).toMatchObject({ scope: 'db:read db:write', has_refresh_token: true });
      expect(refreshed!.refresh_token_tail).not.toBe(issued!.refresh_token_tail);
      expect(r.find('call_after_refresh')[0]).toMatchObject({ isError: false, data: { columns: ['n'] } });
      expect(stack.auth.auditEvents()).toContainEqual(expect.objectContaining({ event: 'token.refreshed', client: registered!.client_id }));
      expect(r.find('done')).toHaveLength(1);
    } finally {
      home.remove();
    }
  }, TIMEOUT);

  it('[MCP-AS-ISS-RESPONSE] deny: the client gets access_denied (after checking iss) and no token', async () => {
    const email = await stack.user('viewer');
    const home = new ClientHome();
    try {
      const r = await run(home.browserEnv({ email, password: PASSWORD, decision: 'deny' }), home);
      expect(r.code).toBe(1);
      expect(r.find('callback')[0]).toMatchObject({ error: 'access_denied', iss: stack.auth.url });
      expect(r.find('error')[0]).toMatchObject({ name: 'OAuthError', code: 'access_denied' });
      expect(r.find('tokens')).toEqual([]);
    } finally {
      home.remove();
    }
  }, TIMEOUT);

  it('[MCP-AS-ISS-RESPONSE] a response whose iss is not the discovered issuer is refused by the client before any token request', async () => {
    const email = await stack.user('viewer');
    const home = new ClientHome();
    try {
      const r = await run({ ...home.browserEnv({ email, password: PASSWORD }), SDK_V2_TAMPER_ISS: 'https://attacker.example' }, home);
      expect(r.code).toBe(1);
      expect(r.find('callback')[0]).toMatchObject({ iss: stack.auth.url });
      expect(r.find('error')[0]).toMatchObject({ name: 'IssuerMismatchError' });
      expect(r.find('tokens')).toEqual([]);
    } finally {
      home.remove();
    }
  }, TIMEOUT);
});
