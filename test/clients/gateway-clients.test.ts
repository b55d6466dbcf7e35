import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeJwt } from 'jose';
import { parse, stringify } from 'yaml';
import { freePort } from '../../apps/auth-server/test/helpers.ts';
import { FILESYSTEM_ENTRY } from '../../apps/mcp-server/test/upstream-helpers.ts';
import { inspectorCli, node22 } from '../helpers/node22-tools.ts';
import { PASSWORD, startStack, type Stack } from '../helpers/stack.ts';
import { ClientHome, MCP_REMOTE_DIST, REPO, jsonLines, mcpRemoteProxy, runClient, type BrowserRun } from './harness.ts';

/**
 * The three real clients against a gateway server rather than the built-in /mcp: the stack file
 * adds `files` at /mcp/files, the real filesystem server from npm on stdio over a temp folder. One
 * stack serves all three; each client discovers that path's metadata, registers, signs in in
 * Chromium, is shown the files server's scope sentences, gets a token for /mcp/files, lists the
 * tools its role allows and reads a file.
 */

const SDK_SCRIPT = resolve(import.meta.dirname, 'sdk-v2-client.ts');
const TIMEOUT = 45_000;

const FILES_READ = 'Read the shared folder: list its folders and open its files';
const FILES_WRITE = 'Create and overwrite files in the shared folder';
/** The tools listed to a token with files:read only (a viewer's, or a developer's before step-up). */
const READ_TOOLS = ['list_directory', 'read_text_file'];

/** The shipped stack file plus a `files` server: what an operator adds to protect another MCP server. */
function writeStackFile(dir: string, shared: string): string {
  const stack = parse(readFileSync(join(REPO, 'stack.yaml'), 'utf8')) as { scopes: Record<string, unknown>; servers: unknown[] };
  stack.scopes['files:read'] = { description: FILES_READ, roles: ['admin', 'developer', 'viewer'] };
  stack.scopes['files:write'] = { description: FILES_WRITE, roles: ['admin', 'developer'] };
  stack.servers.push({
    name: 'files',
    path: '/mcp/files',
    upstream: { command: process.execPath, args: [FILESYSTEM_ENTRY, shared] },
    tools: {
      read_text_file: { roles: ['admin', 'developer', 'viewer'], scopes: ['files:read'] },
      list_directory: { roles: ['admin', 'developer', 'viewer'], scopes: ['files:read'] },
      write_file: { roles: ['admin', 'developer'], scopes: ['files:write'] },
    },
    default: 'deny',
  });
  const file = join(dir, 'stack.yaml');
  writeFileSync(file, stringify(stack));
  return file;
}

