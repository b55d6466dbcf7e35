import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../apps/auth-server/test/helpers.ts';
import { inspectorCli, node22 } from '../helpers/node22-tools.ts';
import { PASSWORD, startStack, type Stack } from '../helpers/stack.ts';
import { ClientHome, runClient, type RunResult } from './harness.ts';

/**
 * The MCP Inspector CLI (v2, needs Node >= 22.19) on the pinned Node 22 from .tools/node22, spawned
 * by absolute path so it never joins the project's runtime. Its OAuth state and secrets live in a
 * temp home; MCP_AUTO_OPEN_ENABLED makes it open BROWSER (real Chromium) without a TTY.
 */

const TIMEOUT = 45_000;

interface Secrets { secrets: Record<string, string> }
interface Tokens { access_token: string; refresh_token?: string }

describe('MCP Inspector CLI through the whole stack (Node 22)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => { await stack?.close(); });

  /** One isolated Inspector installation: storage, secret file and callback listener of its own. */
  async function inspector() {
    const home = new ClientHome();
    const storage = join(home.dir, 'storage');
    const callbackUrl = `http://127.0.0.1:${await freePort()}/oauth/callback`;
    const env = {
      HOME: home.dir,
      MCP_STORAGE_DIR: storage,
      MCP_INSPECTOR_SECRET_STORE: 'file',
      MCP_AUTO_OPEN_ENABLED: 'true',
      MCP_OAUTH_CALLBACK_URL: callbackUrl,
    };
    const run = (args: string[], extra: Record<string, string>): Promise<RunResult> =>
      runClient(node22, [inspectorCli, '--cli', '--server-url', stack.mcp.url, '--transport', 'http', '--format', 'json', ...args], { env: { ...env, ...extra }, timeoutMs: 25_000 });
    const secretsFile = join(storage, 'secrets.json');
    /** The token set the Inspector stored for our issuer (a JSON string inside its secret file). */
    const tokens = (): Tokens => {
      const s = JSON.parse(readFileSync(secretsFile, 'utf8')) as Secrets;
      const key = Object.keys(s.secrets).find((k) => k.endsWith(`:tokens:${stack.auth.url}`));
      return JSON.parse(s.secrets[key!]!) as Tokens;
    };
    const saveTokens = (t: Tokens) => {
      const s = JSON.parse(readFileSync(secretsFile, 'utf8')) as Secrets;
      const key = Object.keys(s.secrets).find((k) => k.endsWith(`:tokens:${stack.auth.url}`))!;
      s.secrets[key] = JSON.stringify(t);
      writeFileSync(secretsFile, JSON.stringify(s));
    };
    return { home, run, callbackUrl, tokens, saveTokens, storage, secretsFile };
  }

  it('[MCP-RS-PRM-DISCOVERY] [MCP-DCR] [MCP-AS-REFRESH-ROTATE] tools/list through OAuth in Chromium, tools/call on the stored grant, then a refresh when the access token is rejected', async () => {
    const email = await stack.user('developer');
    const i = await inspector();
    try {
      const list = await i.run(['--method', 'tools/list'], i.home.browserEnv({ email, password: PASSWORD, screenshots: 'inspector' }));
      expect(list.code, list.stderr).toBe(0);
      expect(list.stderr).toMatch(new RegExp(`Please navigate to: ${stack.auth.url}/authorize\\?`));
      const names = (JSON.parse(list.stdout) as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name);
      expect(names.sort()).toEqual(['describe_table', 'execute_sql', 'list_tables', 'query']);

      const [browser] = await i.home.browserRuns(1);
      expect(browser?.error).toBeUndefined();
      expect(browser?.consentHeading).toBe('Allow MCP Inspector to use your account?');
      const callback = new URL(browser!.final!);
      expect(`${callback.origin}${callback.pathname}`).toBe(i.callbackUrl);
      expect(callback.searchParams.get('iss')).toBe(stack.auth.url);

      // What it discovered and registered, from its own state file.
      const state = JSON.parse(readFileSync(join(i.storage, 'oauth.json'), 'utf8')) as {
        servers: Record<string, { discoveryState: { authorizationServerUrl: string; resourceMetadata: { resource: string } }; byIssuer: Record<string, { clientInformation: { client_id: string; application_type: string }; clientRegistrationKind: string }> }>;
      };
      const server = state.servers[stack.mcp.url]!;
      expect(server.discoveryState.authorizationServerUrl).toBe(stack.auth.url);
      expect(server.discoveryState.resourceMetadata.resource).toBe(stack.mcp.url);
      const registration = server.byIssuer[stack.auth.url]!;
      expect(registration.clientRegistrationKind).toBe('dcr');
      expect(registration.clientInformation.application_type).toBe('native');
      const clientId = registration.clientInformation.client_id;

      // No browser from here on: a second browser run would fail and be logged.
      const noBrowser = i.home.noBrowserEnv();
      const call = await i.run(['--method', 'tools/call', '--tool-name', 'query', '--tool-arg', 'sql=SELECT count(*) AS n FROM users'], noBrowser);
      expect(call.code, call.stderr).toBe(0);
      // Tool results are one JSON text block (apps/mcp-server/src/tools/tool-result.ts).
      expect(JSON.parse(JSON.parse(call.stdout).result.content[0].text)).toMatchObject({ columns: ['n'], rows: [[30]] });

      const before = i.tokens();
      expect(before.refresh_token).toBeTruthy();
      i.saveTokens({ ...before, access_token: 'expired-access-token' });
      const again = await i.run(['--method', 'tools/call', '--tool-name', 'query', '--tool-arg', 'sql=SELECT count(*) AS n FROM orders'], noBrowser);
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(JSON.parse(again.stdout).result.content[0].text)).toMatchObject({ columns: ['n'] });
      const after = i.tokens();
      expect(after.refresh_token).not.toBe(before.refresh_token);
      expect(after.access_token).toMatch(/^eyJ/);
      expect(stack.auth.auditEvents()).toContainEqual(expect.objectContaining({ event: 'token.refreshed', client: clientId }));
      expect(await i.home.browserRuns(2, 500)).toHaveLength(1);
    } finally {
      i.home.remove();
    }
  }, TIMEOUT);

  it('deny: the Inspector reports that the user denied the request, and stores no token', async () => {
    const viewer = await stack.user('viewer');
    const i = await inspector();
    try {
      const r = await i.run(['--method', 'tools/list'], i.home.browserEnv({ email: viewer, password: PASSWORD, decision: 'deny' }));
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      // It prints our error_description; the browser log shows the access_denied it was given.
      expect(r.stderr).toContain('{"error":{"code":"error","message":"the user denied the request"}}');
      const [browser] = await i.home.browserRuns(1);
      expect(new URL(browser!.final!).searchParams.get('error')).toBe('access_denied');
      const secrets = existsSync(i.secretsFile) ? Object.keys((JSON.parse(readFileSync(i.secretsFile, 'utf8')) as Secrets).secrets) : [];
      expect(secrets.filter((k) => k.includes(':tokens:'))).toEqual([]);
    } finally {
      i.home.remove();
    }
  }, TIMEOUT);
});
