import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair, type JWTPayload } from 'jose';
import { admin } from './cli-helpers.ts';
import { freePorts, startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, authorizeUrl, seedClient, startAuthorization, validParams } from './authorize-flow.ts';
import { federatedStack } from './federation-flow.ts';

/**
 * The ID token rules of OpenID Connect Core 1.0 §3.1.3.7, and the GitHub preset, against a forging
 * provider: a small server that answers discovery, authorization, token, keys, UserInfo and
 * GitHub's endpoints as each test tells it to (an ID token from another issuer, for another
 * audience, signed with another key, expired; a UserInfo for another subject).
 */

interface Forge {
  /** Claims that replace the right ones in the next ID token. */
  claims?: JWTPayload;
  /** Sign the ID token with a key the provider does not publish. */
  wrongKey?: boolean;
  userinfoSub?: string;
  /** GitHub: whether the primary email is verified. */
  githubVerified?: boolean;
}

const CLIENT_ID = 'mcp-stack';

async function startForgingProvider(port: number): Promise<{ forge: Forge; tokenRequests: URLSearchParams[]; close: () => Promise<void> }> {
  const base = `http://127.0.0.1:${port}`;
  const issuer = `${base}/oidc`;
  const key = await generateKeyPair('ES256');
  const other = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const state: { forge: Forge; nonce?: string; challenge?: string } = { forge: {} };
  const tokenRequests: URLSearchParams[] = [];
  const json = (res: ServerResponse, body: unknown, status = 200) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const body = (req: IncomingMessage) => new Promise<URLSearchParams>((resolve) => {
    let b = '';
    req.on('data', (c: Buffer) => { b += c.toString(); });
    req.on('end', () => resolve(new URLSearchParams(b)));
  });
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url!, base);
      const p = url.pathname;
      if (p === '/oidc/.well-known/openid-configuration') {
        return json(res, {
          issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`, userinfo_endpoint: `${issuer}/userinfo`,
          response_types_supported: ['code'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['ES256'],
          code_challenge_methods_supported: ['S256'], authorization_response_iss_parameter_supported: true, token_endpoint_auth_methods_supported: ['client_secret_post'],
        });
      }
      if (p === '/oidc/authorize' || p === '/gh/login/oauth/authorize') {
        state.nonce = url.searchParams.get('nonce') ?? undefined;
        state.challenge = url.searchParams.get('code_challenge') ?? undefined;
        const back = new URL(url.searchParams.get('redirect_uri')!);
        back.searchParams.set('code', `code-${Math.random().toString(36).slice(2)}`);
        back.searchParams.set('state', url.searchParams.get('state')!);
        if (p.startsWith('/oidc')) back.searchParams.set('iss', issuer);
        return res.writeHead(302, { location: back.href }).end();
      }
      if (p === '/oidc/jwks') return json(res, { keys: [jwk] });
      if (p === '/oidc/token' || p === '/gh/login/oauth/access_token') {
        const form = await body(req);
        tokenRequests.push(form);
        // PKCE (RFC 7636 §4.6): the verifier must hash to the challenge of the authorization request.
        if (createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url') !== state.challenge) return json(res, { error: 'invalid_grant' }, 400);
        if (p.startsWith('/gh')) return json(res, { access_token: 'gho_test', token_type: 'bearer', scope: 'read:user,user:email' });
        const now = Math.floor(Date.now() / 1000);
        const claims = { iss: issuer, sub: 'zoe', aud: CLIENT_ID, exp: now + 300, iat: now, nonce: state.nonce, ...state.forge.claims };
        const idToken = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(state.forge.wrongKey ? other.privateKey : key.privateKey);
        return json(res, { access_token: 'at-test', token_type: 'Bearer', expires_in: 300, id_token: idToken });
      }
      if (p === '/oidc/userinfo') return json(res, { sub: state.forge.userinfoSub ?? 'zoe', email: 'zoe@corp.example', email_verified: true, groups: ['mcp-developers'] });
      if (p === '/gh/api/v3/user') return json(res, { id: 583231, login: 'octocat', name: 'The Octocat', email: null });
      if (p === '/gh/api/v3/user/emails') return json(res, [{ email: 'octocat@github.example', primary: true, verified: state.forge.githubVerified ?? true }]);
      res.writeHead(404).end();
    })();
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    get forge() { return state.forge; },
    set forge(f: Forge) { state.forge = f; },
    tokenRequests,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

describe('upstream answers checked as OpenID Connect Core 3.1.3.7 says, and the GitHub preset', () => {
  let s: TestAuthServer;
  let idp: Awaited<ReturnType<typeof startForgingProvider>>;
  let dir: string;
  let client: { id: string; redirectUris: string[] };
  let stackFile: string;

  beforeAll(async () => {
    const [port, idpPort] = await freePorts(2);
    idp = await startForgingProvider(idpPort!);
    dir = mkdtempSync(join(tmpdir(), 'auth-federation-checks-'));
    stackFile = join(dir, 'stack.yaml');
    writeFileSync(stackFile, federatedStack({ issuer: `http://127.0.0.1:${idpPort}/oidc` }, `  - name: GitHub
    preset: github
    issuer: http://127.0.0.1:${idpPort}/gh
    client_id: gh-client
    client_secret: \${env:GH_SECRET}
    role_rules: [{ claim: login, equals: octocat, role: developer }]
`));
    s = await startAuthServer({ AUTH_PORT: String(port), STACK_FILE: stackFile }, {
      refs: { secret: (n) => (n === 'CORP_SSO_SECRET' ? 'oidc-secret' : undefined), env: (n) => (n === 'GH_SECRET' ? 'gh-secret' : undefined) },
    });
    client = await seedClient(s);
  });
  afterAll(async () => {
    await s?.close();
    await idp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Login page → "Continue with <name>" → the provider (which answers at once) → our callback's answer. */
  async function signIn(name: string): Promise<Response> {
    const b = new Browser(s.url);
    const { loginUrl, html } = await startAuthorization(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)));
    const href = new RegExp(`<a class="button wide" href="([^"]+)">Continue with ${name}</a>`).exec(html)![1]!.replace(/&amp;/g, '&');
    const start = await b.get(b.resolve(href, loginUrl));
    expect(start.status).toBe(303);
    const atIdp = await fetch(start.headers.get('location')!, { redirect: 'manual' });
    expect(atIdp.status).toBe(302);
    return b.get(atIdp.headers.get('location')!);
  }

  const lastRefusal = () => s.auditEvents().filter((e) => e.event === 'federation.refused').at(-1);

  async function refused(forge: Forge, reason: RegExp): Promise<void> {
    idp.forge = forge;
    const before = s.auditEvents().length;
    const res = await signIn('Corporate SSO');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Sign-in with Corporate SSO failed');
    expect(s.auditEvents().length).toBeGreaterThan(before);
    expect(lastRefusal()?.reason).toMatch(reason);
  }

  it('a right ID token signs in (the checks below differ from it by one claim or key)', async () => {
    idp.forge = {};
    const res = await signIn('Corporate SSO');
    expect(res.status, await res.clone().text()).toBe(303);
    expect(await s.sql('select role from users where email = ?', 'zoe@corp.example')).toEqual([{ role: 'developer' }]);
    // client_secret_post, as the metadata lists, with the PKCE verifier.
    expect(idp.tokenRequests.at(-1)?.get('client_secret')).toBe('oidc-secret');
    expect(idp.tokenRequests.at(-1)?.get('code_verifier')).toMatch(/^[\w-]{43,128}$/);
  });

  it('[OIDC-CORE-IDT-ISS] an ID token from another issuer is refused', async () => {
    await refused({ claims: { iss: 'https://other-idp.example' } }, /^ID token iss mismatch/);
  });

  it('[OIDC-CORE-IDT-AUD] an ID token for another audience is refused', async () => {
    await refused({ claims: { aud: 'another-client' } }, /^ID token aud mismatch/);
  });

  it('[OIDC-CORE-IDT-SIG] an ID token signed with a key the provider does not publish is refused', async () => {
    await refused({ wrongKey: true }, /signature/i);
  });

  it('[OIDC-CORE-IDT-EXP] an expired ID token is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused({ claims: { exp: now - 3600, iat: now - 7200 } }, /exp/);
  });

  it('[OIDC-CORE-USERINFO-SUB] a UserInfo answer about another subject is refused', async () => {
    await refused({ userinfoSub: 'mallory' }, /^userinfo: /);
  });

  it('[FED-GITHUB] preset: github signs in through the OAuth endpoints and the user API, with a verified primary email only', async () => {
    idp.forge = { githubVerified: false };
    const unverified = await signIn('GitHub');
    expect(unverified.status).toBe(403);
    expect(lastRefusal()).toMatchObject({ provider: 'github', reason: 'unverified email' });

    idp.forge = { githubVerified: true };
    const res = await signIn('GitHub');
    expect(res.status, await res.clone().text()).toBe(303);
    const [user] = await s.sql<{ id: string; role: string }>('select id, role from users where email = ?', 'octocat@github.example');
    expect(user?.role).toBe('developer');
    expect(await s.sql('select subject from federated_identities where provider = ? and user_id = ?', 'github', user!.id)).toEqual([{ subject: '583231' }]);
    const token = idp.tokenRequests.at(-1)!;
    expect(token.get('client_id')).toBe('gh-client');
    expect(token.get('client_secret')).toBe('gh-secret');
    expect(s.auditEvents().filter((e) => e.event === 'login.succeeded').at(-1)).toMatchObject({ user: user!.id, method: 'federation:github' });
  });

  it('[FED-REDIRECT-URI] npm run admin -- providers list prints the redirect URI to register at each provider', async () => {
    const env = { STACK_FILE: stackFile, AUTH_ISSUER: s.url, DATA_DIR: dir };
    const r = await admin(env, ['providers', 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('REDIRECT URI (register at the provider)');
    expect(r.stdout).toContain(`${s.url}/federation/corporate-sso/callback`);
    expect(r.stdout).toContain(`${s.url}/federation/github/callback`);
    const j = JSON.parse((await admin(env, ['providers', 'list', '--json'])).stdout) as { password_login: boolean; providers: { slug: string; redirect_uri: string }[] };
    expect(j.password_login).toBe(true);
    expect(j.providers.map((p) => [p.slug, p.redirect_uri])).toEqual([
      ['corporate-sso', `${s.url}/federation/corporate-sso/callback`],
      ['github', `${s.url}/federation/github/callback`],
    ]);
  });
});
