import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { SHARED_REDIS_URL, eventually, startTestRedis, uniquePrefix, type TestRedis } from '../../../packages/redis/test/redis-server.ts';
import type { Role } from '@stack/oauth';
import type { BuildOptions } from '../src/app.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, PASSWORD, authorizeUrl, seedClient, seedUser, startAuthorization, submitLogin, validParams } from './authorize-flow.ts';

const NATIVE = { client_name: 'Test CLI', redirect_uris: ['http://127.0.0.1:33418/callback'], application_type: 'native', token_endpoint_auth_method: 'none' };

const register = (s: TestAuthServer) =>
  fetch(`${s.url}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(NATIVE) });

/** A revocation request (RFC 7009) from a client that does not exist: one failed client authentication. */
const badClient = (s: TestAuthServer) =>
  fetch(`${s.url}/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('nobody:wrong').toString('base64')}` },
    body: 'token=not-a-token',
  });

/** One login attempt at `s` through the real pages (authorize → login form → POST). */
async function login(s: TestAuthServer, clientId: string, email: string, password: string): Promise<Response> {
  const b = new Browser(s.url);
  const { html } = await startAuthorization(b, authorizeUrl(s, validParams(clientId, 'https://app.example.com/callback')));
  return submitLogin(b, html, email, password);
}

/**
 * Two instances on separate databases sharing Redis (the limits are keyed by email and address, not by
 * anything stored), each with a seeded client, noted in `clients`, and the user `email` of `role`.
 */
async function startTwo(
  env: Record<string, string>, opts: BuildOptions, user: { email: string; role: Role }, clients: Map<TestAuthServer, string>,
): Promise<[TestAuthServer, TestAuthServer]> {
  const pair: [TestAuthServer, TestAuthServer] = [await startAuthServer(env, opts), await startAuthServer(env, opts)];
  for (const s of pair) {
    clients.set(s, (await seedClient(s)).id);
    await seedUser(s, user.role, user.email);
  }
  return pair;
}

describe('two authorization-server instances sharing Redis', () => {
  let a: TestAuthServer;
  let b: TestAuthServer;
  const clients = new Map<TestAuthServer, string>();
  const email = `victim-${randomBytes(4).toString('hex')}@example.com`;

  beforeAll(async () => {
    const env = {
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_KEY_PREFIX: uniquePrefix('auth'),
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '4',
      LOGIN_MAX_FAILURES_PER_ADDRESS: '6',
      REGISTRATION_RATE_LIMIT_PER_HOUR: '3',
    };
    [a, b] = await startTwo(env, {}, { email, role: 'viewer' }, clients);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('[SCALE-REDIS-ABUSE-LIMITS] [RFC9700-BRUTE-FORCE] failed logins per account and per address count across instances', async () => {
    // Four wrong passwords, alternating instances, use up the account's budget on both.
    for (const [i, s] of [a, b, a, b].entries()) {
      const res = await login(s, clients.get(s)!, email, `wrong-${i}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('The email or password is incorrect.');
    }
    for (const s of [a, b]) {
      const locked = await login(s, clients.get(s)!, email, PASSWORD);
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // The address has 4 of its 6 failures: two more (other accounts, either instance), then locked everywhere.
    expect((await login(a, clients.get(a)!, 'x1@example.com', 'x')).status).toBe(200);
    expect((await login(b, clients.get(b)!, 'x2@example.com', 'x')).status).toBe(200);
    expect((await login(a, clients.get(a)!, 'x3@example.com', 'x')).status).toBe(429);
    expect((await login(b, clients.get(b)!, 'x4@example.com', 'x')).status).toBe(429);
  });

  it('[SCALE-REDIS-ABUSE-LIMITS] failed client authentications per address count across instances', async () => {
    const statuses = [];
    for (const s of [a, b, a, b, a, b]) statuses.push((await badClient(s)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401]);
    for (const s of [a, b]) {
      const res = await badClient(s);
      expect(res.status).toBe(429);
      expect(await res.json()).toMatchObject({ error: 'rate_limited' });
    }
  });

  it('[SCALE-REDIS-ABUSE-LIMITS] registrations per address count across instances', async () => {
    const statuses = await Promise.all([a, b, a, b, a].map(async (s) => (await register(s)).status));
    expect(statuses.filter((x) => x === 201)).toHaveLength(3);
    expect(statuses.filter((x) => x === 429)).toHaveLength(2);
  });
});

