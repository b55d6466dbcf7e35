import { createPrivateKey, randomUUID, type JsonWebKey as NodeJwk } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { open, rewrap, seal, type Envelope, type Kek } from '@stack/crypto';
import { rs256AccessTokenSigner, type AccessTokenSigner } from '@stack/oauth';
import type { SigningKeyRecord, SigningKeyRepo } from '../store/index.ts';

const ALG = 'RS256';
// How long a cached view of the key table is trusted; `keys rotate` from the CLI is picked up within this.
const RELOAD_MS = 5_000;

/** Cache-Control max-age of /jwks: how long a verifier or HTTP cache may serve a fetched set. */
export const JWKS_MAX_AGE_SEC = 60;

/**
 * How long a rotated-in key is published before it signs: twice the JWKS max-age, so that every
 * verifier (and any HTTP cache between) has fetched a set holding it before the first token it
 * signs arrives, with room for clock skew between the instances and the machine that rotated.
 */
export const PUBLISH_LEAD_MS = 2 * JWKS_MAX_AGE_SEC * 1000;

/**
 * The publish lead of a scheduled rotation: PUBLISH_LEAD_MS, or a quarter of a shorter period (only
 * development periods of minutes or less are). Verifiers that have not refetched the set yet
 * fetch it again when a token names an unknown key, so a shorter lead costs a fetch, not a token.
 */
export function scheduledLeadMs(periodMs: number): number {
  return Math.min(PUBLISH_LEAD_MS, Math.floor(periodMs / 4));
}

/** What a rotation did: the new key, when it signs, and the key(s) it takes over from. */
export interface Rotation {
  kid: string;
  signsFrom: number;
  previous: string[];
}

export interface SigningKey {
  kid: string;
  /** Signs access tokens with this key (imported once per key, not per token). */
  signer: AccessTokenSigner;
}

/**
 * `next`: published, signs from `signsFrom`; `current`: signs now; `retired`: signs no more, stays
 * published while tokens it signed may be valid. Computed from the stored times whenever read, so
 * every instance sharing the database switches at the same moment without being told.
 */
export type KeyState = 'next' | 'current' | 'retired';

export interface KeyInfo {
  kid: string;
  state: KeyState;
  createdAt: number;
  /** When a `next` key takes over signing; null for the others. */
  signsFrom: number | null;
  /** When the key stops (or stopped) signing; null while no successor exists. */
  retiredAt: number | null;
  published: boolean;
}

export interface KeyStore {
  /** The key new tokens are signed with (created on first use if the table is empty). */
  active(): Promise<SigningKey>;
  /** Public JWKS: the current key, the next ones, and retired keys whose tokens may still be valid. */
  jwks(): Promise<{ keys: JWK[] }>;
  /**
   * Adds the next signing key. It is published at once and takes over signing PUBLISH_LEAD_MS
   * later, when the current key retires. `immediately` is for a key that may have leaked: the new
   * key signs at once and every other key is withdrawn from the JWKS (tokens they signed stop
   * verifying as soon as verifiers refetch; clients refresh).
   */
  rotate(opts?: { immediately?: boolean }): Promise<{ kid: string; signsFrom: number; withdrawn: string[] }>;
  /**
   * Scheduled rotation: once the newest key was created `periodMs` ago (it signs, and no next key
   * waits), adds the next key, published scheduledLeadMs(periodMs) before it signs. Instances
   * sharing the database may all call this at once: the store writes one key between them.
   * Undefined when no rotation was due or another instance made it.
   */
  rotateIfDue(periodMs: number): Promise<Rotation | undefined>;
  list(): Promise<KeyInfo[]>;
  /**
   * Re-wraps every private key's data key under `to` (key-encryption-key rotation); the key
   * material itself is not re-encrypted. All or nothing; returns how many envelopes changed.
   */
  rewrapAll(to: Kek): Promise<number>;
}

/** A signing key that cannot be opened with the configured key-encryption keys; the message is one sentence. */
export class SigningKeyUnreadableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningKeyUnreadableError';
  }
}

function unreadable(kid: string, env: Envelope, keks: readonly Kek[]): SigningKeyUnreadableError {
  if (!keks.some((k) => k.id === env.kek)) {
    return new SigningKeyUnreadableError(
      `signing key ${kid} is wrapped by key-encryption key ${env.kek}, which is not configured: set KEY_ENCRYPTION_KEY_PREVIOUS to that key ` +
      "(or finish a key-encryption-key rotation with 'npm run admin -- keys rotate-kek' while it is still set)",
    );
  }
  return new SigningKeyUnreadableError(`signing key ${kid} could not be decrypted with key-encryption key ${env.kek} (wrong key or altered data)`);
}

/** The order in which keys sign, as SigningKeyRepo.active: by retirement time (none last), then age, then kid. */
function signingOrder(a: SigningKeyRecord, b: SigningKeyRecord): number {
  const ra = a.retiredAt ?? Infinity;
  const rb = b.retiredAt ?? Infinity;
  return ra - rb || a.createdAt - b.createdAt || (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0);
}

function classify(rows: readonly SigningKeyRecord[], t: number): Map<string, { state: KeyState; signsFrom: number | null }> {
  const ordered = [...rows].sort(signingOrder);
  const live = ordered.filter((r) => r.retiredAt === null || r.retiredAt > t);
  const out = new Map<string, { state: KeyState; signsFrom: number | null }>();
  for (const r of ordered) out.set(r.kid, { state: 'retired', signsFrom: null });
  live.forEach((r, i) => out.set(r.kid, i === 0 ? { state: 'current', signsFrom: null } : { state: 'next', signsFrom: live[i - 1]!.retiredAt }));
  return out;
}

