import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestIdp, type TestIdp } from '../../../test/helpers/oidc-idp.ts';
import { federatedStack, idpSignIn, startFederated } from './federation-flow.ts';
import { freePorts, startAuthServer, type TestAuthServer } from './helpers.ts';
import { totpAt } from './totp-code.ts';
import { Browser, hidden, seedClient } from './authorize-flow.ts';

// The stack file's mfa section with a real upstream OpenID provider: its ID token's amr (RFC 8176)
// stands in for our second factor only when it holds a value mfa.trust_federated_amr lists.

const SLUG = 'corporate-sso';
const secretOf = (html: string) => /<code class="secret">([^<]+)<\/code>/.exec(html)![1]!.replace(/\s/g, '');

describe('second factor at a federated sign-in', () => {
  let idp: TestIdp;
  let dir: string;
  /** trust_federated_amr: [mfa] */
  let trusting: TestAuthServer;
  /** trust_federated_amr: [] */
  let distrusting: TestAuthServer;
  const clients = new Map<TestAuthServer, { id: string; redirectUris: string[] }>();

  beforeAll(async () => {
    const ports = await freePorts(2);
    idp = await startTestIdp(ports.map((p) => `http://127.0.0.1:${p}/federation/${SLUG}/callback`));
    dir = mkdtempSync(join(tmpdir(), 'auth-federation-mfa-'));
    const start = async (port: number, trust: string) => {
      const file = join(dir, `stack-${port}.yaml`);
      writeFileSync(file, federatedStack(idp, `mfa:\n  required_roles: [admin]\n  trust_federated_amr: ${trust}\n`));
      const s = await startAuthServer({ AUTH_PORT: String(port), STACK_FILE: file }, {
        refs: { secret: (n) => (n === 'CORP_SSO_SECRET' ? idp.clientSecret : undefined), env: () => undefined },
      });
      clients.set(s, await seedClient(s));
      return s;
    };
    trusting = await start(ports[0]!, '[mfa]');
    distrusting = await start(ports[1]!, '[]');
  });
  afterAll(async () => {
    await trusting?.close();
    await distrusting?.close();
    await idp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** An admin (by the mcp-admins group rule) signs in at the provider with `amr`; returns the browser, our callback URL and its answer. */
  async function federatedAdmin(s: TestAuthServer, account: string, amr: string[] | undefined) {
    idp.accounts.set(account, { email: `${account}@corp.example`, email_verified: true, groups: ['mcp-admins'] });
    if (amr) idp.amr.set(account, amr);
    const b = new Browser(s.url);
    const callback = await idpSignIn(b, (await startFederated(b, s, clients.get(s)!)).authUrl, account);
    const res = await b.get(callback);
    expect(res.status, await res.clone().text()).toBe(303);
    const [user] = await s.sql<{ id: string; role: string }>('select id, role from users where email = ?', `${account}@corp.example`);
    expect(user?.role).toBe('admin');
    return { b, callback, next: b.resolve(res.headers.get('location')!, callback), user: user! };
  }
  const sessions = (s: TestAuthServer, userId: string) => s.sql('select id_hash from sessions where user_id = ?', userId);
  const events = (s: TestAuthServer, userId: string, event: string) => s.auditEvents().filter((e) => e.user === userId && e.event === event);

  it('[MFA-FEDERATED-AMR] [FED-AUDIT] an ID token with amr ["pwd","mfa"] and mfa trusted: signed in with no second step, audited with mfa', async () => {
    const { b, next, user } = await federatedAdmin(trusting, 'ann', ['pwd', 'mfa']);
    expect(next).toMatch(new RegExp(`^${trusting.url}/consent\\?request=`));
    expect(b.cookies.get('sid') ?? '').not.toBe('');
    expect(await sessions(trusting, user.id)).toHaveLength(1);
    expect(events(trusting, user.id, 'login.second_factor_needed')).toEqual([]);
    expect(events(trusting, user.id, 'login.succeeded').at(-1)).toMatchObject({ method: `federation:${SLUG}`, mfa: 'federated_amr', decision: 'allow' });
    expect((await b.get(next)).status).toBe(200);
  });

  it('[MFA-FEDERATED-AMR] [FED-JIT] an ID token without mfa in amr goes to enrollment; no session until the factor is set up', async () => {
    const { b, next, user } = await federatedAdmin(trusting, 'ben', ['pwd']);
    expect(next).toBe(`${trusting.url}/login/enroll`);
    expect(b.cookies.get('sid') ?? '').toBe('');
    expect(await sessions(trusting, user.id)).toEqual([]);
    expect(events(trusting, user.id, 'login.second_factor_needed').at(-1)).toMatchObject({ method: `federation:${SLUG}`, step: 'enroll' });
    expect(events(trusting, user.id, 'login.succeeded')).toEqual([]);

    const html = await (await b.get(next)).text();
    expect(html).toContain('Your role requires a second step');
    const codesPage = await (await b.post('/login/enroll', { _csrf: hidden(html, '_csrf'), code: totpAt(secretOf(html), Date.now()) })).text();
    expect(await sessions(trusting, user.id)).toEqual([]);
    const done = await b.post('/login/continue', { _csrf: hidden(codesPage, '_csrf') });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toMatch(/^(\.\.\/)?consent\?/);
    expect(await sessions(trusting, user.id)).toHaveLength(1);
    expect(events(trusting, user.id, 'login.succeeded').at(-1)).toMatchObject({ method: `federation:${SLUG}`, mfa: 'totp' });
  });

  it('[MFA-FEDERATED-AMR] an ID token with no amr at all goes to enrollment', async () => {
    const { b, next, user } = await federatedAdmin(trusting, 'cat', undefined);
    expect(next).toBe(`${trusting.url}/login/enroll`);
    expect(b.cookies.get('sid') ?? '').toBe('');
    expect(await sessions(trusting, user.id)).toEqual([]);
  });

  it('[MFA-FEDERATED-AMR] with trust_federated_amr: [] even amr ["mfa"] goes to the second step', async () => {
    const { b, next, user } = await federatedAdmin(distrusting, 'dan', ['mfa']);
    expect(next).toBe(`${distrusting.url}/login/enroll`);
    expect(b.cookies.get('sid') ?? '').toBe('');
    expect(await sessions(distrusting, user.id)).toEqual([]);
    expect(events(distrusting, user.id, 'login.second_factor_needed').at(-1)).toMatchObject({ step: 'enroll' });
    expect(events(distrusting, user.id, 'login.succeeded')).toEqual([]);
  });
});
