import argon2 from 'argon2';
import { describe, expect, it, vi } from 'vitest';
import { ConfigError } from '@stack/config';
import { loadAuthConfig } from '../src/config.ts';
import { evictionBatch, evictionPlan } from '../src/store/pending-eviction.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, PASSWORD, authorizeUrl, seedClient, seedUser, startAuthorization, submitLogin, validParams } from './authorize-flow.ts';

/** Abuse limits: client-auth reservations, TRUST_PROXY, per-address lockout, IPv6 /64 keys. */

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

    // Every argon2 verification, in the order they ran (a slot runs them one after another).
    const runs = vi.spyOn(argon2, 'verify');
    let passwords: string[];
    let res: Response;
    let results: { status: number; retryAfter: string | null }[];
    try {
      const flood = Promise.all(Array.from({ length: 200 }, async () => {
        const r = await tokenRequest(s, conf.id, 'wrong-secret');
        return { status: r.status, retryAfter: r.headers.get('retry-after') };
      }));
      res = await submitLogin(b, html, user.email);
      results = await flood;
      passwords = runs.mock.calls.map((call) => String(call[1]));
    } finally {
      runs.mockRestore();
    }

    expect(res.status).toBe(303);
    // "Stays fast" counted in argon2 runs, which no machine load changes: the login waits behind at
    // most `limit` of them; without the reservation it waited behind every queued wrong secret.
    expect(passwords.indexOf(PASSWORD)).toBeGreaterThanOrEqual(0);
    expect(passwords.indexOf(PASSWORD)).toBeLessThanOrEqual(limit);
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

    const production = { NODE_ENV: 'production', AUTH_ISSUER: 'https://as.example', MCP_PUBLIC_ORIGIN: 'https://mcp.example', KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64') };
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
  it('[AUTH-LOCKOUT-PER-ADDRESS] [RFC9700-BRUTE-FORCE] an attacker locks the account only for their own address; past the account-wide threshold every new address waits first', async () => {
    let now = Date.now();
    await using s = await startAuthServer({
      TRUST_PROXY: 'loopback',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '3',
      LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES: '5',
      LOGIN_MAX_FAILURES_PER_ADDRESS: '1000',
    }, { now: () => now });
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

    // Two more failures from other addresses reach the account-wide threshold of 5. This used to refuse
    // every address for the whole window (a lockout anyone could cause); now an address that has not
    // waited is told to wait (the password is not checked), and is checked once the wait is over.
    expect((await login(s, client.id, admin.email, 'wrong', from('198.51.100.2'))).status).toBe(200);
    expect((await login(s, client.id, admin.email, 'wrong', from('198.51.100.3'))).status).toBe(200);
    const other = new Browser(s.url, from('198.51.100.4'));
    const { html } = await startAuthorization(other, authorizeUrl(s, validParams(client.id, 'https://app.example.com/callback')));
    const wait = await submitLogin(other, html, admin.email, PASSWORD);
    expect(wait.status).toBe(429);
    const seconds = Number(wait.headers.get('retry-after'));
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(s.config.login.maxDelaySeconds);
    now += seconds * 1000;
    expect((await submitLogin(other, await wait.text(), admin.email, PASSWORD)).status).toBe(303);
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

  it('[AUTH-ADDRESS-KEY-IPV6] [HARD-LOGIN-IPV6-WIDE] registrations are counted per /64 too, failed logins per /48', async () => {
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
    expect((await login(s, client.id, user.email, 'wrong', at('2001:db8:5:6::2'))).status).toBe(200);
    // Same account, same /48 (another /64 of it included): locked; another /48 is another address.
    expect((await login(s, client.id, user.email, PASSWORD, at('2001:db8:5:5::3'))).status).toBe(429);
    expect((await login(s, client.id, user.email, PASSWORD, at('2001:db8:5:ffff::1'))).status).toBe(429);
    expect((await login(s, client.id, user.email, PASSWORD, at('2001:db8:6::1'))).status).toBe(303);
  });
});

describe('nobody can lock an account for everyone', () => {
  const from = (address: string) => ({ 'x-forwarded-for': address });
  const start = (s: TestAuthServer, b: Browser, clientId: string) => startAuthorization(b, authorizeUrl(s, validParams(clientId, 'https://app.example.com/callback')));
  /** The lockout attack: five wrong passwords from each of ten addresses (50, the default account-wide threshold). */
  async function lockoutAttack(s: TestAuthServer, clientId: string, email: string, addresses: (i: number) => string): Promise<void> {
    for (let a = 0; a < 10; a++) {
      for (let i = 0; i < 5; i++) expect((await login(s, clientId, email, `guess-${a}-${i}`, from(addresses(a)))).status).toBe(200);
      // That address is now locked for this account (per-address lockout, as before).
      expect((await login(s, clientId, email, PASSWORD, from(addresses(a)))).status).toBe(429);
    }
  }

  it('[HARD-LOGIN-DEVICE-BUDGET] [HARD-LOGIN-DELAY-NOT-LOCK] after ten addresses x five wrong passwords the right one signs in from a known device at once, and from a new address after a bounded delay', async () => {
    let now = Date.now();
    await using s = await startAuthServer({ TRUST_PROXY: 'loopback' }, { now: () => now });
    expect(s.config.login).toMatchObject({ maxFailuresPerAccount: 5, maxFailuresPerAccountAllAddresses: 50, maxDelaySeconds: 30 });
    const client = await seedClient(s);
    const admin = await seedUser(s, 'admin');

    // The admin signed in from this browser before: it holds a device cookie.
    const laptop = new Browser(s.url, from('203.0.113.9'));
    expect((await submitLogin(laptop, (await start(s, laptop, client.id)).html, admin.email)).status).toBe(303);
    expect(laptop.cookies.get('device')).toMatch(/^[\w-]{22}\.\d+\.[\w-]{43}$/);

    await lockoutAttack(s, client.id, admin.email, (a) => `198.51.100.${a + 1}`);

    // (a) The known device signs in at once, from home and even from an address the attacker locked.
    expect((await submitLogin(laptop, (await start(s, laptop, client.id)).html, admin.email)).status).toBe(303);
    const travelling = new Browser(s.url, from('198.51.100.1'));
    travelling.cookies.set('device', laptop.cookies.get('device')!);
    expect((await submitLogin(travelling, (await start(s, travelling, client.id)).html, admin.email)).status).toBe(303);

    // (b) A new address is told to wait (the password is not checked: no session, nothing counted)...
    const phone = new Browser(s.url, from('192.0.2.77'));
    const delayed = await submitLogin(phone, (await start(s, phone, client.id)).html, admin.email);
    expect(delayed.status).toBe(429);
    const wait = Number(delayed.headers.get('retry-after'));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(30);
    const page = await delayed.text();
    expect(page).toContain(`Wait ${wait} second`);
    expect(page).toContain('name="password"');
    expect(delayed.headers.getSetCookie().some((c) => c.startsWith('sid='))).toBe(false);
    expect(s.auditEvents().filter((e) => e.event === 'login.delayed')).toHaveLength(1);
    // ...asking again too early is answered with the time left...
    now += (wait - 1) * 1000;
    const early = await submitLogin(phone, page, admin.email);
    expect([early.status, early.headers.get('retry-after')]).toEqual([429, '1']);
    // ...and once the wait is over the right password signs in.
    now += 1000;
    const res = await submitLogin(phone, await early.text(), admin.email);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^consent\?request=/);
  });

  it('[HARD-LOGIN-DELAY-NOT-LOCK] an account under attack delays each new address by 5 s, doubling with every threshold of failures up to LOGIN_DELAY_MAX_SECONDS, and each failure starts the next wait', async () => {
    let now = Date.now();
    await using s = await startAuthServer({
      TRUST_PROXY: 'loopback',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '3',
      LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES: '3',
      LOGIN_DELAY_MAX_SECONDS: '12',
    }, { now: () => now });
    const client = await seedClient(s);
    const user = await seedUser(s, 'viewer');
    /** One wrong password from a new address, waiting first if told to; returns the wait (0: none) and the page after. */
    const failFrom = async (address: string): Promise<{ waited: number; b: Browser; html: string }> => {
      const b = new Browser(s.url, from(address));
      let res = await submitLogin(b, (await start(s, b, client.id)).html, user.email, 'wrong');
      const waited = res.status === 429 ? Number(res.headers.get('retry-after')) : 0;
      if (waited > 0) {
        now += waited * 1000;
        res = await submitLogin(b, await res.text(), user.email, 'wrong');
      }
      expect(res.status).toBe(200);
      return { waited, b, html: await res.text() };
    };

    // Below the threshold nobody waits.
    for (let i = 0; i < 3; i++) expect((await failFrom(`198.51.100.${i}`)).waited).toBe(0);
    const waits: number[] = [];
    for (let round = 0; round < 4; round++) {
      // Failures on the account so far: 3, 6, 9, 12.
      const first = await failFrom(`203.0.113.${round}`);
      waits.push(first.waited);
      // That address's failure starts its next wait at once.
      const again = await submitLogin(first.b, first.html, user.email, PASSWORD);
      expect(again.status).toBe(429);
      expect(Number(again.headers.get('retry-after'))).toBe(Math.min(12, 5 * 2 ** round));
      for (let i = 0; i < 2; i++) await failFrom(`192.0.2.${10 * round + i}`);
    }
    expect(waits).toEqual([5, 10, 12, 12]);
  });

  it('[HARD-LOGIN-DEVICE-BUDGET] a device cookie has a budget of its own, and counts only for its own account and unaltered', async () => {
    let now = Date.now();
    await using s = await startAuthServer({ TRUST_PROXY: 'loopback', LOGIN_MAX_FAILURES_PER_ACCOUNT: '2', LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES: '2' }, { now: () => now });
    const client = await seedClient(s);
    const alice = await seedUser(s, 'viewer');
    const bob = await seedUser(s, 'admin');
    const laptop = new Browser(s.url, from('203.0.113.9'));
    expect((await submitLogin(laptop, (await start(s, laptop, client.id)).html, alice.email)).status).toBe(303);
    const device = laptop.cookies.get('device')!;
    const bobs = new Browser(s.url, from('203.0.113.20'));
    expect((await submitLogin(bobs, (await start(s, bobs, client.id)).html, bob.email)).status).toBe(303);
    // Bob's account is under attack (2 failures from elsewhere); Alice's is too.
    for (const who of [alice, bob]) for (let i = 0; i < 2; i++) expect((await login(s, client.id, who.email, 'x', from(`198.51.100.${i}`))).status).toBe(200);

    // Alice's cookie is no device of Bob's, nor is an altered one of Alice's: both are new devices (delayed).
    const moved = new Browser(s.url, from('203.0.113.9'));
    moved.cookies.set('device', device);
    expect((await submitLogin(moved, (await start(s, moved, client.id)).html, bob.email)).status).toBe(429);
    const [id, issued, mac] = device.split('.');
    for (const forged of [`${id}.${Number(issued) + 1}.${mac}`, `${'A'.repeat(22)}.${issued}.${mac}`, `${id}.${issued}.${'A'.repeat(43)}`]) {
      const b = new Browser(s.url, from('203.0.113.50'));
      b.cookies.set('device', forged);
      const res = await submitLogin(b, (await start(s, b, client.id)).html, alice.email);
      expect(res.status, forged).toBe(429);
      expect(await res.text()).toContain('sign-ins from new devices are slowed down');
    }

    // The device's own failures lock the device only (after LOGIN_MAX_FAILURES_PER_DEVICE, here 2).
    for (let i = 0; i < 2; i++) expect((await submitLogin(laptop, (await start(s, laptop, client.id)).html, alice.email, 'typo')).status).toBe(200);
    const locked = await submitLogin(laptop, (await start(s, laptop, client.id)).html, alice.email);
    expect(locked.status).toBe(429);
    expect(await locked.text()).toContain('Too many sign-in attempts');

    // Bob's own device signs in at once; once its cookie is older than LOGIN_DEVICE_COOKIE_TTL_SECONDS it is a new device again.
    expect((await submitLogin(bobs, (await start(s, bobs, client.id)).html, bob.email)).status).toBe(303);
    now += (s.config.login.deviceCookieTtlSeconds + 1) * 1000;
    expect((await submitLogin(bobs, (await start(s, bobs, client.id)).html, bob.email)).status).toBe(429);
  });

  it('[HARD-LOGIN-IPV6-WIDE] [HARD-LOGIN-DELAY-NOT-LOCK] one IPv6 /48 spread over its /64s is one address: it gets five guesses, and the account stays open to others', async () => {
    // Starting 80 sign-ins from one /48 would itself hit the per-address authorize rate.
    await using s = await startAuthServer({ TRUST_PROXY: 'loopback', AUTHORIZE_RATE_LIMIT_PER_MINUTE: '1000' });
    const client = await seedClient(s);
    const admin = await seedUser(s, 'admin');
    const statuses: number[] = [];
    // Sixteen /64s of one /60 (and so of one /48), five guesses each: with /64 keys this was 80 failures.
    for (let net = 0; net < 16; net++) {
      for (let i = 0; i < 5; i++) statuses.push((await login(s, client.id, admin.email, `g${net}-${i}`, from(`2001:db8:aa:${net.toString(16)}::${i + 1}`))).status);
    }
    expect(statuses.filter((x) => x === 200)).toHaveLength(5);
    expect(statuses.slice(5).every((x) => x === 429)).toBe(true);
    // Five failures are far below the account-wide threshold: a new address signs in at once.
    expect((await login(s, client.id, admin.email, PASSWORD, from('203.0.113.4'))).status).toBe(303);
    expect((await login(s, client.id, admin.email, PASSWORD, from('2001:db8:ab::1'))).status).toBe(303);
  });
});

