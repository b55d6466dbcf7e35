import { loadKeks, type Kek } from '@stack/crypto';
import type { AuthConfig } from '../config.ts';

/**
 * The key-encryption keys: the configured one first, then previous ones (for rotation).
 * Outside production a missing key is generated once into DATA_DIR/kek.key; config validation
 * refuses to start production without KEY_ENCRYPTION_KEY.
 */
export function resolveKeks(config: AuthConfig): Kek[] {
  return loadKeks({
    key: config.keyEncryptionKey,
    previous: config.previousKeyEncryptionKeys,
    dataDir: config.dataDir,
    production: config.env === 'production',
  });
}
