import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeProtectedHeader } from 'jose';
import { ConfigError } from '@stack/config';
import { createJwtVerifier } from '@stack/mcp-auth';
import { loadAuthConfig } from '../src/config.ts';
import { PUBLISH_LEAD_MS, scheduledLeadMs, type KeyPairSource } from '../src/services/keys.ts';
import { rotationCheckMs, startKeyRotation } from '../src/services/key-rotation.ts';
import { openTestDatabase, startAuthServer, testKeyPair, type TestAuthServer } from './helpers.ts';
import { admin } from './cli-helpers.ts';
import { RESOURCE, login, testClock, useTokenServer, type TestClient } from './token-fixtures.ts';
import type { UserRecord } from '../src/services/users.ts';

const DAY_MS = 86_400_000;
const kidOf = (token: unknown) => decodeProtectedHeader(String(token)).kid;
const jwksKids = async (s: TestAuthServer) => ((await (await fetch(`${s.url}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort();
const states = async (s: TestAuthServer) => Object.fromEntries((await s.app.ctx.keys.list()).map((k) => [k.kid, k.state]));

/**
 * A key-pair source that, once armed, holds every caller until `n` of them wait: each instance's
 * rotation has then passed its own "is one due?" read before any writes, so only the store's
 * conditional write can keep them from both rotating.
 */
function barrierKeyPair(): { source: KeyPairSource; arm: (n: number) => void } {
  let need = 0;
  let waiting: (() => void)[] = [];
  return {
    arm: (n) => { need = n; waiting = []; },
    source: () => {
      if (need === 0) return testKeyPair();
      return new Promise((resolve) => {
        waiting.push(() => resolve(testKeyPair()));
        if (waiting.length === need) {
          need = 0;
          for (const go of waiting) go();
        }
      });
    },
  };
}

describe('SIGNING_KEY_ROTATION_DAYS', () => {
  const load = (v: string, env = 'test') => loadAuthConfig({ NODE_ENV: env, SIGNING_KEY_ROTATION_DAYS: v, AUTH_ISSUER: 'https://as.example', MCP_PUBLIC_ORIGIN: 'https://mcp.example', KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'), TRUST_PROXY: '1' });

  it('[KEYROT-1] defaults to 90 days, 0 turns it off, and nonsense is refused at start', () => {
    expect(loadAuthConfig({ NODE_ENV: 'test' }).signingKeyRotationMs).toBe(90 * DAY_MS);
    expect(load('0').signingKeyRotationMs).toBe(0);
    expect(load('30', 'production').signingKeyRotationMs).toBe(30 * DAY_MS);
    expect(load('0.0001').signingKeyRotationMs).toBe(8640);
    for (const bad of ['-1', 'abc', 'Infinity', '3651', '0.00005']) {
      expect(() => load(bad), bad).toThrow(ConfigError);
    }
    // Fractions of a day are for trying rotation out; production keys sign for a day at least.
    expect(() => load('0.5', 'production')).toThrow(/SIGNING_KEY_ROTATION_DAYS: must be 0 \(off\) or at least 1 in production/);
    expect(load('1.5', 'production').signingKeyRotationMs).toBe(1.5 * DAY_MS);
  });

  it('[KEYROT-1] short development periods shorten the publish lead and the check interval; real ones keep PUBLISH_LEAD_MS and a minute', () => {
    expect(scheduledLeadMs(DAY_MS)).toBe(PUBLISH_LEAD_MS);
    expect(rotationCheckMs(DAY_MS)).toBe(60_000);
    expect(scheduledLeadMs(8640)).toBe(2160);
    expect(rotationCheckMs(8640)).toBe(1080);
  });
});

describe('scheduled signing-key rotation', () => {
  let s: TestAuthServer;
  let client: TestClient;
  let user: UserRecord;
  const { clock } = useTokenServer((t) => ({ s, client, user } = t), { SIGNING_KEY_ROTATION_DAYS: '1' });
  const check = () => s.app.ctx.keyRotation!.check();

  it('[KEYROT-2] rotates nothing before the period, then publishes the next key before it signs, audited', async () => {
    const first = (await s.app.ctx.keys.active()).kid;
    clock.advance(DAY_MS - 1);
    expect(await check()).toBeUndefined();
    expect(await jwksKids(s)).toEqual([first]);

    clock.advance(1);
    const r = await check();
    expect(r).toMatchObject({ previous: [first], signsFrom: clock.now() + PUBLISH_LEAD_MS });
    const next = r!.kid;
    // Published at once, signing still with the first key until the lead has passed.
    expect(await jwksKids(s)).toEqual([first, next].sort());
    expect(await states(s)).toEqual({ [first]: 'current', [next]: 'next' });
    expect(kidOf((await login(s, client, user)).access_token)).toBe(first);
    // A next key waits: no second rotation however often instances check.
    expect(await check()).toBeUndefined();
    clock.advance(PUBLISH_LEAD_MS - 1);
    expect(await check()).toBeUndefined();
    expect(kidOf((await login(s, client, user)).access_token)).toBe(first);
    clock.advance(1);
    expect(kidOf((await login(s, client, user)).access_token)).toBe(next);
    expect(await states(s)).toEqual({ [first]: 'retired', [next]: 'current' });

    expect(s.auditEvents().filter((e) => e.event === 'key.rotated')).toEqual([expect.objectContaining({
      actor: 'scheduler', decision: 'allow', kid: next, previous_kid: first, reason: expect.stringMatching(/^scheduled: /),
    })]);

    // The period runs from the newest key's creation: the next rotation comes a day after it.
    clock.advance(DAY_MS - PUBLISH_LEAD_MS - 1);
    expect(await check()).toBeUndefined();
    clock.advance(1);
    expect((await check())?.previous).toEqual([next]);
  });

  it('[KEYROT-3] tokens the old key signed keep verifying until they expire, then the old key leaves the JWKS', async () => {
    const first = (await s.app.ctx.keys.active()).kid;
    clock.advance(DAY_MS);
    const { kid: next } = (await check())!;
    clock.advance(PUBLISH_LEAD_MS - 1);
    const old = String((await login(s, client, user)).access_token); // the last token the old key signs
    expect(kidOf(old)).toBe(first);
    clock.advance(1);
    expect(kidOf((await login(s, client, user)).access_token)).toBe(next);

    // A verifier that knows nothing yet (a fresh MCP server) gets the old key from the JWKS.
    const fresh = () => createJwtVerifier({ issuer: s.url, audience: RESOURCE, jwksUrl: `${s.url}/jwks`, now: clock.now });
    await expect(fresh().verify(old)).resolves.toMatchObject({ subject: user.id });
    clock.advance(s.config.accessTokenTtl * 1000 - 2_000); // just before the old token expires
    await expect(fresh().verify(old)).resolves.toMatchObject({ subject: user.id });
    expect(await jwksKids(s)).toEqual([first, next].sort());

    // Its last token has expired (TTL + 60 s skew after the switch): dropped from the JWKS.
    clock.advance(60_000 + 2_000);
    expect(await jwksKids(s)).toEqual([next]);
    expect((await s.app.ctx.keys.list()).find((k) => k.kid === first)).toMatchObject({ state: 'retired', published: false });
  });

  it('[KEYROT-2] the timer runs the check without being asked, with jitter, and close() stops it', async () => {
    let calls = 0;
    const rotation = startKeyRotation({
      keys: { ...s.app.ctx.keys, rotateIfDue: async () => { calls++; return undefined; } },
      periodMs: DAY_MS, everyMs: 20, random: () => 1, onRotated: () => {}, onError: () => {},
    });
    await expect.poll(() => calls, { timeout: 2_000 }).toBeGreaterThanOrEqual(3);
    await rotation.close();
    const after = calls;
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toBe(after);
  });
});

describe('two instances on one database', () => {
  const servers: TestAuthServer[] = [];
  afterEach(async () => { await Promise.all(servers.splice(0).map((x) => x.close())); });

  it('[KEYROT-4] checking at the same moment, two buildApp instances on one database make exactly one rotation', async () => {
    const clock = testClock();
    const gate = barrierKeyPair();
    // One key-encryption key for both, as every instance sharing a database has.
    const env = { SIGNING_KEY_ROTATION_DAYS: '1', KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
    const a = await startAuthServer(env, { now: clock.now, keyPair: gate.source });
    servers.push(a);
    // The second instance opens the first one's database (the SQLite file, or the PostgreSQL schema).
    const b = await startAuthServer({ ...env, ...a.dbEnv }, { now: clock.now, keyPair: gate.source });
    servers.push(b);
    const first = (await a.app.ctx.keys.active()).kid;
    expect((await b.app.ctx.keys.active()).kid).toBe(first);

    clock.advance(DAY_MS);
    gate.arm(2);
    const results = await Promise.all([a.app.ctx.keyRotation!.check(), b.app.ctx.keyRotation!.check()]);
    const made = results.filter((r) => r !== undefined);
    expect(made).toHaveLength(1);
    expect(await states(a)).toEqual({ [first]: 'current', [made[0]!.kid]: 'next' });
    expect(await jwksKids(b)).toEqual(await jwksKids(a));
    expect(await jwksKids(a)).toHaveLength(2);
    // Audited once, by the instance that made it.
    const audited = [...a.auditEvents(), ...b.auditEvents()].filter((e) => e.event === 'key.rotated');
    expect(audited).toEqual([expect.objectContaining({ kid: made[0]!.kid })]);
  });
});

describe('without scheduled rotation', () => {
  it('[KEYROT-1] SIGNING_KEY_ROTATION_DAYS=0 starts no scheduler', async () => {
    await using s = await startAuthServer({ SIGNING_KEY_ROTATION_DAYS: '0' });
    expect(s.app.ctx.keyRotation).toBeUndefined();
  });
});

describe('keys list', () => {
  it('[KEYROT-2] tells operators when a running server adds the next key, or that scheduled rotation is off', async () => {
    const db = await openTestDatabase();
    try {
      await admin(db.env, ['keys', 'rotate']);
      const [key] = JSON.parse((await admin(db.env, ['keys', 'list', '--json'])).stdout) as { createdAt: number }[];
      const due = new Date(key!.createdAt + 30 * DAY_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const on = await admin({ ...db.env, SIGNING_KEY_ROTATION_DAYS: '30' }, ['keys', 'list']);
      expect(on.stdout.trim().split('\n').at(-1)).toBe(`scheduled rotation: every 30 days (SIGNING_KEY_ROTATION_DAYS); a running server adds the next key at ${due}`);
      const off = await admin({ ...db.env, SIGNING_KEY_ROTATION_DAYS: '0' }, ['keys', 'list']);
      expect(off.stdout.trim().split('\n').at(-1)).toBe('scheduled rotation: off (SIGNING_KEY_ROTATION_DAYS=0); rotate with keys rotate');
    } finally {
      await db.close();
    }
  });
});
