import { tryConsume, type LimiterFactory } from '@stack/redis';

/** Second-factor attempts a person may get wrong before the factor is locked (RFC 4226 §7.3 throttling, which RFC 6238 §5.2 adopts). */
export const MFA_MAX_FAILURES = 5;
/** How long the lock lasts: a fixed window from the first failure. */
export const MFA_LOCKOUT_SECONDS = 15 * 60;

export type MfaAttempt =
  | { outcome: 'check'; /** The factor was right: the failures counted so far are forgotten. */ succeeded(): Promise<void> }
  | { outcome: 'locked'; retryAfter: number };

/**
 * Counts second-factor attempts per account, whatever the address: whoever reaches this step knows
 * the password, so a 6-digit code must not be guessable by spreading tries over addresses. Each
 * attempt is reserved before the code is checked, so parallel guesses cannot overshoot the limit.
 * Only someone who has the password can lock the account's second factor this way.
 */
export interface MfaLimiter {
  reserve(userId: string): Promise<MfaAttempt>;
}

export function createMfaLimiter(limiters: LimiterFactory): MfaLimiter {
  const limiter = limiters({ keyPrefix: 'mfa-fail', points: MFA_MAX_FAILURES, duration: MFA_LOCKOUT_SECONDS });
  return {
    async reserve(userId) {
      const res = await tryConsume(limiter, userId);
      if (typeof res === 'number') return { outcome: 'locked', retryAfter: res };
      return { outcome: 'check', succeeded: async () => void (await limiter.delete(userId)) };
    },
  };
}
