import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../apps/auth-server/test/helpers.ts';
import { PASSWORD, startStack, type Stack } from '../helpers/stack.ts';
import { ClientHome, MCP_REMOTE_DIST, mcpRemoteProxy, runClient } from './harness.ts';

/**
 * mcp-remote 0.15 as people run it. `mcp-remote-client` signs in (BROWSER = real Chromium) and
 * lists tools, and only that: it has no command to call a tool. So the tool call and the refresh
 * go through `mcp-remote` itself, the stdio proxy Claude Desktop launches, on the tokens the first
 * run stored.
 */

const CLIENT_BIN = join(MCP_REMOTE_DIST, 'client.js');
const TIMEOUT = 45_000;
const TOOLS = ['list_tables', 'describe_table', 'query', 'execute_sql'];

/** The tools JSON mcp-remote-client logs after "Tools:" (pretty-printed, closing brace at column 0). */
function loggedTools(stderr: string): string[] {
  const json = /Tools: (\{[\s\S]*?\n\})\n/.exec(stderr)?.[1];
  if (!json) return [];
  return (JSON.parse(json) as { tools: { name: string }[] }).tools.map((t) => t.name);
}

describe('mcp-remote through the whole stack', () => {
  let stack: Stack;
  let email: string;
  /** The loopback callback port; later runs must use the same one or mcp-remote drops its registration. */
  let port: number;
  const home = new ClientHome();
  const configDir = join(home.dir, 'mcp-auth');
  const storeDir = join(configDir, 'mcp-remote-v1');
  const stored = (suffix: string) => join(storeDir, readdirSync(storeDir).find((f) => f.endsWith(suffix))!);
  const readTokens = () => JSON.parse(readFileSync(stored('_tokens.json'), 'utf8')) as { access_token: string; refresh_token: string };

  beforeAll(async () => {
    stack = await startStack();
    email = await stack.user('developer');
  });
  afterAll(async () => {
    await stack?.close();
    home.remove();
  });

  it('[MCP-RS-PRM-DISCOVERY] [MCP-DCR] mcp-remote-client: discovery, registration, Chromium sign-in and consent, token, tools/list; a second run reuses the stored tokens without a browser', async () => {
    port = await freePort();
    const first = await runClient(process.execPath, [CLIENT_BIN, stack.mcp.url, String(port)], {
      env: { MCP_REMOTE_CONFIG_DIR: configDir, ...home.browserEnv({ email, password: PASSWORD, screenshots: 'mcp-remote' }) },
      timeoutMs: 20_000,
    });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`Discovered authorization server: ${stack.auth.url}`);
    const authorizeUrl = new URL(/Please authorize this client by visiting:\n(\S+)/.exec(first.stderr)![1]!);
    expect(authorizeUrl.origin + authorizeUrl.pathname).toBe(`${stack.auth.url}/authorize`);
    expect(authorizeUrl.searchParams.get('resource')).toBe(stack.mcp.url);
    expect(authorizeUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(loggedTools(first.stderr).sort()).toEqual([...TOOLS].sort());

    const [browser] = await home.browserRuns(1);
    expect(browser?.error).toBeUndefined();
    expect(browser?.consentHeading).toBe('Allow MCP CLI Client to use your account?');
    const callback = new URL(browser!.final!);
    expect(`${callback.origin}${callback.pathname}`).toBe(`http://localhost:${port}/oauth/callback`);
    expect(callback.searchParams.get('iss')).toBe(stack.auth.url);

    // Registered through DCR; both files are private to the user.
    const info = JSON.parse(readFileSync(stored('_client_info.json'), 'utf8')) as { client_id: string; redirect_uris: string[] };
    expect(info.redirect_uris).toEqual([`http://localhost:${port}/oauth/callback`]);
    expect(stack.auth.auditEvents()).toContainEqual(expect.objectContaining({ event: 'client.registered', client: info.client_id, client_name: 'MCP CLI Client' }));
    expect(statSync(stored('_tokens.json')).mode & 0o777).toBe(0o600);
    expect(readTokens().refresh_token).toBeTruthy();

    const second = await runClient(process.execPath, [CLIENT_BIN, stack.mcp.url, String(port)], {
      env: { MCP_REMOTE_CONFIG_DIR: configDir, ...home.noBrowserEnv() },
      timeoutMs: 15_000,
    });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toContain('Please authorize');
    expect(loggedTools(second.stderr).sort()).toEqual([...TOOLS].sort());
    expect(await home.browserRuns(2, 500)).toHaveLength(1);
  }, TIMEOUT);

  it('[MCP-AS-REFRESH-ROTATE] the mcp-remote stdio proxy calls a tool on the stored tokens, and refreshes when the access token is rejected', async () => {
    const before = readTokens();
    writeFileSync(stored('_tokens.json'), JSON.stringify({ ...before, access_token: 'expired-access-token' }));

    const proxy = await mcpRemoteProxy(stack.mcp.url, port, { MCP_REMOTE_CONFIG_DIR: configDir, ...home.noBrowserEnv() });
    try {
      expect((await proxy.answer(proxy.client.listTools())).tools.map((t) => t.name).sort()).toEqual([...TOOLS].sort());
      const result = await proxy.answer(proxy.client.callTool({ name: 'query', arguments: { sql: 'SELECT count(*) AS n FROM users' } }));
      expect(result.isError, proxy.log()).toBeFalsy();
      expect(JSON.parse((result.content as { text: string }[])[0]!.text)).toMatchObject({ columns: ['n'], rows: [[30]] });
    } finally {
      await proxy.close();
    }

    const after = readTokens();
    expect(after.refresh_token).not.toBe(before.refresh_token);
    expect(after.access_token).toMatch(/^eyJ/);
    const info = JSON.parse(readFileSync(stored('_client_info.json'), 'utf8')) as { client_id: string };
    expect(stack.auth.auditEvents()).toContainEqual(expect.objectContaining({ event: 'token.refreshed', client: info.client_id }));
    expect(proxy.log()).not.toContain('Please authorize');
    expect(await home.browserRuns(2, 500)).toHaveLength(1);
  }, TIMEOUT);

  it('deny: mcp-remote-client reports access_denied and stores no token', async () => {
    const denied = new ClientHome();
    try {
      const viewer = await stack.user('viewer');
      const r = await runClient(process.execPath, [CLIENT_BIN, stack.mcp.url, String(await freePort()), '--auth-timeout', '15'], {
        env: { MCP_REMOTE_CONFIG_DIR: denied.dir, ...denied.browserEnv({ email: viewer, password: PASSWORD, decision: 'deny' }) },
        timeoutMs: 25_000,
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('Authorization failed: access_denied - the user denied the request');
      expect(readdirSync(join(denied.dir, 'mcp-remote-v1')).filter((f) => f.endsWith('_tokens.json'))).toEqual([]);
      const [browser] = await denied.browserRuns(1);
      expect(new URL(browser!.final!).searchParams.get('error')).toBe('access_denied');
    } finally {
      denied.remove();
    }
  }, TIMEOUT);
});
