import { describe, expect, it } from 'vitest';
import { redactedUrl } from '../src/index.ts';

describe('request log lines', () => {
  it('[SEC-NO-SECRET-IN-LOGS] keep the path and the query keys, never a query value', () => {
    expect(redactedUrl('/reset-password?token=abc.def')).toBe('/reset-password?token=[redacted]');
    expect(redactedUrl('/federation/corp/callback?code=c0de&state=s7&iss=https%3A%2F%2Fidp')).toBe('/federation/corp/callback?code=[redacted]&state=[redacted]&iss=[redacted]');
    expect(redactedUrl('/authorize?flag&x=1&')).toBe('/authorize?flag=[redacted]&x=[redacted]');
    expect(redactedUrl('/jwks')).toBe('/jwks');
  });
});
