import { describe, expect, it } from 'vitest';
import { ConfigError } from '@stack/config';
import { loadAuthConfig } from '../src/config.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, PASSWORD, authorizeUrl, seedClient, seedUser, startAuthorization, submitLogin, validParams } from './authorize-flow.ts';

/** Security-review fixes: client-auth reservations, TRUST_PROXY, per-address lockout, IPv6 /64 keys. */

/** A confidential client registered through /register (RFC 7591): its id and secret. */
async function registerConfidential(s: TestAuthServer, headers: Record<string, string> = {}): Promise<{ id: string; secret: string }> {
  const res = await fetch(`${s.url}/register`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ redirect_uris: ['https://app.example/cb'], client_name: 'conf' }),
  });
  expect(res.status).toBe(201);
  const info = (await res.json()) as { client_id: string; client_secret: string };
  return { id: info.client_id, secret: info.client_secret };
}

/** A refresh request authenticated with client_secret_basic (RFC 6749 §2.3.1); `from` is sent as X-Forwarded-For. */
function tokenRequest(s: TestAuthServer, id: string, secret: string, from?: string): Promise<Response> {
  return fetch(`${s.url}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
      ...(from === undefined ? {} : { 'x-forwarded-for': from }),
    },
    body: 'grant_type=refresh_token&refresh_token=not-a-token',
  });
}

/** One full login (authorize → form → POST) from a "browser" whose requests carry `headers`. */
async function login(s: TestAuthServer, clientId: string, email: string, password: string, headers: Record<string, string> = {}): Promise<Response> {
  const b = new Browser(s.url, headers);
  const { html } = await startAuthorization(b, authorizeUrl(s, validParams(clientId, 'https://app.example.com/callback')));
  return submitLogin(b, html, email, password);
}

const failedAddresses = (s: TestAuthServer) => s.auditEvents().filter((e) => e.event === 'client.auth_failed').map((e) => e.address);

describe('client authentication under a flood', () => {
  it('[AUTH-ARGON2-BOUNDED] [RFC9700-BRUTE-FORCE] 200 parallel wrong secrets from one address: exactly the limit are checked (401), the rest 429, and a correct login stays fast', async () => {
    await using s = await startAuthServer();
    const limit = s.config.login.maxFailuresPerAddress;
    const conf = await registerConfidential(s);
    const client = await seedClient(s);
    const user = await seedUser(s, 'viewer');
    const b = new Browser(s.url);
    const { html } = await startAuthorization(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)));

    const flood = Promise.all(Array.from({ length: 200 }, async () => {
      const res = await tokenRequest(s, conf.id, 'wrong-secret');
      return { status: res.status, retryAfter: res.headers.get('retry-after') };
    }));
    const started = Date.now();
    const res = await submitLogin(b, html, user.email);
    const loginMs = Date.now() - started;
    const results = await flood;

    expect(res.status).toBe(303);
    // It waits behind at most `limit` argon2 runs (~0.5 s on two busy cores); without the reservation
    // all 200 ran first and this login took 5-8 s. The bound is generous for loaded CI machines.
    expect(loginMs).toBeLessThan(2000);
    expect(results.filter((r) => r.status === 401)).toHaveLength(limit);
    const limited = results.filter((r) => r.status === 429);
    expect(limited).toHaveLength(200 - limit);
    expect(limited.every((r) => Number(r.retryAfter) > 0)).toBe(true);
    // Every checked failure is audited: the first few in full, the rest counted in the address's summary line.
    s.app.ctx.auditFailures.flush();
    const summarized = s.auditEvents().filter((e) => e.event === 'audit.failures_summarized').reduce((n, e) => n + Number(e.count), 0);
    expect(failedAddresses(s).length + summarized).toBe(limit);
  });

  it('[RFC9700-BRUTE-FORCE] a correct secret gives its reservation back: only failures count', async () => {
    await using s = await startAuthServer({ LOGIN_MAX_FAILURES_PER_ADDRESS: '3' });
    const conf = await registerConfidential(s);
    expect((await tokenRequest(s, conf.id, 'wrong')).status).toBe(401);
    // Authenticated (the refresh token itself is then refused with invalid_grant).
    for (let i = 0; i < 5; i++) expect((await tokenRequest(s, conf.id, conf.secret)).status).toBe(400);
    expect((await tokenRequest(s, conf.id, 'wrong')).status).toBe(401);
    expect((await tokenRequest(s, conf.id, 'wrong')).status).toBe(401);
    expect((await tokenRequest(s, conf.id, conf.secret)).status).toBe(429);
  });
});

describe('TRUST_PROXY', () => {
  const load = (env: Record<string, string>) => loadAuthConfig({ NODE_ENV: 'development', AUTH_DATABASE_PATH: ':memory:', ...env });

  it('[AUTH-CLIENT-ADDRESS] accepts false, a hop count or proxy addresses/CIDRs, and refuses true in production naming the fix', () => {
    expect(load({}).trustProxy).toBe(false);
    expect(load({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(load({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(load({ TRUST_PROXY: '10.0.0.0/8, 192.0.2.7,loopback,2001:db8::/32' }).trustProxy).toEqual(['10.0.0.0/8', '192.0.2.7', 'loopback', '2001:db8::/32']);
    // Outside production `true` means one hop, never Fastify's "every hop".
    expect(load({ TRUST_PROXY: 'true' }).trustProxy).toBe(1);
    for (const bad of ['10.0.0.0/33', 'proxy.example', '11']) expect(() => load({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/);

    const production = { NODE_ENV: 'production', AUTH_ISSUER: 'https://as.example', KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64') };
    let error: unknown;
    try {
      load({ ...production, TRUST_PROXY: 'true' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([expect.stringMatching(/^TRUST_PROXY: 'true' is refused in production: set the number of proxies/)]);
    expect(load({ ...production, TRUST_PROXY: '1' }).trustProxy).toBe(1);
  });

  it('[AUTH-CLIENT-ADDRESS] [RFC9700-BRUTE-FORCE] one hop: the entry the proxy appended is the address, whatever the client wrote before it', async () => {
    await using s = await startAuthServer({ TRUST_PROXY: '1', LOGIN_MAX_FAILURES_PER_ADDRESS: '3' });
    const conf = await registerConfidential(s);
    // What nginx's $proxy_add_x_forwarded_for forwards: the client's own header, then the real peer.
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await tokenRequest(s, conf.id, 'wrong', `203.0.113.${i}, 198.51.100.20`)).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
    expect(new Set(failedAddresses(s))).toEqual(new Set(['198.51.100.20']));
    // What the proxy sends with `X-Forwarded-For $remote_addr`: another client has its own budget.
    expect((await tokenRequest(s, conf.id, 'wrong', '198.51.100.21')).status).toBe(401);
    expect(failedAddresses(s).at(-1)).toBe('198.51.100.21');
  });

  it('[AUTH-CLIENT-ADDRESS] trusted proxy addresses: X-Forwarded-For is read only from them; false ignores it', async () => {
    {
      await using s = await startAuthServer({ TRUST_PROXY: '127.0.0.1' });
      const conf = await registerConfidential(s);
      await tokenRequest(s, conf.id, 'wrong', '203.0.113.5, 198.51.100.30');
      // 198.51.100.30 is not a trusted proxy, so its claim about 203.0.113.5 is not believed.
      expect(failedAddresses(s)).toEqual(['198.51.100.30']);
    }
    {
      await using s = await startAuthServer({ TRUST_PROXY: '192.0.2.1' });
      const conf = await registerConfidential(s);
      await tokenRequest(s, conf.id, 'wrong', '198.51.100.30');
      // The socket peer (127.0.0.1) is not the listed proxy: the header is ignored.
      expect(failedAddresses(s)).toEqual(['127.0.0.1']);
    }
    {
      await using s = await startAuthServer({ TRUST_PROXY: 'false' });
      const conf = await registerConfidential(s);
      await tokenRequest(s, conf.id, 'wrong', '198.51.100.30');
      expect(failedAddresses(s)).toEqual(['127.0.0.1']);
    }
  });
});

describe('failed logins per account and address', () => {
  it('[AUTH-LOCKOUT-PER-ADDRESS] [RFC9700-BRUTE-FORCE] an attacker locks the account only for their own address; the account-wide cap still stops guessing from many addresses', async () => {
    await using s = await startAuthServer({
      TRUST_PROXY: 'loopback',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '3',
      LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES: '5',
      LOGIN_MAX_FAILURES_PER_ADDRESS: '1000',
    });
    const client = await seedClient(s);
    const admin = await seedUser(s, 'admin');
    const from = (address: string) => ({ 'x-forwarded-for': address });
    const attacker = from('198.51.100.1');
    const victim = from('203.0.113.9');

    for (let i = 0; i < 3; i++) expect((await login(s, client.id, admin.email, `wrong-${i}`, attacker)).status).toBe(200);
    const locked = await login(s, client.id, admin.email, PASSWORD, attacker);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    // The real user, from their own address, is not locked out by someone else's guesses.
    expect((await login(s, client.id, admin.email, PASSWORD, victim)).status).toBe(303);

    // Two more failures from other addresses reach the account-wide cap of 5: now every address waits.
    expect((await login(s, client.id, admin.email, 'wrong', from('198.51.100.2'))).status).toBe(200);
    expect((await login(s, client.id, admin.email, 'wrong', from('198.51.100.3'))).status).toBe(200);
    expect((await login(s, client.id, admin.email, PASSWORD, victim)).status).toBe(429);
    expect((await login(s, client.id, admin.email, PASSWORD, from('198.51.100.4'))).status).toBe(429);
  });

  it('[AUTH-LOCKOUT-PER-ADDRESS] the account-wide cap defaults to ten times the per-account limit and may not be lower', () => {
    const load = (env: Record<string, string>) => loadAuthConfig({ NODE_ENV: 'test', AUTH_DATABASE_PATH: ':memory:', ...env });
    expect(load({}).login).toMatchObject({ maxFailuresPerAccount: 5, maxFailuresPerAccountAllAddresses: 50 });
    expect(load({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '3' }).login.maxFailuresPerAccountAllAddresses).toBe(30);
    expect(() => load({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '5', LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES: '4' }))
      .toThrow(/LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES: must be at least LOGIN_MAX_FAILURES_PER_ACCOUNT/);
  });
});

describe('IPv6 clients', () => {
  it('[AUTH-ADDRESS-KEY-IPV6] [RFC9700-BRUTE-FORCE] client-auth failures from one /64 share a budget; IPv4-mapped and plain IPv4 are one address', async () => {
    await using s = await startAuthServer({ TRUST_PROXY: 'loopback', LOGIN_MAX_FAILURES_PER_ADDRESS: '2' });
    const conf = await registerConfidential(s);
    expect((await tokenRequest(s, conf.id, 'wrong', '2001:db8:1:2::1')).status).toBe(401);
    expect((await tokenRequest(s, conf.id, 'wrong', '2001:db8:1:2:aaaa::7')).status).toBe(401);
    expect((await tokenRequest(s, conf.id, 'wrong', '2001:db8:1:2:ffff:ffff:ffff:ffff')).status).toBe(429);
    expect((await tokenRequest(s, conf.id, 'wrong', '2001:db8:1:3::1')).status).toBe(401);
    // The audit keeps the full address.
    expect(failedAddresses(s)).toContain('2001:db8:1:2:aaaa::7');

    expect((await tokenRequest(s, conf.id, 'wrong', '::ffff:198.51.100.5')).status).toBe(401);
    expect((await tokenRequest(s, conf.id, 'wrong', '198.51.100.5')).status).toBe(401);
    expect((await tokenRequest(s, conf.id, 'wrong', '198.51.100.5')).status).toBe(429);
  });

  it('[AUTH-ADDRESS-KEY-IPV6] registrations and failed logins are counted per /64 too', async () => {
    await using s = await startAuthServer({ TRUST_PROXY: 'loopback', REGISTRATION_RATE_LIMIT_PER_HOUR: '2', LOGIN_MAX_FAILURES_PER_ACCOUNT: '2' });
    const register = (address: string) => fetch(`${s.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
      body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:4242/cb'], token_endpoint_auth_method: 'none' }),
    });
    expect((await register('2001:db8:9:9::1')).status).toBe(201);
    expect((await register('2001:db8:9:9::2')).status).toBe(201);
    expect((await register('2001:db8:9:9::3')).status).toBe(429);
    expect((await register('2001:db8:9:a::1')).status).toBe(201);

    const client = await seedClient(s);
    const user = await seedUser(s, 'viewer');
    const at = (address: string) => ({ 'x-forwarded-for': address });
    expect((await login(s, client.id, user.email, 'wrong', at('2001:db8:5:5::1'))).status).toBe(200);
    expect((await login(s, client.id, user.email, 'wrong', at('2001:db8:5:5::2'))).status).toBe(200);
    // Same account, same /64: locked; another /64 is another address.
    expect((await login(s, client.id, user.email, PASSWORD, at('2001:db8:5:5::3'))).status).toBe(429);
    expect((await login(s, client.id, user.email, PASSWORD, at('2001:db8:5:6::1'))).status).toBe(303);
  });
});
