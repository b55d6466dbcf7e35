import { describe, expect, it } from 'vitest';
import { tokenHash } from '@stack/crypto';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import {
  Browser, RESOURCE, authorizeUrl, decide, pkce, reachConsent, seedClient, seedUser, startAuthorization, useFlowServer, validParams,
} from './authorize-flow.ts';

describe('GET /authorize', () => {
  let s: TestAuthServer;
  let client: { id: string; redirectUris: string[] };
  let adminEmail: string;
  useFlowServer((f) => ({ s, client, email: adminEmail } = f), {
    client: { redirectUris: ['https://app.example.com/callback', 'https://app.example.com/other'] },
    role: 'admin',
  });

  /** The error redirect of a request that fails validation after the client and redirect URI are verified. */
  async function errorRedirect(params: Record<string, string | string[] | undefined>): Promise<URL> {
    const res = await fetch(authorizeUrl(s, params), { redirect: 'manual' });
    expect(res.status).toBe(302);
    const loc = new URL(res.headers.get('location')!);
    expect(`${loc.origin}${loc.pathname}`).toBe(client.redirectUris[0]);
    expect(loc.searchParams.get('code')).toBeNull();
    return loc;
  }

  it('[OAUTH21-STATE] [MCP-AS-ISS-RESPONSE] [RFC9700-MIXUP-ISS] happy path: login, consent, redirect with code, state and iss; the code is stored bound to client, redirect, challenge, resource and scope', async () => {
    const b = new Browser(s.url);
    const { challenge } = pkce();
    const state = 'state with spaces & symbols/+=';
    const url = authorizeUrl(s, validParams(client.id, client.redirectUris[1]!, { code_challenge: challenge, state, scope: 'db:read db:write' }));
    const { html } = await reachConsent(b, url, adminEmail);
    const res = await decide(b, html, 'allow');
    expect(res.status).toBe(303);
    const loc = new URL(res.headers.get('location')!);
    expect(`${loc.origin}${loc.pathname}`).toBe(client.redirectUris[1]);
    expect(loc.searchParams.get('state')).toBe(state);
    expect(loc.searchParams.get('iss')).toBe(s.config.issuer);
    const code = loc.searchParams.get('code')!;
    expect(code).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const [row] = await s.sql('select * from authorization_codes where code_hash = ?', tokenHash(code));
    expect(row).toMatchObject({
      client_id: client.id,
      redirect_uri: client.redirectUris[1],
      code_challenge: challenge,
      resource: RESOURCE,
      scope: 'db:read db:write',
      consumed_at: null,
    });
    expect(JSON.stringify(await s.sql('select * from authorization_codes'))).not.toContain(code);
  });

  it('uses the only registered redirect URI when redirect_uri is omitted', async () => {
    const single = await seedClient(s, { redirectUris: ['https://single.example.com/cb'] });
    const res = await fetch(authorizeUrl(s, validParams(single.id, 'x', { redirect_uri: undefined, response_type: 'token' })), { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toMatch(/^https:\/\/single\.example\.com\/cb\?error=unsupported_response_type/);
  });

  it('[OAUTH21-NO-REDIRECT-ON-BAD-CLIENT] [RFC9700-OPEN-REDIRECT] shows an HTML page, with no Location, for an unknown client', async () => {
    const res = await fetch(authorizeUrl(s, validParams('no-such-client', 'https://evil.example/cb')), { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('unknown client');
    expect(html).not.toContain('evil.example');
  });

  it('[MCP-AS-REDIRECT-EXACT] [OAUTH21-NO-REDIRECT-ON-BAD-CLIENT] [RFC9700-OPEN-REDIRECT] refuses a redirect_uri that is not exactly registered, without redirecting', async () => {
    for (const bad of [
      'https://app.example.com/callback/',
      'https://app.example.com/callback?x=1',
      'https://app.example.com/Callback',
      'https://app.example.com:8443/callback',
      'https://evil.example/callback',
      'http://app.example.com/callback',
    ]) {
      const res = await fetch(authorizeUrl(s, validParams(client.id, bad)), { redirect: 'manual' });
      expect(res.status, bad).toBe(400);
      expect(res.headers.get('location'), bad).toBeNull();
      expect(await res.text()).toContain('does not match any redirect URI');
    }
    // Several registered and none given: which one is meant is unknown, so no redirect either.
    const res = await fetch(authorizeUrl(s, validParams(client.id, 'x', { redirect_uri: undefined })), { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const events = s.auditEvents().filter((e) => e.event === 'authorize.error');
    expect(events.length).toBeGreaterThan(0);
  });

  it('[OAUTH21-DUPLICATE-PARAMS] [OAUTH21-NO-REDIRECT-ON-BAD-CLIENT] a repeated client_id or redirect_uri is shown as a page, never redirected', async () => {
    for (const dup of [{ client_id: [client.id, client.id] }, { redirect_uri: [client.redirectUris[0]!, client.redirectUris[0]!] }]) {
      const res = await fetch(authorizeUrl(s, validParams(client.id, client.redirectUris[0]!, dup)), { redirect: 'manual' });
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(await res.text()).toContain('is included more than once');
    }
  });

  it('[OAUTH21-DUPLICATE-PARAMS] [OAUTH21-STATE] a repeated parameter is an invalid_request redirect naming it', async () => {
    const loc = await errorRedirect(validParams(client.id, client.redirectUris[0]!, { scope: ['db:read', 'db:write'] }));
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('error_description')).toBe("parameter 'scope' is included more than once");
    expect(loc.searchParams.get('state')).toBe('st-123/+=?&x');
    expect(loc.searchParams.get('iss')).toBe(s.config.issuer);
    // A repeated state cannot be echoed "unchanged": it is left out.
    const dupState = await errorRedirect(validParams(client.id, client.redirectUris[0]!, { state: ['a', 'b'] }));
    expect(dupState.searchParams.get('error_description')).toBe("parameter 'state' is included more than once");
    expect(dupState.searchParams.has('state')).toBe(false);
  });

  it('[OAUTH21-PKCE-REQUIRED] [MCP-AS-ISS-RESPONSE] redirects with invalid_request when code_challenge or its method is missing (no silent default)', async () => {
    const noChallenge = await errorRedirect(validParams(client.id, client.redirectUris[0]!, { code_challenge: undefined }));
    expect(noChallenge.searchParams.get('error')).toBe('invalid_request');
    expect(noChallenge.searchParams.get('error_description')).toContain('code_challenge');
    expect(noChallenge.searchParams.get('iss')).toBe(s.config.issuer);
    expect(noChallenge.searchParams.get('state')).toBe('st-123/+=?&x');
    const noMethod = await errorRedirect(validParams(client.id, client.redirectUris[0]!, { code_challenge_method: undefined }));
    expect(noMethod.searchParams.get('error')).toBe('invalid_request');
    expect(noMethod.searchParams.get('error_description')).toContain('code_challenge_method');
  });

  it('[OAUTH21-PKCE-S256] refuses code_challenge_method=plain with an error redirect', async () => {
    const verifier = pkce().verifier;
    const loc = await errorRedirect(validParams(client.id, client.redirectUris[0]!, { code_challenge: verifier, code_challenge_method: 'plain' }));
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('error_description')).toContain('only S256');
  });

  it('[RFC8707-INVALID-TARGET] redirects with invalid_target when resource is missing, unknown, malformed or repeated', async () => {
    for (const resource of [undefined, 'http://127.0.0.1:4999/other', 'https://127.0.0.1:4999/mcp', 'not a url', [RESOURCE, RESOURCE]]) {
      const loc = await errorRedirect(validParams(client.id, client.redirectUris[0]!, { resource }));
      expect(loc.searchParams.get('error'), String(resource)).toBe('invalid_target');
      expect(loc.searchParams.get('iss')).toBe(s.config.issuer);
    }
  });

  it('[RFC8707-INVALID-TARGET] accepts the resource after normalising case and a trailing slash', async () => {
    for (const resource of ['HTTP://127.0.0.1:4999/mcp/', 'http://127.0.0.1:4999/mcp']) {
      const res = await fetch(authorizeUrl(s, validParams(client.id, client.redirectUris[0]!, { resource })), { redirect: 'manual' });
      expect(res.status, resource).toBe(303);
      expect(res.headers.get('location')).toMatch(/^login\?request=/);
    }
  });

  it('redirects with invalid_scope for an unknown or malformed scope', async () => {
    for (const scope of ['db:read nope', 'db:read "quoted"']) {
      const loc = await errorRedirect(validParams(client.id, client.redirectUris[0]!, { scope }));
      expect(loc.searchParams.get('error'), scope).toBe('invalid_scope');
    }
    const limited = await seedClient(s, { scope: 'db:read', redirectUris: ['https://app.example.com/callback'] });
    const res = await fetch(authorizeUrl(s, validParams(limited.id, limited.redirectUris[0]!, { scope: 'db:admin' })), { redirect: 'manual' });
    expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('invalid_scope');
  });

  it('ignores offline_access (not advertised; refresh tokens follow grant_types) instead of failing the client', async () => {
    const res = await fetch(authorizeUrl(s, validParams(client.id, client.redirectUris[0]!, { scope: 'db:read offline_access' })), { redirect: 'manual' });
    // Not sent back to the client with an error: the person is shown our login page.
    const loc = res.headers.get('location');
    if (loc) expect(new URL(loc, s.url).origin).toBe(s.url);
    else expect(await res.text()).toContain('name="password"');
  });

  it('redirects with unsupported_response_type or invalid_request for a wrong or missing response_type', async () => {
    const wrong = await errorRedirect(validParams(client.id, client.redirectUris[0]!, { response_type: 'token' }));
    expect(wrong.searchParams.get('error')).toBe('unsupported_response_type');
    const missing = await errorRedirect(validParams(client.id, client.redirectUris[0]!, { response_type: undefined }));
    expect(missing.searchParams.get('error')).toBe('invalid_request');
  });

  it('keeps the request server-side: the login page carries only an opaque id', async () => {
    const b = new Browser(s.url);
    const { html } = await startAuthorization(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)));
    expect(html).not.toContain('code_challenge');
    expect(html).not.toContain(client.redirectUris[0]);
    const hiddenNames = [...html.matchAll(/type="hidden" name="([^"]+)"/g)].map((m) => m[1]);
    expect(hiddenNames.sort()).toEqual(['_csrf', 'request']);
  });
});

describe('[OAUTH21-LOOPBACK-PORT] loopback redirect URIs', () => {
  it('[OAUTH21-LOOPBACK-PORT] accepts any port on a registered loopback redirect URI and redirects to the requested port', async () => {
    await using s = await startAuthServer();
    const client = await seedClient(s, { redirectUris: ['http://127.0.0.1/callback', 'http://localhost:3000/cb'] });
    for (const uri of ['http://127.0.0.1:53682/callback', 'http://127.0.0.1/callback', 'http://localhost:9999/cb']) {
      const res = await fetch(authorizeUrl(s, validParams(client.id, uri, { code_challenge: undefined })), { redirect: 'manual' });
      expect(res.status, uri).toBe(302);
      expect(res.headers.get('location')!.startsWith(`${uri}?error=invalid_request`), uri).toBe(true);
    }
    // Port is the only freedom: host and path must still match.
    for (const uri of ['http://127.0.0.1:53682/other', 'http://localhost:53682/callback', 'http://[::1]:53682/callback']) {
      const res = await fetch(authorizeUrl(s, validParams(client.id, uri)), { redirect: 'manual' });
      expect(res.status, uri).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
  });
});

describe('[HARD-REDIRECT-LOOPBACK-FORMS] loopback redirect URIs are matched as written', () => {
  const REGISTERED = ['http://127.0.0.1/callback', 'http://[::1]/callback', 'http://localhost:3000/cb'];
  // Forms a URL parser maps onto a registered loopback URI, and that registration refuses.
  const BAD = [
    'http://evil@127.0.0.1:9999/callback',
    'http://@127.0.0.1:9999/callback',
    'http://u:p@localhost:3000/cb',
    'http://127.1:9999/callback',
    'http://0x7f000001:9999/callback',
    'http://2130706433:9999/callback',
    'http://0177.0.0.1:9999/callback',
    'http://127.000.000.001:9999/callback',
    'http://[0:0:0:0:0:0:0:1]:9999/callback',
    'http://[::0001]:9999/callback',
    'HTTP://127.0.0.1:9999/callback',
    'http://LOCALHOST:3000/cb',
    'http://localhost.:3000/cb',
    'http://127.0.0.1:9999/callback#',
    'http://127.0.0.1/callback#',
    'http://127.0.0.1:9999/callback#x',
    'http://127.0.0.1:9999/x/../callback',
    'http://127.0.0.1:9999/%63allback',
    'http://127.0.0.1:9999\\callback',
    'http://127.0.0.1:/callback',
    'http://127.0.0.1:0/callback',
    'http://127.0.0.1:09999/callback',
    'http://127.0.0.1:99999/callback',
    'http://127.0.0.1:9999/callback?',
  ];

  it('[HARD-REDIRECT-LOOPBACK-FORMS] [OAUTH21-NO-REDIRECT-ON-BAD-CLIENT] /authorize refuses each non-canonical form on its page, never redirecting', async () => {
    await using s = await startAuthServer();
    const client = await seedClient(s, { redirectUris: REGISTERED });
    for (const uri of BAD) {
      const res = await fetch(authorizeUrl(s, validParams(client.id, uri)), { redirect: 'manual' });
      expect(res.status, uri).toBe(400);
      expect(res.headers.get('location'), uri).toBeNull();
      expect(res.headers.get('content-type'), uri).toMatch(/^text\/html/);
      expect(await res.text(), uri).toContain('does not match any redirect URI');
    }
    // The canonical forms, on any port, still match.
    for (const uri of ['http://127.0.0.1:9999/callback', 'http://[::1]:9999/callback', 'http://localhost:9999/cb', 'http://127.0.0.1/callback']) {
      const res = await fetch(authorizeUrl(s, validParams(client.id, uri, { code_challenge: undefined })), { redirect: 'manual' });
      expect(res.status, uri).toBe(302);
      expect(res.headers.get('location')!.startsWith(`${uri}?error=invalid_request`), uri).toBe(true);
    }
  });

  it('[HARD-REDIRECT-LOOPBACK-FORMS] /token refuses a code with any other spelling of the redirect URI it was issued for', async () => {
    await using s = await startAuthServer();
    const client = await seedClient(s, { redirectUris: REGISTERED });
    const user = await seedUser(s, 'developer');
    const { verifier, challenge } = pkce();
    const issuedFor = 'http://127.0.0.1:9999/callback';
    const b = new Browser(s.url);
    const { html } = await reachConsent(b, authorizeUrl(s, validParams(client.id, issuedFor, { code_challenge: challenge })), user.email);
    const code = new URL((await decide(b, html, 'allow')).headers.get('location')!).searchParams.get('code')!;
    const redeem = (redirectUri: string) => fetch(`${s.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: client.id, code, redirect_uri: redirectUri, code_verifier: verifier, resource: RESOURCE }).toString(),
    });
    for (const uri of BAD.filter((u) => u.includes(':9999'))) {
      const res = await redeem(uri);
      expect(res.status, uri).toBe(400);
      expect(await res.json(), uri).toEqual({ error: 'invalid_grant', error_description: "'redirect_uri' does not match the authorization request" });
    }
    expect((await redeem(issuedFor)).status).toBe(200);
  });
});
