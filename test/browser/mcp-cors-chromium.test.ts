import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DPOP_SIGNING_ALGS } from '@stack/oauth';
import type { Browser, Page } from 'playwright-core';
import { startIssuer, startMcpServer, type TestIssuer, type TestMcpServer } from '../../apps/mcp-server/test/helpers.ts';
import { launchChromium, startCallbackServer, type CallbackServer } from '../helpers/chromium.ts';

/**
 * A browser-based MCP client as Chromium runs it: a page served from another origin calls the MCP
 * endpoint with fetch(). From an allowed origin it reads the tools/list answer and, without a token,
 * the challenge; from any other origin the browser gets nothing.
 */

interface PageResult {
  status?: number;
  wwwAuthenticate?: string | null;
  body?: unknown;
  error?: string;
}

/** What a script on `page` sees of a tools/list POST to `url`. */
function callFromPage(page: Page, url: string, token?: string): Promise<PageResult> {
  return page.evaluate(async ({ url, token }) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }) });
      return { status: res.status, wwwAuthenticate: res.headers.get('www-authenticate'), body: await res.json() };
    } catch (err) {
      return { error: String(err) };
    }
  }, { url, token });
}

describe('a browser-based MCP client (Chromium)', () => {
  let browser: Browser;
  let issuer: TestIssuer;
  // Blank pages on 127.0.0.1, each at a port of its own: their origins differ from the MCP server's by the port.
  let allowed: CallbackServer;
  let other: CallbackServer;
  let s: TestMcpServer;

  beforeAll(async () => {
    [browser, issuer, allowed, other] = await Promise.all([launchChromium(), startIssuer(), startCallbackServer(), startCallbackServer()]);
    s = await startMcpServer({ AUTH_ISSUER: issuer.url, MCP_ALLOWED_ORIGINS: allowed.url });
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
    await Promise.all([issuer?.close(), allowed?.close(), other?.close()]);
  });

  async function openPage(origin: string): Promise<{ page: Page; close: () => Promise<void> }> {
    const context = await browser.newContext();
    context.setDefaultTimeout(5_000);
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    return { page, close: () => context.close() };
  }

  it('[GW-CORS-PREFLIGHT] [GW-CORS-CHALLENGE-READABLE] a page on an allowed origin reads tools/list with a token and the challenge without one', async () => {
    const { page, close } = await openPage(allowed.url);
    try {
      const token = await issuer.sign({ aud: s.url, role: 'viewer', scope: 'db:read' });
      const listed = await callFromPage(page, s.url, token);
      expect(listed.error).toBeUndefined();
      expect(listed.status).toBe(200);
      expect((listed.body as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name)).toContain('list_tables');

      const refused = await callFromPage(page, s.url);
      expect(refused.status).toBe(401);
      const params = `resource_metadata="${s.base}/.well-known/oauth-protected-resource/mcp", scope="db:read db:write db:admin"`;
      expect(refused.wwwAuthenticate).toBe(`Bearer ${params}, DPoP algs="${DPOP_SIGNING_ALGS.join(' ')}", ${params}`);

      // The challenge leads to the metadata, which the page reads too.
      const prm = await page.evaluate(async (u) => (await fetch(u, { headers: { 'mcp-protocol-version': '2025-11-25' } })).json(), `${s.base}/.well-known/oauth-protected-resource/mcp`);
      expect((prm as { resource: string }).resource).toBe(s.url);
    } finally {
      await close();
    }
  });

  it('[GW-CORS-DISALLOWED-ORIGIN] a page on another origin gets nothing: its preflight is refused and no call is made', async () => {
    const { page, close } = await openPage(other.url);
    try {
      const before = s.audit().length;
      const token = await issuer.sign({ aud: s.url, role: 'viewer', scope: 'db:read' });
      const result = await callFromPage(page, s.url, token);
      expect(result.status).toBeUndefined();
      expect(result.error).toMatch(/TypeError/);
      // The refused preflight stopped the browser before the POST: nothing reached the gate or the audit.
      expect(s.audit().length).toBe(before);
    } finally {
      await close();
    }
  });
});
