import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { TestAuthServer } from './helpers.ts';
import { Browser, PASSWORD, hidden } from './authorize-flow.ts';

/** Test helpers for the admin console's pages: a signed-in browser and a page's CSRF token. */

/** Signs `email` in through the standalone login form, to come back to `next`; returns the POST's response. */
export async function signInAt(b: Browser, email: string, next = '/admin'): Promise<Response> {
  const html = await (await b.get(`/login?next=${encodeURIComponent(next)}`)).text();
  return b.post('/login', { _csrf: hidden(html, '_csrf'), next: hidden(html, 'next'), email, password: PASSWORD });
}

/** A browser signed in as `email`. */
export async function signedInBrowser(s: TestAuthServer, email: string): Promise<Browser> {
  const b = new Browser(s.url);
  expect((await signInAt(b, email)).status).toBe(303);
  return b;
}

/** GET `path` as `b` and return its HTML and the CSRF token of its forms. */
export async function adminPage(b: Browser, path: string): Promise<{ status: number; html: string; csrf: string }> {
  const res = await b.get(path);
  const html = await res.text();
  return { status: res.status, html, csrf: res.status === 200 ? hidden(html, '_csrf') : '' };
}

/** The entry of a list item on an admin page: from its `<strong>` name to the end of its list item. */
export function entryOf(html: string, name: string): string {
  const start = html.indexOf(`<strong>${name}</strong>`);
  if (start < 0) throw new Error(`${name} not listed`);
  return html.slice(start, html.indexOf('</li>', start));
}

/** The form refusals every admin form gives: none, a wrong and an altered CSRF token. */
export function badCsrfForms(token: string): Record<string, string>[] {
  return [{}, { _csrf: 'wrong' }, { _csrf: `${token.slice(0, -2)}xx` }];
}

// Two more servers than the shipped stack file's: a remote one whose URL path, query and headers
// carry credentials (a reference and a literal value), and a stdio one with arguments and env.
export const EXTRA_SERVERS = `
  - name: remote-files
    path: /mcp/files
    upstream:
      url: https://files.example.com/v1/mcp?key=url-query-credential
      headers:
        Authorization: "Bearer \${secret:FILES_TOKEN}"
        X-Api-Key: literal-header-credential
    auth: [oauth, apikey]
    dpop: required
    tools:
      read_file: { roles: [viewer, developer], scopes: ["db:read"], rate_limit_per_minute: 12 }
    default: { roles: [admin], scopes: ["db:admin"] }
    resources:
      "file:///shared/readme": { roles: [viewer], scopes: ["db:read"] }
    prompts:
      default: { roles: [developer], scopes: ["db:write"] }
  - name: local-tool
    path: /mcp/local
    upstream:
      command: /opt/tools/bin/local-mcp
      args: ["--token", "argument-credential"]
      env: { API_KEY: "\${secret:LOCAL_KEY}", PLAIN: env-credential }
    isolation: per-identity
    auth: [apikey]
`;

/** A stack file: the shipped one with EXTRA_SERVERS appended to its servers; removed by the returned function. */
export function stackWithExtraServers(): { file: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'auth-admin-servers-'));
  const file = join(dir, 'stack.yaml');
  const shipped = readFileSync(new URL('../../../stack.yaml', import.meta.url), 'utf8');
  writeFileSync(file, shipped.replace(/\nservers:\n/, `\nservers:\n${EXTRA_SERVERS.replace(/^\n/, '')}`));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
