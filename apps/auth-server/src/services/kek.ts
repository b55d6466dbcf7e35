import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeKek, type Kek } from '@stack/crypto';
import type { AuthConfig } from '../config.ts';

/**
 * The key-encryption keys: the configured one first, then previous ones (for rotation).
 * Outside production, a missing key is generated once into DATA_DIR/kek.key (mode 0600);
 * config validation refuses to start production without KEY_ENCRYPTION_KEY.
 */
export function resolveKeks(config: AuthConfig): Kek[] {
  const previous = config.previousKeyEncryptionKeys.map((s) => makeKek(Buffer.from(s, /[-_]/.test(s) ? 'base64url' : 'base64')));
  if (config.keyEncryptionKey) return [makeKek(config.keyEncryptionKey), ...previous];
  if (config.env === 'production') throw new Error('KEY_ENCRYPTION_KEY is required in production');
  const file = join(config.dataDir, 'kek.key');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  return [makeKek(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')), ...previous];
}
