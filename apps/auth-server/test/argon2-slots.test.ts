import { describe, expect, it } from 'vitest';
import { OAuthError } from '@stack/oauth';
import { createArgon2Slots } from '../src/services/argon2-slots.ts';

describe('argon2 slots', () => {
  it('runs at most max argon2 operations at once, in arrival order, and frees every slot (also on failure)', async () => {
    const slots = createArgon2Slots();
    const { max } = slots.state();
    expect(max).toBeGreaterThanOrEqual(1);
    let inFlight = 0;
    let peak = 0;
    const started: number[] = [];
    const op = (i: number) => slots.run(async () => {
      started.push(i);
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      if (i % 3 === 0) throw new Error('wrong password');
      return i;
    });
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => op(i)));
    expect(peak).toBe(max);
    expect(started).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(4);
    expect(slots.state()).toMatchObject({ max, running: 0, waiting: 0 });
  });

  it('[AUTH-ARGON2-BOUNDED] refuses work at once with 503 temporarily_unavailable + Retry-After when the queue is full, and accepts it again once the queue drains', async () => {
    const slots = createArgon2Slots();
    const { max, maxWaiting } = slots.state();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let ran = 0;
    const held = Array.from({ length: max + maxWaiting }, () => slots.run(async () => {
      ran++;
      await gate;
    }));
    expect(slots.state()).toMatchObject({ running: max, waiting: maxWaiting });

    let extraRan = false;
    const refused = await slots.run(async () => { extraRan = true; }).catch((e: unknown) => e);
    expect(extraRan).toBe(false);
    expect(refused).toBeInstanceOf(OAuthError);
    expect(refused).toMatchObject({ code: 'temporarily_unavailable', status: 503, retryAfter: expect.any(Number) });

    release();
    await Promise.all(held);
    expect(ran).toBe(max + maxWaiting);
    expect(await slots.run(async () => 'ok')).toBe('ok');
    expect(slots.state()).toMatchObject({ running: 0, waiting: 0 });
  });

  it('keeps its bound per instance (one per app or CLI command): another full set of slots refuses nothing here', async () => {
    const full = createArgon2Slots();
    const { max, maxWaiting } = full.state();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const held = Array.from({ length: max + maxWaiting }, () => full.run(() => gate));
    await expect(full.run(async () => 'refused')).rejects.toBeInstanceOf(OAuthError);

    const own = createArgon2Slots();
    expect(await own.run(async () => 'ok')).toBe('ok');
    expect(own.state()).toMatchObject({ running: 0, waiting: 0 });
    release();
    await Promise.all(held);
    expect(full.state()).toMatchObject({ running: 0, waiting: 0 });
  });
});
