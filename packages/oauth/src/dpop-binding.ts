import { timingSafeEqual } from 'node:crypto';

/** The RFC 7800 §3.1 confirmation claim of a DPoP-bound access token (RFC 9449 §6.1). */
export interface DpopConfirmation {
  jkt: string;
}

/**
 * The thumbprint a token is bound to: `cnf.jkt` when `cnf` is an object with a non-empty string
 * `jkt`, else undefined (not DPoP-bound).
 */
export function dpopBoundJkt(claims: { cnf?: unknown }): string | undefined {
  const cnf = claims.cnf;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return undefined;
  const jkt = (cnf as Record<string, unknown>).jkt;
  return typeof jkt === 'string' && jkt !== '' ? jkt : undefined;
}

/**
 * Whether a token presented with the `Bearer` scheme must be refused because it is DPoP-bound
 * (RFC 9449 §7.2: a bound token used as a bearer token would let whoever stole it use it without the
 * key). Any `cnf` counts, even one this code cannot read, so it fails closed: an RFC 8705
 * certificate-bound token (`cnf.x5t#S256`, sent as Bearer over mutual TLS) would need its own check
 * first, but the stack issues none.
 */
export function refusedAsBearer(claims: { cnf?: unknown }): boolean {
  return claims.cnf !== undefined && claims.cnf !== null;
}

/**
 * RFC 9449 §4.3 point 12 / §6.1: the proof's key is the one the access token is bound to. False for
 * a token that is not bound (no readable `cnf.jkt`). Constant time in the thumbprints' content.
 */
export function checkDpopBinding(cnfJkt: unknown, proofJkt: string): boolean {
  if (typeof cnfJkt !== 'string' || cnfJkt === '') return false;
  // Thumbprints have one length (43 characters for SHA-256): only a malformed one differs, and
  // comparing the bytes directly spares two hashes per request.
  const a = Buffer.from(cnfJkt);
  const b = Buffer.from(proofJkt);
  return a.length === b.length && timingSafeEqual(a, b);
}
