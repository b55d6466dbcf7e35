import { createPrivateKey, randomUUID, type JsonWebKey as NodeJwk } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { open, seal, type Envelope, type Kek } from '@stack/crypto';
import { rs256AccessTokenSigner, type AccessTokenSigner } from '@stack/oauth';
import type { SigningKeyRepo } from '../store/index.ts';

const ALG = 'RS256';
// How long a cached view of the key table is trusted; `keys rotate` from the CLI is picked up within this.
const RELOAD_MS = 5_000;

export interface SigningKey {
  kid: string;
  /** Signs access tokens with this key (imported once per key, not per token). */
  signer: AccessTokenSigner;
}

export interface KeyStore {
  /** The key new tokens are signed with (created on first use if the table is empty). */
  active(): Promise<SigningKey>;
  /** Public JWKS: the active key plus retired keys whose tokens may still be valid. */
  jwks(): Promise<{ keys: JWK[] }>;
  /** Adds a new signing key and retires the current one (it stays published while its tokens live). */
  rotate(): Promise<string>;
  list(): Promise<{ kid: string; createdAt: number; retiredAt: number | null; published: boolean }[]>;
}

/** Creates the signing-key store over the database; private keys are envelope-encrypted with the KEK. */
export function createKeyStore(repo: SigningKeyRepo, keks: Kek[], now: () => number, maxTokenLifetimeSec: number): KeyStore {
  let cache: { at: number; kid: string; key: SigningKey } | undefined;
  const context = (kid: string) => `signing-key:${kid}`;

  async function insertKey(): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair(ALG, { modulusLength: 2048, extractable: true });
    const kid = randomUUID();
    const pub = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
    const priv = await exportJWK(privateKey);
    const envelope = seal(keks[0]!, JSON.stringify(priv), context(kid));
    const t = now();
    await repo.rotateTo({ kid, alg: ALG, publicJwk: pub, privateKeyEnvelope: { ...envelope }, createdAt: t, retiredAt: null });
    cache = undefined;
    return kid;
  }

  function published(row: { retiredAt: number | null }): boolean {
    // A retired key stays in the JWKS until every token it signed has expired (+60 s clock skew).
    return row.retiredAt === null || row.retiredAt + (maxTokenLifetimeSec + 60) * 1000 > now();
  }

  return {
    async active() {
      const t = now();
      if (cache && t - cache.at < RELOAD_MS) return cache.key;
      let row = await repo.active();
      if (!row) {
        await insertKey();
        row = await repo.active();
      }
      if (!row) throw new Error('no signing key available');
      if (cache?.kid === row.kid) {
        cache.at = t;
        return cache.key;
      }
      const jwk = JSON.parse(open(keks, row.privateKeyEnvelope as unknown as Envelope, context(row.kid)).toString('utf8')) as JWK;
      const signer = rs256AccessTokenSigner(row.kid, createPrivateKey({ key: jwk as NodeJwk, format: 'jwk' }));
      cache = { at: t, kid: row.kid, key: { kid: row.kid, signer } };
      return cache.key;
    },
    async jwks() {
      const rows = await repo.list();
      return { keys: rows.filter(published).map((r) => r.publicJwk as JWK) };
    },
    rotate: insertKey,
    async list() {
      return (await repo.list())
        .map((r) => ({ kid: r.kid, createdAt: r.createdAt, retiredAt: r.retiredAt, published: published(r) }));
    },
  };
}
