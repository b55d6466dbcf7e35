import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { findUserByEmail } from '../src/services/users.ts';
import { capturedLog, startAuthServer, type TestAuthServer } from './helpers.ts';
import { admin as cli } from './cli-helpers.ts';
import { Browser, authorizeUrl, decide, pkce, reachConsent, seedClient, seedUser, startAuthorization, submitLogin, validParams } from './authorize-flow.ts';

const ORIGIN = 'http://127.0.0.1:4999';
const FILES = `${ORIGIN}/mcp/files`;

/**
 * roles [admin, developer, viewer, auditor]; audit:read is auditor's alone, and the audit log tool
 * needs it. `withAuditor: false` is the same file after the role was taken out.
 */
const stackFile = (withAuditor = true) => `
roles: [admin, developer, viewer${withAuditor ? ', auditor' : ''}]
scopes:
  "files:read":  { description: "Read the files in the shared folder", roles: [admin, developer, viewer] }
  "files:write": { description: "Create and change the files in the shared folder", roles: [admin, developer] }
  "audit:read":  { description: "Read the audit trail of the shared folder", roles: [${withAuditor ? 'auditor' : 'admin'}] }
servers:
  - name: files
    path: /mcp/files
    upstream: { command: node, args: ["files-server.js"] }
    tools:
      read_file:      { roles: [admin, developer, viewer], scopes: ["files:read"] }
      write_file:     { roles: [admin, developer], scopes: ["files:write"] }
      read_audit_log: { roles: [${withAuditor ? 'auditor' : 'admin'}], scopes: ["audit:read"] }
`;

