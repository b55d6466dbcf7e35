import { HOTP, Secret } from 'otpauth';
import { renderSVG } from 'uqr';
import { open, rewrap, safeEqual, seal, type Envelope, type Kek } from '@stack/crypto';
import type { AppContext } from '../context.ts';
import type { MfaRepo } from '../store/index.ts';

// TOTP (RFC 6238) with the parameters every authenticator app supports: HMAC-SHA-1, 30-second
// steps, 6 digits (RFC 6238 §4 and §5.2; SHA-256 secrets are ignored by several popular apps).
const PERIOD_SECONDS = 30;
const DIGITS = 6;
/** Steps accepted either side of the current one (RFC 6238 §5.2: at most one step of network delay or drift). */
const WINDOW = 1;
/** 160-bit secrets, the length RFC 4226 §4 (R6) recommends. */
const SECRET_BYTES = 20;

const context = (userId: string) => `totp-secret:${userId}`;

/** The time step of `now` (RFC 6238 §4.2: T = floor((unix time - T0) / X), T0 = 0). */
export const totpStep = (now: number): number => Math.floor(now / 1000 / PERIOD_SECONDS);

/** A new random secret, base32 (RFC 4648), as authenticator apps take it. */
export function newTotpSecret(): string {
  return new Secret({ size: SECRET_BYTES }).base32;
}

/** The code of `step` for a base32 secret (RFC 6238 §4.2: HOTP with the step as counter). */
export function totpCode(secretBase32: string, step: number): string {
  return HOTP.generate({ secret: Secret.fromBase32(secretBase32), algorithm: 'SHA1', digits: DIGITS, counter: step });
}

/**
 * The time step whose code `code` is, within ±WINDOW steps of `now`, or undefined. Every candidate
 * is compared in constant time, and all of them are compared, so the timing tells nothing.
 */
export function matchingStep(secretBase32: string, code: string, now: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const current = totpStep(now);
  let found: number | undefined;
  for (let step = current - WINDOW; step <= current + WINDOW; step++) {
    if (safeEqual(totpCode(secretBase32, step), code) && found === undefined) found = step;
  }
  return found;
}

/** The key URI authenticator apps read (the otpauth:// "Key Uri Format" of Google Authenticator). */
export function totpUri(issuerName: string, account: string, secretBase32: string): string {
  const label = `${encodeURIComponent(issuerName)}:${encodeURIComponent(account)}`;
  const q = new URLSearchParams({ secret: secretBase32, issuer: issuerName, algorithm: 'SHA1', digits: String(DIGITS), period: String(PERIOD_SECONDS) });
  return `otpauth://totp/${label}?${q.toString()}`;
}

/** The URI as a QR code: an SVG of rectangles only (no script, no style attribute), labelled for screen readers. */
export function qrSvg(uri: string): string {
  return renderSVG(uri, { pixelSize: 4 }).replace('<svg ', '<svg role="img" aria-label="QR code of the authenticator key" width="200" height="200" ');
}

/** The secret envelope-encrypted with the current key-encryption key, bound to the user (RFC 6238 §5.1: keys protected at rest). */
export function sealTotpSecret(ctx: AppContext, userId: string, secretBase32: string): Record<string, unknown> {
  return { ...seal(ctx.keks[0]!, secretBase32, context(userId)) };
}

export function openTotpSecret(ctx: AppContext, userId: string, envelope: Record<string, unknown>): string {
  return open(ctx.keks, envelope as unknown as Envelope, context(userId)).toString('utf8');
}

/**
 * Re-wraps every TOTP secret's data key under `to` (key-encryption-key rotation), in one
 * transaction; secrets already under `to` are left alone. Returns how many changed.
 */
export async function rewrapTotpSecrets(repo: MfaRepo, keks: Kek[], to: Kek): Promise<number> {
  const updates = (await repo.totpEnvelopes())
    .filter((r) => (r.secretEnvelope as unknown as Envelope).kek !== to.id)
    .map((r) => ({ userId: r.userId, secretEnvelope: { ...rewrap(keks, to, r.secretEnvelope as unknown as Envelope, context(r.userId)) } }));
  if (updates.length) await repo.setTotpEnvelopes(updates);
  return updates.length;
}
