import { describe, expect, it } from 'vitest';
import { argon2SlotState, withArgon2Slot } from '../src/services/argon2-slots.ts';

describe('argon2 slots', () => {
  it('runs at most max argon2 operations at once, in arrival order, and frees every slot (also on failure)', async () => {
    const { max } = argon2SlotState();
    expect(max).toBeGreaterThanOrEqual(1);
    let inFlight = 0;
    let peak = 0;
    const started: number[] = [];
    const op = (i: number) => withArgon2Slot(async () => {
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
    expect(argon2SlotState()).toEqual({ max, running: 0, waiting: 0 });
  });
});