describe('two instances sharing Redis under the lockout attack', () => {
  let a: TestAuthServer;
  let b: TestAuthServer;
  let now = Date.now();
  const clients = new Map<TestAuthServer, string>();
  const email = `admin-${randomBytes(4).toString('hex')}@example.com`;
  const from = (address: string) => ({ 'x-forwarded-for': address });
  const start = (s: TestAuthServer, br: Browser) => startAuthorization(br, authorizeUrl(s, validParams(clients.get(s)!, 'https://app.example.com/callback')));

  beforeAll(async () => {
    const env = {
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_KEY_PREFIX: uniquePrefix('auth-lockout'),
      TRUST_PROXY: 'loopback',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '2',
      LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES: '6',
      // Instances behind one load balancer share the key-encryption key, so each accepts the other's device cookies.
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    };
    [a, b] = await startTwo(env, { now: () => now }, { email, role: 'admin' }, clients);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('[SCALE-REDIS-ABUSE-LIMITS] [HARD-LOGIN-DEVICE-BUDGET] [HARD-LOGIN-DELAY-NOT-LOCK] a known device signs in on either instance at once, and a new address after one wait shared by both', async () => {
    const laptop = new Browser(a.url, from('203.0.113.9'));
    expect((await submitLogin(laptop, (await start(a, laptop)).html, email)).status).toBe(303);
    // Three addresses, two wrong passwords each, alternating instances: the account-wide threshold (6).
    for (let i = 0; i < 6; i++) {
      const s = i % 2 ? b : a;
      const br = new Browser(s.url, from(`198.51.100.${Math.floor(i / 2)}`));
      expect((await submitLogin(br, (await start(s, br)).html, email, `wrong-${i}`)).status).toBe(200);
    }
    // The device cookie issued by instance a is honoured by b.
    const onB = new Browser(b.url, from('203.0.113.9'));
    onB.cookies.set('device', laptop.cookies.get('device')!);
    expect((await submitLogin(onB, (await start(b, onB)).html, email)).status).toBe(303);

    // A new address is told to wait by a; asking b instead does not skip the wait; after it, b signs in.
    const phone = new Browser(a.url, from('192.0.2.7'));
    const delayed = await submitLogin(phone, (await start(a, phone)).html, email);
    expect(delayed.status).toBe(429);
    const wait = Number(delayed.headers.get('retry-after'));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(30);
    const phoneOnB = new Browser(b.url, from('192.0.2.7'));
    const { html } = await start(b, phoneOnB);
    expect((await submitLogin(phoneOnB, html, email)).status).toBe(429);
    now += wait * 1000;
    const { html: again } = await start(b, phoneOnB);
    expect((await submitLogin(phoneOnB, again, email)).status).toBe(303);
  });
});

describe('authorization server when Redis goes away', () => {
  let redis: TestRedis;
  let s: TestAuthServer;
  let clientId: string;
  const log: string[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    s = await startAuthServer(
      { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('auth-outage'), LOG_LEVEL: 'info' },
      { logger: { level: 'info', stream: { write: (line: string) => void log.push(line) } } },
    );
    clientId = (await seedClient(s)).id;
  });
  afterAll(async () => {
    await s?.close();
    await redis?.close();
  });

  it('[SCALE-FAIL-CLOSED] refuses limited endpoints with 503 + Retry-After while Redis is down, logs once, and recovers', async () => {
    expect((await badClient(s)).status).toBe(401);
    // A sign-in started before the outage reaches its login form; one started during it does not.
    const browser = new Browser(s.url);
    const { html: form } = await startAuthorization(browser, authorizeUrl(s, validParams(clientId, 'https://app.example.com/callback')));
    await redis.stop();

    for (let i = 0; i < 5; i++) {
      const res = await badClient(s);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await res.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'a shared store is unavailable, retry later' });
    }
    const reg = await register(s);
    expect([reg.status, reg.headers.get('retry-after')]).toEqual([503, '5']);
    // The login page refuses the attempt (a page, not JSON) instead of letting it through uncounted.
    const page = await submitLogin(browser, form, 'someone@example.com', PASSWORD);
    expect([page.status, page.headers.get('retry-after')]).toEqual([503, '5']);
    expect(await page.text()).toContain('Temporarily unavailable');
    // New sign-ins are counted per address (AUTHORIZE_RATE_LIMIT_PER_MINUTE) in Redis too: refused, not uncounted.
    const start = await new Browser(s.url).get(authorizeUrl(s, validParams(clientId, 'https://app.example.com/callback')));
    expect([start.status, start.headers.get('retry-after')]).toEqual([503, '5']);

    const outage = log.filter((l) => l.includes('redis unavailable'));
    expect(outage).toHaveLength(1);
    expect(outage[0]).not.toContain(redis.url);

    await redis.start();
    expect(await eventually(async () => (await badClient(s)).status === 401, 8000)).toBe(true);
    expect((await register(s)).status).toBe(201);
    expect(log.some((l) => l.includes('redis connection restored'))).toBe(true);
  });
});

describe('client assertions across instances sharing Redis', () => {
  it('[RFC7523-JTI-REPLAY] [EXT-CC-AUTH-METHODS] an assertion accepted by one instance is refused by the other (invalid_client)', async () => {
    const env = { REDIS_URL: SHARED_REDIS_URL, REDIS_KEY_PREFIX: uniquePrefix('auth-jti') };
    await using a = await startAuthServer(env);
    await using b = await startAuthServer(env);
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const id = `machine-${randomBytes(4).toString('hex')}`;
    for (const s of [a, b]) {
      await s.app.ctx.store.clients.insert({
        id, source: 'admin', secretHash: null, clientName: 'job', redirectUris: [], grantTypes: ['client_credentials'],
        tokenEndpointAuthMethod: 'private_key_jwt', applicationType: 'web', scope: 'db:read', metadata: {}, createdAt: Date.now(),
        metadataExpiresAt: null, revokedAt: null, role: 'viewer', jwks: { keys: [await exportJWK(publicKey)] },
      });
    }
    const now = Math.floor(Date.now() / 1000);
    // The test instances have different issuer URLs (in production they share one), so each gets the
    // same client and jti with its own aud: the replay key is the client and jti, whatever the audience.
    const jti = randomBytes(8).toString('hex');
    const sign = (aud: string) => new SignJWT({ jti }).setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setIssuer(id).setSubject(id).setAudience(aud).setIssuedAt(now).setExpirationTime(now + 300).sign(privateKey);
    const post = async (s: TestAuthServer) => fetch(`${s.url}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials', resource: 'http://127.0.0.1:4999/mcp',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await sign(s.url),
      }).toString(),
    });
    expect((await post(a)).status).toBe(200);
    const replay = await post(b);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: 'invalid_client', error_description: expect.stringContaining('already been used') });
  });
});
