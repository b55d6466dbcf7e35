// REGISTRATION_MODE=approval end to end: the official MCP SDK client registers, its sign-in stops at
// the waiting page, an operator approves it with the admin CLI (a process of its own, as operators
// run it), and the same client then signs in and uses the tools.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { startStack, PASSWORD, type Stack } from './helpers/stack.ts';
import { TestOAuthProvider } from './helpers/sdk-oauth-provider.ts';
import { adminProcess as admin } from '../apps/auth-server/test/cli-helpers.ts';

/** The provider of a desktop client whose browser may land on the waiting page instead of the sign-in. */
class WaitingAwareProvider extends TestOAuthProvider {
  waitingPage: { status: number; html: string } | undefined;
  override async redirectToAuthorization(url: URL): Promise<void> {
    this.waitingPage = undefined;
    const first = await this.browser.request(url.toString());
    if (first.status === 403) {
      this.waitingPage = { status: first.status, html: await first.text() };
      return;
    }
    await first.body?.cancel();
    return super.redirectToAuthorization(url);
  }
}

/** One connection attempt: true when connected, false when the SDK stopped for the browser (UnauthorizedError). */
async function tryConnect(stack: Stack, provider: TestOAuthProvider): Promise<Client | undefined> {
  const client = new Client({ name: 'approval-e2e', version: '1.0.0' });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(stack.mcp.url), { authProvider: provider }));
    return client;
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    return undefined;
  }
}

// Two CLI processes (tsx compiles the admin script in each) take most of the time.
describe('REGISTRATION_MODE=approval with the MCP SDK client', () => {
  let stack: Stack;
  beforeEach(async () => { stack = await startStack({ authEnv: { REGISTRATION_MODE: 'approval' } }); });
  afterEach(async () => { await stack.close(); });

  it('[REG-MODE-8] the SDK client registers, its sign-in shows the waiting page, `clients approve` lets it in, and it lists and calls tools', async () => {
    const email = await stack.user('developer');
    const provider = new WaitingAwareProvider({ email, password: PASSWORD });

    // 401 → discovery → registration (pending) → the browser opens the authorization URL: the waiting page.
    expect(await tryConnect(stack, provider)).toBeUndefined();
    const clientId = (provider.clientInfo)?.client_id;
    expect(clientId).toEqual(expect.any(String));
    expect(provider.waitingPage?.status).toBe(403);
    expect(provider.waitingPage?.html).toContain('&quot;SDK end-to-end client&quot; is new here: an administrator of this server must approve it');
    expect(provider.callback).toBeUndefined();
    // The token endpoint will not serve it either, whatever the SDK tries meanwhile.
    expect(stack.auth.auditEvents().some((e) => e.event === 'token.issued')).toBe(false);

    // The operator sees it waiting and approves it.
    const env = { ...stack.auth.dbEnv, DATA_DIR: stack.auth.dataDir };
    const listed = await admin(env, ['clients', 'list', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { id: string; status: string }[]).find((c) => c.id === clientId)?.status).toBe('pending');
    const approved = await admin(env, ['clients', 'approve', clientId!]);
    expect(approved).toEqual({ code: 0, stdout: `client ${clientId} (SDK end-to-end client) approved: people can sign in with it now\n`, stderr: '' });
    const audit = readFileSync(join(stack.auth.dataDir, 'auth-audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit.find((e) => e.event === 'admin.client_approved')).toMatchObject({ client: clientId, actor: 'cli', decision: 'allow' });

    // The person starts again from the application: the same registration, now through sign-in and consent.
    expect(await tryConnect(stack, provider)).toBeUndefined();
    expect(provider.waitingPage).toBeUndefined();
    expect((provider.clientInfo as { client_id: string }).client_id).toBe(clientId);
    await new StreamableHTTPClientTransport(new URL(stack.mcp.url), { authProvider: provider }).finishAuth(provider.takeCode());
    const client = (await tryConnect(stack, provider))!;
    expect(client).toBeDefined();
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['describe_table', 'execute_sql', 'list_tables', 'query']);
    const result = await client.callTool({ name: 'query', arguments: { sql: 'SELECT count(*) AS n FROM users' } });
    expect(result.isError).toBeFalsy();
    await client.close();
  }, 120_000);
});
