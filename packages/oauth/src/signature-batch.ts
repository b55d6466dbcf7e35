import { constants, verify as verifySignature, type KeyObject, type VerifyKeyObjectInput, type VerifyPublicKeyInput } from 'node:crypto';

/** node:crypto's arguments for one key under one JWS alg (RFC 7518 §3.1): built once per cached key, not per proof. */
export interface NodeVerifier {
  readonly digest: string | null;
  readonly key: VerifyKeyObjectInput | VerifyPublicKeyInput;
}

/** The verifier of `key` under `alg`, or undefined for an alg node:crypto is not given here (jose then checks every proof). */
export function nodeVerifier(alg: string, key: KeyObject): NodeVerifier | undefined {
  const bits = alg.slice(2);
  if (alg.startsWith('ES')) return Object.freeze({ digest: `sha${bits}`, key: { key, dsaEncoding: 'ieee-p1363' as const } });
  if (alg.startsWith('RS')) return Object.freeze({ digest: `sha${bits}`, key: { key } });
  // RFC 7518 §3.5: the salt is as long as the hash.
  if (alg.startsWith('PS')) return Object.freeze({ digest: `sha${bits}`, key: { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 } });
  if (alg === 'EdDSA' || alg === 'Ed25519') return Object.freeze({ digest: null, key: { key } });
  return undefined;
}

/**
 * The signature of a compact JWS whose header was already checked, and its key verified once, by
 * jose: the same check over the JWS Signing Input (RFC 7515 §5.2), synchronously with node:crypto
 * instead of WebCrypto's asynchronous round trip, which costs about as much again. The input is
 * ASCII (the caller checked the compact form), so its latin1 bytes are its bytes. False, never a
 * throw, for a signature that does not decode or verify.
 */
export function signatureValid(jws: string, v: NodeVerifier): boolean {
  const dot = jws.lastIndexOf('.');
  try {
    return verifySignature(v.digest, Buffer.from(jws.slice(0, dot), 'latin1'), v.key, Buffer.from(jws.slice(dot + 1), 'base64url'));
  } catch {
    return false;
  }
}

/** Verifies signatures with the others asked for in the same turn of the event loop. */
export interface SignatureBatch {
  /** Whether `jws`'s signature is valid under `verifier` ({@link signatureValid}), once this turn's batch is checked. */
  verify(jws: string, verifier: NodeVerifier): Promise<boolean>;
}

/** At most this many signatures are checked back to back; the rest wait for the next turn, so I/O is served between. */
export const SIGNATURE_BATCH_MAX = 64;

interface Pending {
  jws: string;
  verifier: NodeVerifier;
  resolve: (valid: boolean) => void;
}

/**
 * Public-key verifications asked for during one turn of the event loop, checked together in its
 * check phase (setImmediate). Under load a resource receives several proofs per turn, and checked
 * back to back they find the curve's precomputed tables and OpenSSL's code still in the CPU cache;
 * interleaved with request handling, each one reloads them and pushes the request path's own data
 * out. Measured on the benchmark's machine with bench/src/tools/dpop-call-cpu.ts (ES256, 10 calls in
 * flight): one signature took 86-90 µs between requests against 66 µs in batches, and a DPoP call's
 * extra CPU over a bearer call fell from 175-195 µs to 95-110 µs. A lone request pays one setImmediate
 * hop; nothing is held longer than the turn it arrived in (or the next, past SIGNATURE_BATCH_MAX).
 * Holds no timer or resource beyond the pending turn: nothing to close.
 */
export function createSignatureBatch(maxPerTurn = SIGNATURE_BATCH_MAX): SignatureBatch {
  if (!Number.isSafeInteger(maxPerTurn) || maxPerTurn < 1) throw new TypeError('maxPerTurn must be a positive integer');
  const queue: Pending[] = [];
  let scheduled = false;
  function run(): void {
    scheduled = false;
    const batch = queue.splice(0, maxPerTurn);
    if (queue.length > 0) schedule();
    for (const p of batch) p.resolve(signatureValid(p.jws, p.verifier));
  }
  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(run);
  }
  return {
    verify(jws, verifier) {
      return new Promise<boolean>((resolve) => {
        queue.push({ jws, verifier, resolve });
        schedule();
      });
    },
  };
}