async function token(s: TestAuthServer, params: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${s.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('custom roles declared in the stack file', () => {
  let dir: string;
  let file: string;
  let s: TestAuthServer;
  let log: ReturnType<typeof capturedLog>;
  let client: { id: string; redirectUris: string[] };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'auth-roles-'));
    file = join(dir, 'stack.yaml');
    writeFileSync(file, stackFile());
    log = capturedLog('warn');
    s = await startAuthServer({ STACK_FILE: file, MCP_PUBLIC_ORIGIN: ORIGIN }, { logger: log.logger });
    client = await seedClient(s, { scope: 'files:read files:write audit:read', grantTypes: ['authorization_code', 'refresh_token'] });
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Authorize → login → consent (allow) → token, for `email`; the token response. */
  async function signIn(email: string, scope: string) {
    const { verifier, challenge } = pkce();
    const b = new Browser(s.url);
    const { html } = await reachConsent(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!, { resource: FILES, scope, code_challenge: challenge })), email);
    const code = new URL((await decide(b, html, 'allow')).headers.get('location')!).searchParams.get('code')!;
    const res = await token(s, { grant_type: 'authorization_code', client_id: client.id, code, redirect_uri: client.redirectUris[0]!, code_verifier: verifier, resource: FILES });
    return { html, ...res };
  }

  it('[GW-CUSTOM-ROLES] the file starts the server; an auditor signs in and gets a token with exactly the scope only auditors may have, and its role', async () => {
    const auditor = await seedUser(s, 'auditor');
    // Asking for more than the role allows: only audit:read is offered and issued.
    const { html, status, body } = await signIn(auditor.email, 'files:read files:write audit:read');
    expect(html).toContain('Read the audit trail of the shared folder');
    expect(html).not.toContain('Read the files in the shared folder');
    expect(status).toBe(200);
    expect(body.scope).toBe('audit:read');
    expect(decodeJwt(String(body.access_token))).toMatchObject({ aud: FILES, scope: 'audit:read', role: 'auditor', sub: auditor.id });
    // And refreshing keeps it.
    const refreshed = await token(s, { grant_type: 'refresh_token', client_id: client.id, refresh_token: String(body.refresh_token), resource: FILES });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.scope).toBe('audit:read');
  });

  it('[GW-CUSTOM-ROLES] no role gets a scope the file does not give it: an admin asking only for the auditor\'s scope is refused', async () => {
    const admin = await seedUser(s, 'admin');
    const b = new Browser(s.url);
    const { html } = await startAuthorization(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!, { resource: FILES, scope: 'audit:read' })));
    const res = await submitLogin(b, html, admin.email);
    expect(res.status).toBe(303);
    const back = new URL(res.headers.get('location')!);
    expect(back.searchParams.get('error')).toBe('access_denied');
  });

  it('[GW-CUSTOM-ROLES] the admin CLI accepts a declared custom role and refuses an undeclared one, listing the declared ones', async () => {
    const env = { ...s.dbEnv, STACK_FILE: file, DATA_DIR: s.dataDir, AUDIT_LOG: join(s.dataDir, 'cli-audit.log') };
    const added = await cli(env, ['users', 'add', '--email', 'aud@example.org', '--role', 'auditor', '--password-stdin'], 'a-long-enough-password');
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect((await findUserByEmail(s.app.ctx.store, 'aud@example.org'))?.role).toBe('auditor');

    const refused = await cli(env, ['users', 'add', '--email', 'ghost@example.org', '--role', 'ghost', '--password-stdin'], 'a-long-enough-password');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error: --role must be one of the roles stack\.yaml declares: admin, developer, viewer, auditor\n/);
    expect(await findUserByEmail(s.app.ctx.store, 'ghost@example.org')).toBeUndefined();

    const changed = await cli(env, ['users', 'set-role', '--email', 'aud@example.org', '--role', 'viewer']);
    expect(changed.code).toBe(0);
    // auditor → viewer loses audit:read: a downgrade, so the user's grants are revoked with it.
    expect(changed.stdout).toMatch(/role auditor -> viewer; .* revoked \(the role lost scopes\)/);
    expect((await cli(env, ['users', 'set-role', '--email', 'aud@example.org', '--role', 'root'])).stderr).toMatch(/--role must be one of the roles stack\.yaml declares: admin, developer, viewer, auditor/);

    // An invalid stack file: every problem, one per line (the file is what the roles come from).
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, stackFile().replace('roles: [admin, developer, viewer, auditor]', 'roles: [admin, developer, viewer]'));
    const invalid = await cli({ ...env, STACK_FILE: bad }, ['users', 'set-role', '--email', 'aud@example.org', '--role', 'auditor']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toBe(`error: invalid stack file ${bad}:\n  - scopes.audit:read.roles.0: role 'auditor' is not in roles\n  - servers.0.tools.read_audit_log.roles.0: role 'auditor' is not in roles\n`);
  });

  // Runs last: it takes auditor out of the file.
  it('[GW-CUSTOM-ROLES] a role taken out of the file: one warning at reload, and its users get no new tokens (access_denied, invalid_grant), audited with the role', async () => {
    const auditor = await seedUser(s, 'auditor');
    const { body } = await signIn(auditor.email, 'audit:read');
    expect(body.scope).toBe('audit:read');

    const before = log.lines().length;
    writeFileSync(file, stackFile(false));
    expect(s.app.ctx.stack.reload()).toBe(true);
    const warned = log.lines().slice(before).map((l) => String(l.msg));
    expect(warned).toEqual([expect.stringMatching(/^stack file no longer declares role\(s\) auditor: users who hold them get no new tokens until given a declared role/)]);

    const refreshed = await token(s, { grant_type: 'refresh_token', client_id: client.id, refresh_token: String(body.refresh_token), resource: FILES });
    expect(refreshed).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: "the user's role is not one this server grants tokens for" } });
    expect(s.auditEvents().filter((e) => e.event === 'token.role_not_declared')).toEqual([
      expect.objectContaining({ user: auditor.id, role: 'auditor', decision: 'deny' }),
    ]);

    const b = new Browser(s.url);
    const { html } = await startAuthorization(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!, { resource: FILES, scope: 'files:read' })));
    const res = await submitLogin(b, html, auditor.email);
    expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('access_denied');
    expect(s.auditEvents().filter((e) => e.event === 'authorize.error' && e.user === auditor.id)).toEqual([
      expect.objectContaining({ role: 'auditor', decision: 'deny', reason: "your account's role is not one this server grants access for; ask an administrator" }),
    ]);
  });
});