describe('pending sign-ins under a flood', () => {
  it('[HARD-PENDING-PER-ADDRESS] [HARD-LOGIN-IPV6-WIDE] one address (a /48 over many /64s) starting many sign-ins replaces only its own; a full store refuses nobody', async () => {
    await using s = await startAuthServer({
      TRUST_PROXY: 'loopback',
      AUTHORIZE_RATE_LIMIT_PER_MINUTE: '1000',
      AUTHORIZE_MAX_PENDING_PER_ADDRESS: '5',
      AUTHORIZE_MAX_PENDING: '12',
    });
    const client = await seedClient(s);
    const user = await seedUser(s, 'viewer');
    const url = authorizeUrl(s, validParams(client.id, client.redirectUris[0]!));
    const victim = new Browser(s.url, { 'x-forwarded-for': '203.0.113.9' });
    const { html } = await startAuthorization(victim, url);

    const flood = async (address: string) => (await new Browser(s.url, { 'x-forwarded-for': address }).get(url)).status;
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push(await flood(`2001:db8:66:${i.toString(16)}::1`));
    expect(statuses.every((x) => x === 303)).toBe(true);
    const perAddress = async () => Object.fromEntries((await s.sql<{ address_key: string; n: number }>(
      'select address_key, count(*) as n from pending_authorizations group by address_key',
    )).map((r) => [r.address_key, Number(r.n)]));
    expect(await perAddress()).toEqual({ '203.0.113.9': 1, '2001:db8:66::/48': 5 });

    // Three more flooding addresses fill the store (12): still nobody is refused, the heaviest give way.
    for (const a of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) for (let i = 0; i < 10; i++) statuses.push(await flood(a));
    expect(statuses.every((x) => x === 303)).toBe(true);
    const late = new Browser(s.url, { 'x-forwarded-for': '203.0.113.10' });
    const { html: lateHtml } = await startAuthorization(late, url);
    const counts = await perAddress();
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(12);
    expect(counts).toMatchObject({ '203.0.113.9': 1, '203.0.113.10': 1 });

    // Both people sign in: the one who started before the flood and the one who started when the store was full.
    for (const [b, page] of [[victim, html], [late, lateHtml]] as const) {
      const res = await submitLogin(b, page, user.email);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toMatch(/^consent\?request=/);
    }
  });
});

describe('making room in a full pending store', () => {
  it('[HARD-PENDING-PER-ADDRESS] takes from whichever address holds the most, one at a time, in batches of 1% of the cap', () => {
    const groups = [{ key: 'flood-a', n: 5 }, { key: 'flood-b', n: 4 }, { key: 'victim', n: 1 }];
    expect(Object.fromEntries(evictionPlan(groups, 3))).toEqual({ 'flood-a': 2, 'flood-b': 1 });
    // The victim's one goes only once every address is down to one, and then last (listed last).
    expect(Object.fromEntries(evictionPlan(groups, 8))).toEqual({ 'flood-a': 5, 'flood-b': 3 });
    expect(Object.fromEntries(evictionPlan(groups, 10))).toEqual({ 'flood-a': 5, 'flood-b': 4, victim: 1 });
    // Ties: the address listed first (its oldest entry is oldest).
    expect(Object.fromEntries(evictionPlan([{ key: 'x', n: 1 }, { key: 'y', n: 1 }], 1))).toEqual({ x: 1 });
    expect(evictionBatch(10_000, 10_000)).toBe(101);
    expect(evictionBatch(12, 12)).toBe(1);
  });
});
