import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { freePort, startAuthServer, type TestAuthServer } from '../apps/auth-server/test/helpers.ts';
import { createUser } from '../apps/auth-server/src/services/users.ts';
import { FormBrowser } from './helpers/form-browser.ts';
import { conformanceCli, node22 } from './helpers/node22-tools.ts';

const RESOURCE = 'http://127.0.0.1:4999/mcp';
const PASSWORD = 'a long enough password';

describe('@modelcontextprotocol/conformance authorization (on Node 22)', () => {
  let s: TestAuthServer;
  beforeAll(async () => {
    s = await startAuthServer({ MCP_RESOURCES: RESOURCE });
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
