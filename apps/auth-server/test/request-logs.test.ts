import { describe, expect, it } from 'vitest';
import { createResetLink } from '../src/services/password-resets.ts';
import { capturedLog, startAuthServer } from './helpers.ts';
import { addUser } from './token-fixtures.ts';

describe('request logs', () => {
  it('[SEC-NO-SECRET-IN-LOGS] a password reset link opened at LOG_LEVEL=info leaves its path in the log, never its token', async () => {
    const log = capturedLog('info');
    await using s = await startAuthServer({}, { logger: log.logger });
    const user = await addUser(s);
    const link = await createResetLink(s.app.ctx.store, s.url, user.id, Date.now());
    const token = new URL(link.url).searchParams.get('token')!;
    expect(token.length).toBeGreaterThan(20);
    expect((await fetch(link.url)).status).toBe(200);
    const text = JSON.stringify(log.lines());
    expect(text).toContain('/reset-password?token=[redacted]');
    expect(text).not.toContain(token);
  });
});
