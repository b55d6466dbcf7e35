import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestIdp, type TestIdp } from '../../../test/helpers/oidc-idp.ts';
import { federatedStack, idpSignIn, startFederated as startFederatedAt, withParam } from './federation-flow.ts';
import { freePorts, startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, authorizeUrl, decide, hidden, seedClient, seedUser, startAuthorization, submitLogin, validParams } from './authorize-flow.ts';

const SLUG = 'corporate-sso';
describe('sign-in with an upstream OpenID provider', () => {
  let idp: TestIdp;
  let s: TestAuthServer;
  let dir: string;
  let client: { id: string; redirectUris: string[] };
  let stackText: string;
  /** Every code the provider issued in these tests: none may appear in an audit line. */
  const codes: string[] = [];

  beforeAll(async () => {
    const [port, down] = await freePorts(2);
    idp = await startTestIdp([`http://127.0.0.1:${port}/federation/${SLUG}/callback`]);
    dir = mkdtempSync(join(tmpdir(), 'auth-federation-'));
    // A second provider at a port nobody listens on: "down".
    stackText = federatedStack(idp, `  - name: Down IdP
    issuer: http://127.0.0.1:${down}
    client_id: x
    role_rules: [{ claim: sub, equals: nobody, role: viewer }]
`);
    writeFileSync(join(dir, 'stack.yaml'), stackText);
    s = await startAuthServer({ AUTH_PORT: String(port), STACK_FILE: join(dir, 'stack.yaml') }, {
      refs: { secret: (n) => (n === 'CORP_SSO_SECRET' ? idp.clientSecret : undefined), env: () => undefined },
    });
    client = await seedClient(s);
  });
  afterAll(async () => {
    await s?.close();
    await idp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const startFederated = (b: Browser) => startFederatedAt(b, s, client);

  const events = (event: string) => s.auditEvents().filter((e) => e.event === event);

  it('[FED-JIT] [FED-ROLE-RULES] [FED-PKCE-STATE-NONCE] the first sign-in creates the account with the mapped role and continues to consent', async () => {
    idp.accounts.set('alice', { email: 'alice@corp.example', email_verified: true, groups: ['mcp-developers'] });
    const b = new Browser(s.url);
    const { authUrl, html } = await startFederated(b);
    expect(html).toContain('<form method="post" action="login">');
    const url = new URL(authUrl);
    expect(url.origin).toBe(idp.issuer);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(url.searchParams.get('state')).toMatch(/^[\w-]{20,}$/);
    expect(url.searchParams.get('nonce')).toMatch(/^[\w-]{20,}$/);
    expect(url.searchParams.get('redirect_uri')).toBe(`${s.url}/federation/${SLUG}/callback`);
    expect(url.searchParams.get('scope')).toBe('openid email profile groups');

    const callback = await idpSignIn(b, authUrl, 'alice');
    codes.push(new URL(callback).searchParams.get('code')!);
    expect(new URL(callback).searchParams.get('iss')).toBe(idp.issuer);
    const res = await b.get(callback);
    expect(res.status, await res.clone().text()).toBe(303);
    expect(res.headers.get('location')).toMatch(/^\.\.\/\.\.\/consent\?request=/);
    const consent = await b.get(b.resolve(res.headers.get('location')!, callback));
    expect(consent.status).toBe(200);
    const page = await consent.text();
    const allowed = await decide(b, page, 'allow');
    expect(allowed.status).toBe(303);
    expect(new URL(allowed.headers.get('location')!).searchParams.get('code')).toBeTruthy();

    const [user] = await s.sql<{ id: string; role: string; password_hash: string }>('select id, role, password_hash from users where email = ?', 'alice@corp.example');
    expect(user?.role).toBe('developer');
    expect(user?.password_hash).toBe('');
    expect(await s.sql('select provider, subject from federated_identities where user_id = ?', user!.id)).toEqual([{ provider: SLUG, subject: 'alice' }]);
    expect(events('federation.user_created').at(-1)).toMatchObject({ provider: SLUG, user: user!.id, role: 'developer' });
    expect(events('login.succeeded').at(-1)).toMatchObject({ user: user!.id, method: `federation:${SLUG}`, decision: 'allow' });
    expect(hidden(page, 'request')).toBeTruthy();
  });

  it('[FED-ROLE-EVERY-SIGNIN] a changed group changes the role at the next sign-in; a lowered role revokes the old sessions', async () => {
    idp.accounts.set('bob', { email: 'bob@corp.example', email_verified: true, groups: ['mcp-admins'] });
    const first = new Browser(s.url);
    const cb1 = await idpSignIn(first, (await startFederated(first)).authUrl, 'bob');
    expect((await first.get(cb1)).status).toBe(303);
    const [u1] = await s.sql<{ id: string; role: string }>('select id, role from users where email = ?', 'bob@corp.example');
    expect(u1?.role).toBe('admin');
    expect(await s.sql('select id_hash from sessions where user_id = ?', u1!.id)).toHaveLength(1);

    idp.accounts.set('bob', { email: 'bob@corp.example', email_verified: true, groups: ['mcp-developers'] });
    const second = new Browser(s.url);
    const cb2 = await idpSignIn(second, (await startFederated(second)).authUrl, 'bob');
    expect((await second.get(cb2)).status).toBe(303);
    const [u2] = await s.sql<{ id: string; role: string }>('select id, role from users where email = ?', 'bob@corp.example');
    expect(u2).toEqual({ id: u1!.id, role: 'developer' });
    // The admin session of the first browser ended; only the new one is left.
    expect(await s.sql('select id_hash from sessions where user_id = ?', u1!.id)).toHaveLength(1);
    expect(events('federation.role_changed').at(-1)).toMatchObject({ user: u1!.id, previous: 'admin', role: 'developer' });
  });

  it('[FED-LINK-VERIFIED] a verified email links to the existing local account; an unverified one is refused with a page and an audit line', async () => {
    const local = await seedUser(s, 'viewer', 'carol@example.com');
    idp.accounts.set('carol-unverified', { email: 'carol@example.com', email_verified: false, groups: ['mcp-developers'] });
    const b = new Browser(s.url);
    const cb = await idpSignIn(b, (await startFederated(b)).authUrl, 'carol-unverified');
    const refused = await b.get(cb);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('Your email address is not verified');
    expect(events('federation.refused').at(-1)).toMatchObject({ provider: SLUG, user: local.id, reason: 'unverified email matches a local account', decision: 'deny' });
    expect(await s.sql('select subject from federated_identities where user_id = ?', local.id)).toEqual([]);

    idp.accounts.set('carol', { email: 'Carol@example.com', email_verified: true, groups: ['mcp-developers'] });
    const b2 = new Browser(s.url);
    const ok = await b2.get(await idpSignIn(b2, (await startFederated(b2)).authUrl, 'carol'));
    expect(ok.status).toBe(303);
    expect(await s.sql('select subject from federated_identities where user_id = ?', local.id)).toEqual([{ subject: 'carol' }]);
    expect(events('federation.user_linked').at(-1)).toMatchObject({ user: local.id });
  });

  it('[FED-ROLE-RULES] no matching rule refuses the sign-in; a rule on email needs a verified email', async () => {
    idp.accounts.set('dave', { email: 'dave@elsewhere.example', email_verified: true, groups: ['sales'] });
    const b = new Browser(s.url);
    const refused = await b.get(await idpSignIn(b, (await startFederated(b)).authUrl, 'dave'));
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('You do not have access');
    expect(events('federation.refused').at(-1)).toMatchObject({ reason: 'no role rule matched' });
    expect(await s.sql('select id from users where email = ?', 'dave@elsewhere.example')).toEqual([]);
  });
  it('[FED-STATE] a callback with another state, or with no sign-in started in this browser, is refused with a page and an audit line', async () => {
    idp.accounts.set('erin', { email: 'erin@corp.example', email_verified: true, groups: ['mcp-developers'] });
    const b = new Browser(s.url);
    const cb = await idpSignIn(b, (await startFederated(b)).authUrl, 'erin');
    codes.push(new URL(cb).searchParams.get('code')!);
    const forged = await b.get(withParam(cb, 'state', 'attacker-state'));
    expect(forged.status).toBe(400);
    const text = await forged.text();
    expect(text).toContain('does not belong to the sign-in started in this browser');
    expect(text).toContain('Back to sign-in');
    expect(events('federation.refused').at(-1)).toMatchObject({ provider: SLUG, reason: 'state mismatch', decision: 'deny', client: client.id });

    // Another browser (no state cookie) with the same answer: nothing to continue.
    const other = new Browser(s.url);
    const stray = await other.get(cb);
    expect(stray.status).toBe(400);
    expect(await stray.text()).toContain('was not started in this browser');
    expect(events('federation.refused').at(-1)?.reason).toMatch(/^no sign-in in progress/);
    expect(await s.sql('select id from users where email = ?', 'erin@corp.example')).toEqual([]);
  });

  it('[FED-CODE-REPLAY] a replayed callback, and a replayed code under a fresh state, are refused', async () => {
    idp.accounts.set('frank', { email: 'frank@corp.example', email_verified: true, groups: ['mcp-developers'] });
    const b = new Browser(s.url);
    const cb = await idpSignIn(b, (await startFederated(b)).authUrl, 'frank');
    codes.push(new URL(cb).searchParams.get('code')!);
    expect((await b.get(cb)).status).toBe(303);
    // The same answer again: the state cookie was used up.
    const again = await b.get(cb);
    expect(again.status).toBe(400);
    expect(events('federation.refused').at(-1)?.reason).toMatch(/^no sign-in in progress/);
    // A new sign-in (a browser without a session), answered with the old code: the provider refuses to redeem it twice.
    const b2 = new Browser(s.url);
    const fresh = await idpSignIn(b2, (await startFederated(b2)).authUrl, 'frank');
    codes.push(new URL(fresh).searchParams.get('code')!);
    const replay = await b2.get(withParam(fresh, 'code', new URL(cb).searchParams.get('code')!));
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('Sign-in with Corporate SSO failed');
    expect(events('federation.refused').at(-1)).toMatchObject({ reason: 'token endpoint refused: invalid_grant' });
  });

  it('[OIDC-CORE-IDT-NONCE] an ID token whose nonce is not the one this browser sent is refused', async () => {
    idp.accounts.set('gina', { email: 'gina@corp.example', email_verified: true, groups: ['mcp-developers'] });
    const b = new Browser(s.url);
    const { authUrl } = await startFederated(b);
    // The provider is asked for another nonce than the one kept in the state cookie.
    const cb = await idpSignIn(b, withParam(authUrl, 'nonce', 'a-nonce-of-someone-else-0123456789'), 'gina');
    codes.push(new URL(cb).searchParams.get('code')!);
    const res = await b.get(cb);
    expect(res.status).toBe(400);
    expect(events('federation.refused').at(-1)?.reason).toMatch(/^ID token nonce mismatch/);
    expect(await s.sql('select id from users where email = ?', 'gina@corp.example')).toEqual([]);
  });

  it('[FED-ISS] an authorization response naming another issuer (RFC 9207 mix-up) is refused', async () => {
    idp.accounts.set('hank', { email: 'hank@corp.example', email_verified: true, groups: ['mcp-developers'] });
    const b = new Browser(s.url);
    const cb = await idpSignIn(b, (await startFederated(b)).authUrl, 'hank');
    codes.push(new URL(cb).searchParams.get('code')!);
    const res = await b.get(withParam(cb, 'iss', 'https://evil.example'));
    expect(res.status).toBe(400);
    expect(events('federation.refused').at(-1)?.reason).toMatch(/^response iss mismatch/);
  });

  it('[FED-DISABLED] a disabled account is refused', async () => {
    idp.accounts.set('ivy', { email: 'ivy@corp.example', email_verified: true, groups: ['mcp-developers'] });
    const b = new Browser(s.url);
    expect((await b.get(await idpSignIn(b, (await startFederated(b)).authUrl, 'ivy'))).status).toBe(303);
    const [ivy] = await s.sql<{ id: string }>('select id from users where email = ?', 'ivy@corp.example');
    await s.app.ctx.store.users.disable(ivy!.id, Date.now(), Date.now());
    const b2 = new Browser(s.url);
    const res = await b2.get(await idpSignIn(b2, (await startFederated(b2)).authUrl, 'ivy'));
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('Your account is disabled');
    expect(events('federation.refused').at(-1)).toMatchObject({ user: ivy!.id, reason: 'user disabled' });
  });

  it('[FED-DISCOVERY] a provider that does not answer gives a clear page, not a 500', async () => {
    const b = new Browser(s.url);
    const { loginUrl, html } = await startAuthorization(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)));
    const href = /<a class="button wide" href="([^"]+)">Continue with Down IdP<\/a>/.exec(html)![1]!;
    const res = await b.get(b.resolve(href.replace(/&amp;/g, '&'), loginUrl));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('30');
    const text = await res.text();
    expect(text).toContain('Down IdP is not answering');
    expect(text).toContain('href="../../login?request=');
    expect(events('federation.refused').at(-1)).toMatchObject({ provider: 'down-idp', decision: 'deny' });
    expect(events('federation.refused').at(-1)?.reason).toMatch(/^provider unavailable: discovery failed/);
    // The failure is remembered: the next attempt gets the same page without calling the provider again.
    const again = await b.get(b.resolve(href.replace(/&amp;/g, '&'), loginUrl));
    expect(again.status).toBe(503);
  });

  it('[FED-LOGIN-BUTTONS] with password_login: false the login page shows only the buttons and POST /login refuses passwords', async () => {
    const local = await seedUser(s, 'developer');
    writeFileSync(join(dir, 'stack.yaml'), `${stackText}password_login: false\n`);
    expect(s.app.ctx.stack.reload()).toBe(true);
    try {
      const b = new Browser(s.url);
      const { html } = await startAuthorization(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)));
      expect(html).not.toContain('type="password"');
      expect(html).toContain('Continue with Corporate SSO');
      expect(html).toContain('Continue with Down IdP');
      expect(html).toMatch(/href="federation\/corporate-sso\/start\?request=[\w-]+"/);
      expect(html).not.toContain('name="_csrf"');
    } finally {
      writeFileSync(join(dir, 'stack.yaml'), stackText);
      expect(s.app.ctx.stack.reload()).toBe(true);
    }
    // The form is there again; switch password login off between showing it and posting it.
    const b = new Browser(s.url);
    const { html } = await startAuthorization(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)));
    expect(html).toContain('type="password"');
    writeFileSync(join(dir, 'stack.yaml'), `${stackText}password_login: false\n`);
    expect(s.app.ctx.stack.reload()).toBe(true);
    try {
      const res = await submitLogin(b, html, local.email);
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('Sign-in with a password is switched off here');
      expect(events('login.failed').at(-1)).toMatchObject({ reason: 'password login is switched off', decision: 'deny' });
      expect(await s.sql('select id_hash from sessions where user_id = ?', local.id)).toEqual([]);
    } finally {
      writeFileSync(join(dir, 'stack.yaml'), stackText);
      expect(s.app.ctx.stack.reload()).toBe(true);
    }
  });

  it('[FED-LOGIN-BUTTONS] a standalone sign-in (/login?next=/account) continues with the provider and ends at the account page', async () => {
    idp.accounts.set('jo', { email: 'jo@corp.example', email_verified: true, groups: ['mcp-developers'] });
    const b = new Browser(s.url);
    const login = await b.get('/login?next=/account');
    expect(login.status).toBe(200);
    const href = /<a class="button wide" href="([^"]+)">Continue with Corporate SSO<\/a>/.exec(await login.text())![1]!.replace(/&amp;/g, '&');
    expect(href).toBe(`federation/${SLUG}/start?next=%2Faccount`);
    const start = await b.get(b.resolve(href, '/login'));
    expect(start.status).toBe(303);
    const res = await b.get(await idpSignIn(b, start.headers.get('location')!, 'jo'));
    expect(res.status, await res.clone().text()).toBe(303);
    expect(res.headers.get('location')).toBe('../../account');
    const [jo] = await s.sql<{ id: string }>('select id from users where email = ?', 'jo@corp.example');
    expect(events('login.succeeded').at(-1)).toMatchObject({ user: jo!.id, method: `federation:${SLUG}` });
  });

  it('[FED-JIT] a deleted account takes its provider link with it: the next sign-in makes a new account', async () => {
    idp.accounts.set('kim', { email: 'kim@corp.example', email_verified: true, groups: ['mcp-developers'] });
    const b = new Browser(s.url);
    expect((await b.get(await idpSignIn(b, (await startFederated(b)).authUrl, 'kim'))).status).toBe(303);
    const [before] = await s.sql<{ id: string }>('select id from users where email = ?', 'kim@corp.example');
    await s.app.ctx.store.users.delete(before!.id, Date.now());
    expect(await s.sql('select subject from federated_identities where user_id = ?', before!.id)).toEqual([]);
    const b2 = new Browser(s.url);
    expect((await b2.get(await idpSignIn(b2, (await startFederated(b2)).authUrl, 'kim'))).status).toBe(303);
    const [after] = await s.sql<{ id: string }>('select id from users where email = ?', 'kim@corp.example');
    expect(after!.id).not.toBe(before!.id);
  });

  it('[FED-AUDIT] federated sign-ins and refusals are audited without codes, tokens or the client secret', () => {
    const lines = s.auditEvents().filter((e) => String(e.event).startsWith('federation.') || e.method === `federation:${SLUG}`);
    expect(lines.length).toBeGreaterThan(8);
    const text = JSON.stringify(lines);
    expect(codes.length).toBeGreaterThan(4);
    for (const code of codes) expect(text).not.toContain(code);
    expect(text).not.toContain(idp.clientSecret);
    expect(text).not.toMatch(/eyJ[\w-]+\.eyJ/);
  });
});
