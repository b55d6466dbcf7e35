import { createHmac, hkdfSync } from 'node:crypto';
import { randomToken, safeEqual, type Kek } from '@stack/crypto';

/**
 * Device cookies (the OWASP "device cookies" pattern against account lockout): a browser that
 * signed in to an account gets a token naming a random device id, signed for that account with a
 * key derived from the key-encryption key. A sign-in to the same account carrying a valid token is
 * counted against that device's own budget, so failures others cause from elsewhere never lock it out.
 *
 * Token: `<device id>.<issued at, s>.<HMAC-SHA256>`, the MAC over the id, the time and the normalised
 * account, so a token cannot be forged, altered, renewed or moved to another account. No email is
 * carried: the token is checked against the account a sign-in names. Tokens older than `ttlSeconds`
 * are ignored. Any configured KEK verifies (rotation); the current one signs.
 */
export interface DeviceTokens {
  /** A new token for `account`, at `now` (ms). */
  issue(account: string, now: number): string;
  /** The device id when `token` is a valid, unexpired token for `account`; else undefined. */
  verify(token: string | undefined, account: string, now: number): string | undefined;
}

// 16 random bytes (22 base64url), seconds, 32-byte MAC (43 base64url).
const FORMAT = /^([A-Za-z0-9_-]{22})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

/** How login limits and device tokens spell an account: trimmed, lowercase (emails are stored lowercase). */
export const normalisedAccount = (account: string) => account.trim().toLowerCase();

export function createDeviceTokens(keks: readonly Kek[], ttlSeconds: number): DeviceTokens {
  // A key of its own per KEK (HKDF, RFC 5869), so the KEK itself never signs anything.
  const keys = keks.map((k) => Buffer.from(hkdfSync('sha256', k.key, Buffer.alloc(0), 'auth-server login device token v1', 32)));
  const mac = (key: Buffer, id: string, issued: string, account: string) =>
    createHmac('sha256', key).update(`${id}\n${issued}\n${normalisedAccount(account)}`).digest('base64url');
  return {
    issue(account, now) {
      const id = randomToken(16);
      const issued = String(Math.floor(now / 1000));
      return `${id}.${issued}.${mac(keys[0]!, id, issued, account)}`;
    },
    verify(token, account, now) {
      const m = token === undefined ? null : FORMAT.exec(token);
      if (!m) return undefined;
      const [, id, issued, sig] = m as unknown as [string, string, string, string];
      const age = now / 1000 - Number(issued);
      // A little clock skew between instances is tolerated; a token from the far future is not.
      if (age > ttlSeconds || age < -300) return undefined;
      return keys.some((key) => safeEqual(mac(key, id, issued, account), sig)) ? id : undefined;
    },
  };
}