describe('the SDK v2 client, mcp-remote and the Inspector against a gateway server (/mcp/files)', () => {
  let stack: Stack;
  let dir: string;
  let shared: string;
  let files: string;
  let origin: string;
  const hello = () => join(shared, 'hello.txt');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-clients-'));
    shared = join(dir, 'shared');
    mkdirSync(shared);
    writeFileSync(hello(), 'hello from the shared folder');
    const stackFile = writeStackFile(dir, shared);
    stack = await startStack({ authEnv: { STACK_FILE: stackFile }, mcpEnv: { STACK_FILE: stackFile } });
    origin = new URL(stack.mcp.url).origin;
    files = `${origin}/mcp/files`;
  });
  afterAll(async () => {
    await stack?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The consent screen named the files server and, for each scope granted, the stack file's sentence. */
  function expectFilesConsent(browser: BrowserRun | undefined, sentences: [string, string][]): void {
    expect(browser?.error).toBeUndefined();
    expect(browser?.consentService).toBe(files);
    expect(browser?.consentScopes).toEqual(sentences.map(([sentence, scope]) => `${sentence} ${scope}`));
  }

  it('[GW-CLIENTS-GATEWAY] [GW-PER-SERVER-RESOURCE] [MCP-RS-STEP-UP] SDK v2 client (developer): the path\'s metadata, consent for files:read, a token for /mcp/files that /mcp refuses, tools and a read; after a refresh, write_file steps up to files:write through the browser', async () => {
    const email = await stack.user('developer');
    const home = new ClientHome();
    try {
      const calls = [
        { name: 'read_text_file', arguments: { path: hello() } },
        { name: 'write_file', arguments: { path: join(shared, 'from-sdk.txt'), content: 'written by the SDK client' } },
      ];
      const r = await runClient(process.execPath, ['--import', 'tsx', SDK_SCRIPT, files], {
        env: {
          ...home.browserEnv({ email, password: PASSWORD, screenshots: 'gateway-sdk-v2' }),
          SDK_V2_CALLS: JSON.stringify(calls), SDK_V2_EMIT_TOKEN: '1', SDK_V2_FIRST_SCOPE: 'files:read',
        },
        timeoutMs: TIMEOUT - 5_000,
      });
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      const find = (name: string) => jsonLines(r.stdout).filter((e) => e.event === name);

      expect(find('discovered')[0]).toMatchObject({ resource_metadata_url: `${origin}/.well-known/oauth-protected-resource/mcp/files`, authorization_server: stack.auth.url });
      expect(find('registered')[0]).toMatchObject({ issuer: stack.auth.url });
      const [first, stepUp] = await home.browserRuns(2);
      expect(new URL(first!.url).searchParams.get('resource')).toBe(files);
      expectFilesConsent(first, [[FILES_READ, 'files:read']]);

      const [issued, refreshed, widened] = find('tokens');
      expect(issued).toMatchObject({ scope: 'files:read', has_refresh_token: true });
      const token = issued!.access_token as string;
      expect(decodeJwt(token)).toMatchObject({ aud: files, scope: 'files:read' });

      // Only what the token allows is listed: write_file needs files:write, which it does not carry yet.
      expect((find('tools')[0]!.names as string[]).sort()).toEqual(READ_TOOLS);
      expect(find('call')[0]).toMatchObject({ isError: false, text: 'hello from the shared folder' });
      expect(refreshed).toMatchObject({ scope: 'files:read', has_refresh_token: true });
      expect(decodeJwt(refreshed!.access_token as string)).toMatchObject({ aud: files });

      // write_file needs files:write: the 403 insufficient_scope sent the client back to the browser,
      // where the consent screen asked for both scopes, and the call went through on the new token.
      expect(find('step_up')).toEqual([{ event: 'step_up', name: 'write_file' }]);
      expect(new URL(stepUp!.url).searchParams.get('scope')?.split(' ').sort()).toEqual(['files:read', 'files:write']);
      expectFilesConsent(stepUp, [[FILES_READ, 'files:read'], [FILES_WRITE, 'files:write']]);
      expect(widened).toMatchObject({ scope: 'files:read files:write' });
      expect(decodeJwt(widened!.access_token as string)).toMatchObject({ aud: files, scope: 'files:read files:write' });
      expect(find('call_after_refresh')[0]).toMatchObject({ name: 'write_file', isError: false });
      expect(readFileSync(join(shared, 'from-sdk.txt'), 'utf8')).toBe('written by the SDK client');

      // The token is for /mcp/files only: the built-in server at /mcp refuses it.
      const list = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
      const post = (url: string) => fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
        body: list,
      });
      const atBuiltin = await post(stack.mcp.url);
      expect(atBuiltin.status).toBe(401);
      expect(atBuiltin.headers.get('www-authenticate')).toContain('error="invalid_token"');
      expect(atBuiltin.headers.get('www-authenticate')).toContain(`resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`);
    } finally {
      home.remove();
    }
  }, TIMEOUT);

  it('[GW-CLIENTS-GATEWAY] mcp-remote (viewer): sign-in and consent for files:read only, tools/list; through its stdio proxy a read succeeds and write_file is denied by role', async () => {
    const email = await stack.user('viewer');
    const home = new ClientHome();
    const configDir = join(home.dir, 'mcp-auth');
    try {
      const port = await freePort();
      const first = await runClient(process.execPath, [join(MCP_REMOTE_DIST, 'client.js'), files, String(port)], {
        env: { MCP_REMOTE_CONFIG_DIR: configDir, ...home.browserEnv({ email, password: PASSWORD, screenshots: 'gateway-mcp-remote' }) },
        timeoutMs: 20_000,
      });
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toContain(`Discovered authorization server: ${stack.auth.url}`);
      const authorizeUrl = new URL(/Please authorize this client by visiting:\n(\S+)/.exec(first.stderr)![1]!);
      expect(authorizeUrl.searchParams.get('resource')).toBe(files);
      // It asks for the scopes of the files server's 401 challenge; the viewer's role caps the grant.
      expect(authorizeUrl.searchParams.get('scope')).toBe('files:read files:write');
      const tools = /Tools: (\{[\s\S]*?\n\})\n/.exec(first.stderr)?.[1];
      expect((JSON.parse(tools ?? '{"tools":[]}') as { tools: { name: string }[] }).tools.map((t) => t.name).sort()).toEqual(READ_TOOLS);
      const [browser] = await home.browserRuns(1);
      // The viewer's role caps the grant at files:read, so that is the one sentence shown.
      expectFilesConsent(browser, [[FILES_READ, 'files:read']]);

      const storeDir = join(configDir, 'mcp-remote-v1');
      const tokens = JSON.parse(readFileSync(join(storeDir, readdirSync(storeDir).find((f) => f.endsWith('_tokens.json'))!), 'utf8')) as { access_token: string };
      expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: files, scope: 'files:read' });

      const proxy = await mcpRemoteProxy(files, port, { MCP_REMOTE_CONFIG_DIR: configDir, ...home.noBrowserEnv() });
      try {
        const read = await proxy.answer(proxy.client.callTool({ name: 'read_text_file', arguments: { path: hello() } }));
        expect(read.isError, proxy.log()).toBeFalsy();
        expect((read.content as { text: string }[])[0]!.text).toBe('hello from the shared folder');
        const denied = await proxy.answer(proxy.client.callTool({ name: 'write_file', arguments: { path: join(shared, 'from-viewer.txt'), content: 'x' } }));
        expect(denied.isError).toBe(true);
        expect((denied.content as { text: string }[])[0]!.text).toMatch(/^ACCESS DENIED\nTool: write_file\nRequired role: admin or developer\nYour role: viewer/);
        expect(existsSync(join(shared, 'from-viewer.txt'))).toBe(false);
      } finally {
        await proxy.close();
      }
      expect(await home.browserRuns(2, 500)).toHaveLength(1);
    } finally {
      home.remove();
    }
  }, TIMEOUT);

  it('[GW-CLIENTS-GATEWAY] MCP Inspector CLI (viewer): the path\'s metadata, consent for files:read, tools/list, a read on the stored grant; write_file, which a viewer is not shown, is refused as not found', async () => {
    const email = await stack.user('viewer');
    const home = new ClientHome();
    try {
      const storage = join(home.dir, 'storage');
      const callbackUrl = `http://127.0.0.1:${await freePort()}/oauth/callback`;
      const env = { HOME: home.dir, MCP_STORAGE_DIR: storage, MCP_INSPECTOR_SECRET_STORE: 'file', MCP_AUTO_OPEN_ENABLED: 'true', MCP_OAUTH_CALLBACK_URL: callbackUrl };
      const run = (args: string[], extra: Record<string, string>) =>
        runClient(node22, [inspectorCli, '--cli', '--server-url', files, '--transport', 'http', '--format', 'json', ...args], { env: { ...env, ...extra }, timeoutMs: 25_000 });

      const list = await run(['--method', 'tools/list'], home.browserEnv({ email, password: PASSWORD, screenshots: 'gateway-inspector' }));
      expect(list.code, list.stderr).toBe(0);
      const names = (JSON.parse(list.stdout) as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name);
      expect(names.sort()).toEqual(READ_TOOLS);
      const [browser] = await home.browserRuns(1);
      const authorizeUrl = new URL(browser!.url);
      expect(authorizeUrl.searchParams.get('resource')).toBe(files);
      expect(authorizeUrl.searchParams.get('scope')).toBe('files:read files:write');
      expectFilesConsent(browser, [[FILES_READ, 'files:read']]);

      const state = JSON.parse(readFileSync(join(storage, 'oauth.json'), 'utf8')) as {
        servers: Record<string, { discoveryState: { authorizationServerUrl: string; resourceMetadata: { resource: string } } }>;
      };
      expect(state.servers[files]?.discoveryState).toMatchObject({ authorizationServerUrl: stack.auth.url, resourceMetadata: { resource: files } });
      const secrets = (JSON.parse(readFileSync(join(storage, 'secrets.json'), 'utf8')) as { secrets: Record<string, string> }).secrets;
      const tokens = JSON.parse(secrets[Object.keys(secrets).find((k) => k.endsWith(`:tokens:${stack.auth.url}`))!]!) as { access_token: string };
      expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: files, scope: 'files:read' });

      const noBrowser = home.noBrowserEnv();
      const read = await run(['--method', 'tools/call', '--tool-name', 'read_text_file', '--tool-arg', `path=${hello()}`], noBrowser);
      expect(read.code, read.stderr).toBe(0);
      expect(JSON.parse(read.stdout).result).toMatchObject({ content: [{ type: 'text', text: 'hello from the shared folder' }] });
      const denied = await run(['--method', 'tools/call', '--tool-name', 'write_file', '--tool-arg', `path=${join(shared, 'from-inspector.txt')}`, '--tool-arg', 'content=x'], noBrowser);
      // The gateway lists no write_file to a viewer, so the Inspector refuses the call itself, from that list.
      expect(denied.code).not.toBe(0);
      expect(denied.stdout).toBe('');
      expect(denied.stderr).toContain('{"error":{"code":"tool_not_found","message":"Tool \'write_file\' not found on server."}}');
      expect(existsSync(join(shared, 'from-inspector.txt'))).toBe(false);
      expect(await home.browserRuns(2, 500)).toHaveLength(1);
    } finally {
      home.remove();
    }
  }, TIMEOUT);
});
