import { z } from 'zod';
import { open, rewrap, seal, type Envelope, type Kek } from '@stack/crypto';
import type { SecretRecords } from '../store/types.ts';

export const MAX_SECRET_BYTES = 64 * 1024;

/** Secret names: short, printable, safe in logs and shell arguments. */
export const secretName = z
  .string()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .regex(/^[A-Za-z0-9_.-]+$/, 'may contain only letters, digits, underscore, dot and dash');

const envelopeSchema = z.strictObject({
  v: z.literal(1),
  kek: z.string().min(1).max(64),
  dek: z.string().min(1).max(512),
  data: z.string().min(1).max(200_000),
});

export interface SecretInfo {
  name: string;
  updatedAt: number;
}

export interface SecretStore {
  /** Stores (or replaces) a secret, sealed under a fresh data key wrapped by the current KEK. */
  set(name: string, value: string): Promise<void>;
  /** The secret's value, or undefined if there is none; throws if it cannot be decrypted. */
  get(name: string): Promise<string | undefined>;
  /** The same as get, for tools that need a credential. */
  getSecret(name: string): Promise<string | undefined>;
  /** Names and update times only; values are never listed. */
  list(): Promise<SecretInfo[]>;
  /** Deletes a secret; returns whether it existed. */
  delete(name: string): Promise<boolean>;
  /** Re-wraps every data key under `to` (the data ciphertext is untouched); returns how many were re-wrapped. */
  rotateKek(to: Kek): Promise<number>;
}

function checkName(name: string): string {
  const r = secretName.safeParse(name);
  if (!r.success) throw new TypeError(`invalid secret name: ${r.error.issues[0]!.message}`);
  return r.data;
}

// Bound as AES-GCM additional data: an envelope copied onto another secret's row does not open.
const context = (name: string) => `mcp-secret:${name}`;

function parseEnvelope(name: string, raw: unknown): Envelope {
  const r = envelopeSchema.safeParse(raw);
  if (!r.success) throw new Error(`secret '${name}' is not a valid envelope`);
  return r.data;
}

/**
 * Envelope-encrypted secrets in the MCP server's store (SQLite or PostgreSQL). `keks[0]` seals new
 * values; the rest (previous keys) only open values sealed before a rotation.
 */
export function createSecretStore(db: SecretRecords, keks: Kek[]): SecretStore {
  if (keks.length === 0) throw new TypeError('at least one key-encryption key is required');
  let active = [...keks];

  async function get(name: string): Promise<string | undefined> {
    const row = await db.get(checkName(name));
    if (!row) return undefined;
    const envelope = parseEnvelope(name, row.envelope);
    try {
      return open(active, envelope, context(name)).toString('utf8');
    } catch {
      // No detail: the cause is a missing key or altered data, and either way nothing partial leaks.
      throw new Error(`secret '${name}' could not be decrypted (unknown key-encryption key or altered data)`);
    }
  }

  return {
    async set(name, value) {
      checkName(name);
      if (typeof value !== 'string') throw new TypeError('invalid secret value: must be a string');
      if (Buffer.byteLength(value) > MAX_SECRET_BYTES) throw new TypeError(`invalid secret value: must be at most ${MAX_SECRET_BYTES} bytes`);
      const envelope = seal(active[0]!, value, context(name)) as unknown as Record<string, unknown>;
      await db.put({ name, envelope, updatedAt: Date.now() });
    },
    get,
    getSecret: get,
    list: () => db.list(),
    delete: (name) => db.delete(checkName(name)),
    async rotateKek(to) {
      const keys = [to, ...active.filter((k) => k.id !== to.id)];
      // All or nothing: one secret that cannot be re-wrapped leaves every row as it was.
      const count = await db.rewrap((row) => {
        const env = parseEnvelope(row.name, row.envelope);
        if (env.kek === to.id) return undefined;
        return rewrap(keys, to, env, context(row.name)) as unknown as Record<string, unknown>;
      });
      active = keys;
      return count;
    },
  };
}
