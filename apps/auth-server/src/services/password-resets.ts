import { randomToken, tokenHash } from '@stack/crypto';
import type { AuthStore } from '../store/index.ts';
import { hashSecret, passwordProblem, type PasswordContext } from './users.ts';

// Reset links an admin makes with `users reset-link` and hands over (no mail server): a random token
// in the link, only its SHA-256 stored, used once, valid for RESET_LINK_TTL_MS.

export const RESET_LINK_TTL_MS = 30 * 60_000;
/** The page a reset link opens. */
export const RESET_PATH = '/reset-password';
// randomToken(32): 43 base64url characters; anything else is not a link of ours.
const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/** Makes a reset link for the user (replacing earlier ones): the URL under `issuer`, and when it expires. */
export async function createResetLink(store: AuthStore, issuer: string, userId: string, now: number): Promise<{ url: string; expiresAt: number }> {
  const token = randomToken(32);
  const expiresAt = now + RESET_LINK_TTL_MS;
  await store.passwordResets.create({ tokenHash: tokenHash(token), userId, createdAt: now, expiresAt, usedAt: null });
  const url = new URL(issuer.replace(/\/?$/, '/') + RESET_PATH.slice(1));
  url.searchParams.set('token', token);
  return { url: url.toString(), expiresAt };
}

/** The user id a usable link is for, or undefined (unknown, used or expired). */
export async function resetLinkUser(store: AuthStore, token: string, now: number): Promise<string | undefined> {
  if (!TOKEN_FORMAT.test(token)) return undefined;
  return store.passwordResets.findLive(tokenHash(token), now);
}

/**
 * Sets the password through the link, using it up and ending the user's sessions. Throws TypeError
 * for a password the rules refuse (the link stays usable); undefined when the link is not usable.
 */
export async function resetWithLink(ctx: PasswordContext, token: string, password: string, now: number): Promise<string | undefined> {
  const problem = passwordProblem(password);
  if (problem) throw new TypeError(problem);
  if (!TOKEN_FORMAT.test(token)) return undefined;
  // Hashed before the link is used, so the conditional update stays one short transaction.
  return ctx.store.passwordResets.redeem(tokenHash(token), await hashSecret(ctx.argon2, password), now);
}
