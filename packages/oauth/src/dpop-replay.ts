import { hash } from 'node:crypto';

/**
 * The replay-cache key of a proof: SHA-256 over the key thumbprint and the `jti`, separated by a
 * byte neither contains (a thumbprint is base64url), so two keys' `jti`s never collide and a client
 * chooses nothing about the stored key's length.
 */
export function dpopReplayKey(jkt: string, jti: string): string {
  // One-shot: the same bytes as hashing jkt, NUL and jti in turn, without a Hash object per proof.
  return hash('sha256', `${jkt}\0${jti}`, 'base64url');
}
