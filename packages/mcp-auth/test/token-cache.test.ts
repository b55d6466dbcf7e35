import { describe, expect, it } from 'vitest';
import { TokenCache, type CachedToken } from '../src/token-cache.ts';

const entry = (jti: string): CachedToken => ({
  identity: { kind: 'user', subject: jti, role: 'viewer', scopes: ['db:read'] },
  exp: 0,
  jti,
  keysGeneration: 1,
});

describe('TokenCache', () => {
  it('stays within its bound, evicting the least recently used entry', () => {
    const c = new TokenCache(2);
    c.set('a', entry('a'));
    c.set('b', entry('b'));
    expect(c.get('a')?.jti).toBe('a'); // a is now the most recently used
    c.set('c', entry('c'));
    expect(c.size).toBe(2);
    expect([c.get('a')?.jti, c.get('b'), c.get('c')?.jti]).toEqual(['a', undefined, 'c']);
  });

  it('caches nothing with size 0 and refuses a bad size', () => {
    const c = new TokenCache(0);
    c.set('a', entry('a'));
    expect(c.get('a')).toBeUndefined();
    expect(() => new TokenCache(-1)).toThrow(TypeError);
    expect(() => new TokenCache(1.5)).toThrow(TypeError);
  });
});
