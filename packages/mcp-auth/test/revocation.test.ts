import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRevocationPoller, createStaticRevocationList } from '../src/index.ts';
import { FakeAuthServer } from './helpers.ts';

let as: FakeAuthServer;
let clock: number;
const now = () => clock;

beforeEach(async () => {
  as = await new FakeAuthServer().start();
  clock = 1_800_000_000_000;
});
afterEach(() => as.stop());

describe('createRevocationPoller', () => {
  it('polls GET url?since=ms and remembers each jti until its token expires', async () => {
    as.revoked = [
      { jti: 'a', expiresAt: clock + 60_000, revokedAt: clock - 1_000 },
      { jti: 'b', expiresAt: clock + 120_000, revokedAt: clock - 1_000 },
      { jti: 'gone', expiresAt: clock - 1, revokedAt: clock - 500_000 },
    ];
    const p = createRevocationPoller({ url: `${as.url}/revocations`, intervalMs: 10_000, now });
    expect(p.isRevoked('a')).toBe(false);
    await p.refresh();
    expect(as.revocationQueries).toEqual([0]);
    expect([p.isRevoked('a'), p.isRevoked('b'), p.isRevoked('gone'), p.isRevoked('c')]).toEqual([true, true, false, false]);

    const secondPollAt = clock + 30_000;
    clock = secondPollAt;
    as.revoked.push({ jti: 'c', expiresAt: clock + 60_000, revokedAt: clock });
    await p.refresh();
    // Asks again from a minute before the previous poll (clock skew between the servers).
    expect(as.revocationQueries[1]).toBe(1_800_000_000_000 - 60_000);
    expect(p.isRevoked('c')).toBe(true);

    clock += 31_000; // past a's expiry: the token is rejected on exp anyway
    expect(p.isRevoked('a')).toBe(false);
    expect(p.isRevoked('b')).toBe(true);
  });

  it("follows the server's 'next' cursor and fetches at once while 'complete' is false", async () => {
    const t = 1_000_000;
    const pages: Record<string, unknown> = {
      '0': { revoked: [{ jti: 'p1', expiresAt: clock + 60_000 }], next: t + 500, complete: false },
      [t + 500]: { revoked: [{ jti: 'p2', expiresAt: clock + 60_000 }], next: t + 900, complete: true },
    };
    const asked: string[] = [];
    const fakeFetch: typeof fetch = async (input) => {
      const since = new URL(input instanceof Request ? input.url : input).searchParams.get('since')!;
      asked.push(since);
      return new Response(JSON.stringify(pages[since] ?? { revoked: [] }), { status: 200 });
    };
    const p = createRevocationPoller({ url: 'http://127.0.0.1:1/revocations', intervalMs: 1_000, now, fetch: fakeFetch });
    await p.refresh();
    expect(asked).toEqual(['0', String(t + 500)]);
    expect([p.isRevoked('p1'), p.isRevoked('p2')]).toEqual([true, true]);
    await p.refresh();
    // The next poll starts a minute before the highest cursor (REVOCATION_OVERLAP_MS).
    expect(asked).toEqual(['0', String(t + 500), String(t + 900 - 60_000)]);
  });

  it('[SCALE-REDIS-REVOCATION] fetches a revocation committed after a poll with an earlier revokedAt than ones already fetched', async () => {
    // The feed as the authorization server serves it: revokedAt >= since, oldest first, next = the last revokedAt.
    const rows: Array<{ jti: string; expiresAt: number; revokedAt: number }> = [];
    const asked: number[] = [];
    const feed: typeof fetch = async (input) => {
      const since = Number(new URL(input instanceof Request ? input.url : input).searchParams.get('since'));
      asked.push(since);
      const list = rows.filter((r) => r.revokedAt >= since).sort((a, b) => a.revokedAt - b.revokedAt);
      const next = list.length ? list[list.length - 1]!.revokedAt : since;
      return new Response(JSON.stringify({ revoked: list.map(({ jti, expiresAt }) => ({ jti, expiresAt })), next, complete: true }), { status: 200 });
    };
    const p = createRevocationPoller({ url: 'http://127.0.0.1:1/revocations', intervalMs: 1_000, now, fetch: feed });
    const exp = clock + 600_000;
    rows.push({ jti: 'B', expiresAt: exp, revokedAt: clock });
    await p.refresh();
    expect(p.isRevoked('B')).toBe(true);
    // A took its timestamp 50 ms before B (a slower transaction, another instance's clock) and commits now.
    rows.push({ jti: 'A', expiresAt: exp, revokedAt: clock - 50 });
    await p.refresh();
    expect(p.isRevoked('A')).toBe(true);
    // Quiet polls keep the window where it was: the cursor never drifts back with each poll.
    await p.refresh();
    await p.refresh();
    expect(asked.slice(1)).toEqual([clock - 60_000, clock - 60_000, clock - 60_000]);
  });

  it('keeps the previous list when the feed fails, and reports the error', async () => {
    as.revoked = [{ jti: 'a', expiresAt: clock + 60_000, revokedAt: clock }];
    const errors: unknown[] = [];
    const p = createRevocationPoller({ url: `${as.url}/revocations`, intervalMs: 10_000, now, onError: (e) => errors.push(e) });
    await p.refresh();
    as.failRevocations = true;
    await expect(p.refresh()).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(p.isRevoked('a')).toBe(true);
    await as.stop();
    await p.refresh();
    expect(errors).toHaveLength(2);
    expect(p.isRevoked('a')).toBe(true);
  });

  it('skips malformed entries and bounds its size, dropping the soonest-expiring first', async () => {
    const body = {
      revoked: [
        { jti: 'ok', expiresAt: clock + 50_000 },
        { jti: 42, expiresAt: clock + 50_000 },
        { jti: 'x'.repeat(1000), expiresAt: clock + 50_000 },
        { jti: 'no-exp' },
        null,
        ...Array.from({ length: 5 }, (_, i) => ({ jti: `k${i}`, expiresAt: clock + 1_000 * (i + 1) })),
      ],
    };
    const fakeFetch: typeof fetch = async () => new Response(JSON.stringify(body), { status: 200 });
    const p = createRevocationPoller({ url: 'http://127.0.0.1:1/revocations', intervalMs: 1_000, now, fetch: fakeFetch, maxEntries: 3 });
    await p.refresh();
    expect(['ok', 'k0', 'k1', 'k2', 'k3', 'k4', 'no-exp'].filter((j) => p.isRevoked(j))).toEqual(['ok', 'k3', 'k4']);
  });

  it('rejects a response that is not a revocation list or is too large', async () => {
    const errors: unknown[] = [];
    let body = '{"nope":[]}';
    const fakeFetch: typeof fetch = async () => new Response(body, { status: 200 });
    const p = createRevocationPoller({ url: 'http://127.0.0.1:1/r', intervalMs: 1_000, now, fetch: fakeFetch, onError: (e) => errors.push(e) });
    await p.refresh();
    body = JSON.stringify({ revoked: [{ jti: 'a', expiresAt: clock + 1, pad: 'x'.repeat(6 * 1024 * 1024) }] });
    await p.refresh();
    expect(errors.map((e) => String(e))).toEqual([
      expect.stringContaining("no 'revoked' array"),
      expect.stringContaining('larger than'),
    ]);
    expect(p.isRevoked('a')).toBe(false);
  });

  it('start() polls at once and then on an unref’d interval until stop()', async () => {
    clock = Date.now();
    const spy = vi.spyOn(globalThis, 'setInterval');
    const p = createRevocationPoller({ url: `${as.url}/revocations`, intervalMs: 20, now });
    p.start();
    p.start(); // idempotent: one timer
    expect(spy).toHaveBeenCalledTimes(1);
    const timer = spy.mock.results[0]!.value as NodeJS.Timeout;
    spy.mockRestore();
    expect(timer.hasRef()).toBe(false); // never keeps the process alive
    expect(as.revocationQueries.length).toBeLessThanOrEqual(1);
    await vi.waitFor(() => expect(as.revocationQueries.length).toBeGreaterThanOrEqual(3), { timeout: 5_000, interval: 10 });
    p.stop();
    await new Promise((r) => setTimeout(r, 30)); // let an in-flight poll land
    const polls = as.revocationQueries.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(as.revocationQueries.length).toBe(polls);
  });
});

describe('createStaticRevocationList', () => {
  it('reports exactly the listed jtis', () => {
    const l = createStaticRevocationList(['a', 'b']);
    expect([l.isRevoked('a'), l.isRevoked('b'), l.isRevoked('c')]).toEqual([true, true, false]);
  });
});
