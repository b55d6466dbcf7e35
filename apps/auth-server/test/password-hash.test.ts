import argon2 from 'argon2';
import { describe, expect, it } from 'vitest';
import { ARGON2_OPTIONS, DUMMY_PASSWORD_HASH } from '../src/services/users.ts';

describe('password hashing', () => {
  it('[RFC9700-BRUTE-FORCE] an unknown email is checked against a hash made with the parameters of real password hashes, so it costs the same', () => {
    expect(DUMMY_PASSWORD_HASH).toMatch(/^\$argon2id\$/);
    expect(argon2.needsRehash(DUMMY_PASSWORD_HASH, ARGON2_OPTIONS)).toBe(false);
  });
});
