import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserRecord } from '../src/services/users.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { seedUser } from './authorize-flow.ts';
import { adminPage, signedInBrowser, stackWithExtraServers } from './admin-fixtures.ts';

/** The section of one server on the page. */
function sectionOf(html: string, name: string): string {
  const start = html.indexOf(`<h2 id="server-${name}">`);
  if (start < 0) throw new Error(`${name} not shown`);
  return html.slice(start, html.indexOf('</section>', start));
}

describe('admin console: protected servers', () => {
  let stack: { file: string; remove: () => void };
  let s: TestAuthServer;
  let admin: UserRecord;

  beforeAll(async () => {
    stack = stackWithExtraServers();
    s = await startAuthServer({ STACK_FILE: stack.file, LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' });
    admin = await seedUser(s, 'admin');
  });
  afterAll(async () => {
    await s?.close();
    stack?.remove();
  });

  it('[ADMIN-SERVERS-1] shows each server of the stack file: path, resource URL, upstream kind, authentication, DPoP mode and its tool rules with the default', async () => {
    const b = await signedInBrowser(s, admin.email);
    const { status, html } = await adminPage(b, '/admin/servers');
    expect(status).toBe(200);
    expect(html).toContain('<a href="../admin/servers" aria-current="page">Servers</a>');
    const db = sectionOf(html, 'database');
    expect(db).toContain('<dt>Path</dt><dd>/mcp</dd>');
    expect(db).toContain('<dt>Resource</dt><dd>http://127.0.0.1:4999/mcp</dd>');
    expect(db).toContain('<dt>Upstream</dt><dd>builtin: database</dd>');
    expect(db).toContain('<dt>Authentication</dt><dd>as MCP_AUTH_MODE of the MCP server</dd>');
    expect(db).toContain('<dt>DPoP</dt><dd>allowed</dd>');
    // The file's default_tool_rate_limit_per_minute applies to rules without their own.
    expect(db).toContain('<tr><td>list_tables</td><td>admin, developer, viewer</td><td>db:read</td><td>60 / minute</td></tr>');
    expect(db).toContain('<tr><td>drop_table</td><td>admin</td><td>db:admin</td><td>5 / minute</td></tr>');
    expect(db).toContain('<tr><td>any other tool</td><td>denied</td><td>-</td><td>-</td></tr>');
    expect(db).not.toContain('<h3>Resources</h3>');

    const remote = sectionOf(html, 'remote-files');
    expect(remote).toContain('<dt>Resource</dt><dd>http://127.0.0.1:4999/mcp/files</dd>');
    expect(remote).toContain('<dt>Upstream</dt><dd>url: files.example.com</dd>');
    expect(remote).toContain('<dt>Authentication</dt><dd>oauth, apikey</dd>');
    expect(remote).toContain('<dt>DPoP</dt><dd>required</dd>');
    expect(remote).toContain('<tr><td>read_file</td><td>viewer, developer</td><td>db:read</td><td>12 / minute</td></tr>');
    expect(remote).toContain('<tr><td>any other tool</td><td>admin</td><td>db:admin</td><td>none</td></tr>');
    expect(remote).toContain('<h3>Resources</h3>');
    expect(remote).toContain('<tr><td>file:///shared/readme</td><td>viewer</td><td>db:read</td><td>none</td></tr>');
    expect(remote).toContain('<tr><td>any other prompt</td><td>developer</td><td>db:write</td><td>none</td></tr>');

    const local = sectionOf(html, 'local-tool');
    expect(local).toContain('<dt>Upstream</dt><dd>command: local-mcp, one process per caller identity</dd>');
    expect(local).toContain('<dt>Authentication</dt><dd>apikey</dd>');
  });

  it('[ADMIN-SERVERS-2] never shows a header value, a secret reference, a URL\'s path or query, a command\'s path, arguments or environment', async () => {
    const html = (await adminPage(await signedInBrowser(s, admin.email), '/admin/servers')).html;
    for (const hidden of ['FILES_TOKEN', '${secret', 'secret:', 'literal-header-credential', 'Bearer', 'url-query-credential', '/v1/mcp', 'argument-credential', '--token', 'LOCAL_KEY', 'API_KEY', 'env-credential', '/opt/tools']) {
      expect(html, hidden).not.toContain(hidden);
    }
    // Which headers are sent is shown, without their values.
    expect(sectionOf(html, 'remote-files')).toContain('<dt>Sends headers</dt><dd>Authorization, X-Api-Key (values not shown)</dd>');
  });

  it('[ADMIN-SERVERS-3] is read-only and for admins: no form but sign-out, no POST route, a developer is refused', async () => {
    const b = await signedInBrowser(s, admin.email);
    const html = (await adminPage(b, '/admin/servers')).html;
    expect(html.match(/<form /g)).toHaveLength(1);
    expect((await b.post('/admin/servers', {})).status).toBe(404);
    const developer = await seedUser(s, 'developer');
    expect((await (await signedInBrowser(s, developer.email)).get('/admin/servers')).status).toBe(403);
  });
});
