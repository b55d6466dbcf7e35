/**
 * Lets a repeated condition (a store that is down, a feed that fails) be logged once per interval
 * instead of once per request: `due(key)` is true the first time and then at most every `intervalMs`.
 */
export interface LogThrottle {
  due(key: string): boolean;
  /** Forgets `key`, so the next occurrence is logged at once (after a recovery). */
  reset(key: string): void;
}

export function createLogThrottle(intervalMs: number, now: () => number = Date.now): LogThrottle {
  const last = new Map<string, number>();
  return {
    due(key) {
      const t = now();
      const prev = last.get(key);
      if (prev !== undefined && t - prev < intervalMs) return false;
      last.set(key, t);
      return true;
    },
    reset(key) {
      last.delete(key);
    },
  };
}
