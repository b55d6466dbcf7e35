import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inputRequired, type CallToolResult } from '@modelcontextprotocol/server';
import { fixtureTools, startMcpServer, type TestMcpServer } from '../apps/mcp-server/test/helpers.ts';
import { parsePolicy } from '../apps/mcp-server/src/policy.ts';
import type { ToolDefinition } from '../apps/mcp-server/src/tools/types.ts';
import { freePort, startAuthServer, type TestAuthServer } from '../apps/auth-server/test/helpers.ts';
import { createUser } from '../apps/auth-server/src/services/users.ts';
import { FormBrowser } from './helpers/form-browser.ts';
import { conformanceCli, node22 } from './helpers/node22-tools.ts';

const RESOURCE = 'http://127.0.0.1:4999/mcp';
const PASSWORD = 'a long enough password';

describe('@modelcontextprotocol/conformance authorization (on Node 22)', () => {
  let s: TestAuthServer;
  beforeAll(async () => {
    s = await startAuthServer({ MCP_PUBLIC_ORIGIN: new URL(RESOURCE).origin });
    await createUser(s.app.ctx, { email: 'conformance@example.com', password: PASSWORD, role: 'viewer' });
  });
  afterAll(async () => { await s?.close(); });

  it('[MCP-AS-METADATA] [MCP-CIMD-SUPPORT] passes both authorization scenarios with no warning', async () => {
    const callbackPort = await freePort();
    const reg = await fetch(`${s.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'MCP conformance suite',
        redirect_uris: [`http://127.0.0.1:${callbackPort}/callback`],
        token_endpoint_auth_method: 'none',
        application_type: 'native',
        grant_types: ['authorization_code', 'refresh_token'],
      }),
    });
    expect(reg.status).toBe(201);
    const { client_id } = await reg.json();

    const child = spawn(node22, [conformanceCli, 'authorization', '--url', s.url, '--client-id', client_id, '--resource', RESOURCE, '-p', String(callbackPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let browsing: Promise<URL> | undefined;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /(http:\/\/127\.0\.0\.1:\d+\/authorize\?\S+)/.exec(output)?.[1];
      // Only once the suite's callback server listens does the browser's redirect land there.
      if (url && !browsing && output.includes('Callback server started')) {
        browsing = new FormBrowser().approve(url, { email: 'conformance@example.com', password: PASSWORD, visitCallback: true });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    await browsing;

    const summary = output.slice(output.indexOf('=== SUMMARY ==='));
    expect(summary, output).toMatch(/authorization-server-metadata-endpoint: \d+ passed, 0 failed/);
    expect(summary, output).toMatch(/authorization-code-grant: \d+ passed, 0 failed/);
    expect(output).not.toMatch(/WARNING/i);
    expect(code).toBe(0);
  }, 120_000);
});

/**
 * Tools the server-stateless scenario calls by name to reach SDK behaviour no demo tool shows: a
 * tool that needs sampling from a client that did not declare it (-32021), one that elicits input,
 * and one that logs. They exist only in this test's server.
 */
function diagnosticTools(): ToolDefinition[] {
  // A 2026-07-28 tool may answer "input required" instead of a result; the factory passes it on.
  const asks = (result: ReturnType<typeof inputRequired>) => result as unknown as CallToolResult;
  const tool = (name: string, handler: ToolDefinition['handler']): ToolDefinition => ({ name, title: name, description: `conformance diagnostic ${name}`, inputSchema: {}, handler });
  return [
    tool('test_missing_capability', async () => asks(inputRequired({ inputRequests: { s: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }], maxTokens: 10 }) } }))),
    tool('test_streaming_elicitation', async () => asks(inputRequired({ inputRequests: { e: inputRequired.elicit({ message: 'ok?', requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } } } }) } }))),
    tool('test_logging_tool', async () => ({ content: [{ type: 'text', text: 'logged' }] })),
  ];
}

const SERVER_SCENARIOS = ['server-initialize', 'server-stateless', 'tools-list', 'ping', 'dns-rebinding-protection', 'http-header-validation', 'caching'];

describe('@modelcontextprotocol/conformance server scenarios (on Node 22)', () => {
  let s: TestMcpServer;
  let out: string;
  beforeAll(async () => {
    const tools = [...fixtureTools(), ...diagnosticTools()];
    // Authentication off (loopback, explicit consent): the caller is a viewer allowed every tool here.
    const policy = parsePolicy({ tools: Object.fromEntries(tools.map((t) => [t.name, { roles: ['viewer'], scopes: ['db:read'] }])) });
    s = await startMcpServer({ MCP_AUTH_MODE: 'none', MCP_ALLOW_INSECURE_NO_AUTH: 'true', MCP_NO_AUTH_ROLE: 'viewer', RATE_LIMIT_PER_MINUTE: '100000' }, { tools, policy });
    out = mkdtempSync(join(tmpdir(), 'conformance-'));
  });
  afterAll(async () => {
    await s?.close();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it.each(SERVER_SCENARIOS)('[MCP-2026-DISCOVER] [MCP-2026-META] [MCP-2026-HEADERS] [MCP-2026-404] [MCP-2026-UNSUPPORTED-VERSION] [MCP-2026-ERROR-ID] [MCP-2026-CACHE-PRIVATE] %s passes with no failure and no warning', async (scenario) => {
    const { stdout, stderr } = await promisify(execFile)(node22, [conformanceCli, 'server', '--url', s.url, '--scenario', scenario, '-o', out], { timeout: 60_000 })
      .catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }));
    const output = `${stdout}${stderr}`;
    expect(output, output).toMatch(/Passed: (\d+)\/\1, 0 failed, 0 warnings/);
  }, 90_000);
});
