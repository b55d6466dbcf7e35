import { createHash } from 'node:crypto';
import { invalidGrant, invalidRequest } from './errors.ts';
import { safeEqual } from '@stack/crypto';

// RFC 7636 §4.1: 43–128 characters from the unreserved set.
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
// S256 challenges are base64url(SHA-256) = exactly 43 characters.
const CHALLENGE = /^[A-Za-z0-9\-_]{43}$/;

/** Validates the authorization request's PKCE parameters; only S256 is accepted (OAuth 2.1 §4.1.1, RFC 9700 §2.1.1). */
export function checkCodeChallenge(challenge: string | undefined, method: string | undefined): string {
  if (!challenge) throw invalidRequest("missing required parameter 'code_challenge'");
  if (method === undefined) throw invalidRequest("missing required parameter 'code_challenge_method' (only S256 is supported)");
  if (method !== 'S256') throw invalidRequest("unsupported 'code_challenge_method': only S256 is supported");
  if (!CHALLENGE.test(challenge)) throw invalidRequest("invalid 'code_challenge': must be a base64url SHA-256 digest");
  return challenge;
}

/** S256 transform of a verifier (RFC 7636 §4.2). */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** Verifies `code_verifier` against the stored S256 challenge in constant time (RFC 7636 §4.6). */
export function verifyCodeVerifier(verifier: string | undefined, challenge: string): void {
  if (!verifier) throw invalidRequest("missing required parameter 'code_verifier'");
  if (!VERIFIER.test(verifier)) throw invalidRequest("invalid 'code_verifier': must be 43-128 unreserved characters");
  if (!safeEqual(s256(verifier), challenge)) throw invalidGrant("'code_verifier' does not match the code challenge");
}