/** Makes the RSA key pair of a new signing key. */
export type KeyPairSource = () => Promise<{ publicKey: CryptoKey; privateKey: CryptoKey }>;

const generateRsaKeyPair: KeyPairSource = () => generateKeyPair(ALG, { modulusLength: 2048, extractable: true });

/** Creates the signing-key store over the database; private keys are envelope-encrypted with the KEK. */
export function createKeyStore(
  repo: SigningKeyRepo,
  keks: Kek[],
  now: () => number,
  maxTokenLifetimeSec: number,
  keyPair: KeyPairSource = generateRsaKeyPair,
): KeyStore {
  // `until`: when the cached key retires (a successor takes over); null while none is scheduled.
  let cache: { at: number; kid: string; until: number | null; key: SigningKey } | undefined;
  const context = (kid: string) => `signing-key:${kid}`;

  async function newKey(t: number): Promise<SigningKeyRecord> {
    const { publicKey, privateKey } = await keyPair();
    const kid = randomUUID();
    const pub = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
    const priv = await exportJWK(privateKey);
    const envelope = seal(keks[0]!, JSON.stringify(priv), context(kid));
    return { kid, alg: ALG, publicJwk: pub, privateKeyEnvelope: { ...envelope }, createdAt: t, retiredAt: null };
  }

  /** Adds a key that signs from `switchAt` (the keys signing until then retire at that moment). */
  async function insertKey(switchAt: number): Promise<string> {
    const row = await newKey(now());
    await repo.rotateTo(row, switchAt);
    cache = undefined;
    return row.kid;
  }

  function published(row: { retiredAt: number | null }): boolean {
    // A retired key stays in the JWKS until every token it signed has expired (+60 s clock skew).
    return row.retiredAt === null || row.retiredAt + (maxTokenLifetimeSec + 60) * 1000 > now();
  }

  function openKey(row: SigningKeyRecord): AccessTokenSigner {
    const env = row.privateKeyEnvelope as unknown as Envelope;
    let jwk: JWK;
    try {
      jwk = JSON.parse(open(keks, env, context(row.kid)).toString('utf8')) as JWK;
    } catch {
      throw unreadable(row.kid, env, keks);
    }
    return rs256AccessTokenSigner(row.kid, createPrivateKey({ key: jwk as NodeJwk, format: 'jwk' }));
  }

  return {
    async active() {
      const t = now();
      if (cache && t - cache.at < RELOAD_MS && (cache.until === null || t < cache.until)) return cache.key;
      let row = await repo.active(t);
      if (!row) {
        await insertKey(t);
        row = await repo.active(t);
      }
      if (!row) throw new Error('no signing key available');
      if (cache?.kid === row.kid) {
        cache.at = t;
        cache.until = row.retiredAt;
        return cache.key;
      }
      cache = { at: t, kid: row.kid, until: row.retiredAt, key: { kid: row.kid, signer: openKey(row) } };
      return cache.key;
    },
    async jwks() {
      const rows = await repo.list();
      return { keys: rows.filter(published).map((r) => r.publicJwk as JWK) };
    },
    async rotate(opts = {}) {
      const t = now();
      if (opts.immediately) {
        const row = await newKey(t);
        const withdrawn = await repo.replaceAll(row);
        cache = undefined;
        return { kid: row.kid, signsFrom: t, withdrawn };
      }
      // With no key signing yet there is nothing to wait for.
      const signsFrom = (await repo.active(t)) ? t + PUBLISH_LEAD_MS : t;
      return { kid: await insertKey(signsFrom), signsFrom, withdrawn: [] };
    },
    async rotateIfDue(periodMs) {
      const t = now();
      const createdBy = t - periodMs;
      // A cheap read first: a key pair is only made when a rotation looks due; the store decides.
      const live = (await repo.list()).filter((r) => r.retiredAt === null);
      if (live.length === 0 || live.some((r) => r.createdAt > createdBy)) return undefined;
      const row = await newKey(t);
      const signsFrom = t + scheduledLeadMs(periodMs);
      if (!(await repo.rotateIfCreatedBy(row, createdBy, signsFrom))) return undefined;
      cache = undefined;
      return { kid: row.kid, signsFrom, previous: live.map((r) => r.kid) };
    },
    async list() {
      const rows = await repo.list();
      const states = classify(rows, now());
      return rows.map((r) => ({ kid: r.kid, ...states.get(r.kid)!, createdAt: r.createdAt, retiredAt: r.retiredAt, published: published(r) }));
    },
    async rewrapAll(to) {
      const from = [to, ...keks.filter((k) => k.id !== to.id)];
      const updates: { kid: string; privateKeyEnvelope: Record<string, unknown> }[] = [];
      for (const row of await repo.list()) {
        const env = row.privateKeyEnvelope as unknown as Envelope;
        if (env.kek === to.id) continue;
        try {
          updates.push({ kid: row.kid, privateKeyEnvelope: { ...rewrap(from, to, env, context(row.kid)) } });
        } catch {
          throw unreadable(row.kid, env, from);
        }
      }
      if (updates.length > 0) await repo.setEnvelopes(updates);
      cache = undefined;
      return updates.length;
    },
  };
}
