import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliFailure, type CliIo } from '@stack/cli';
import { createSecretStore, secretsSettings } from '@stack/mcp-server/secrets';
import { openMcpStore } from '@stack/mcp-server/store';
import { resolveKeks } from '../services/kek.ts';
import { createKeyStore } from '../services/keys.ts';
import { rewrapTotpSecrets } from '../services/totp.ts';
import { withContext } from './common.ts';

/** Where the auth server keeps its signing keys, or undefined when it has no database here (an MCP-only host). */
function authDatabase(env: Record<string, string | undefined>): string | undefined {
  if (env.DATABASE_URL) return 'PostgreSQL (DATABASE_URL)';
  const path = env.AUTH_DATABASE_PATH ?? join(env.DATA_DIR ?? './data', 'auth.db');
  return path !== ':memory:' && existsSync(resolve(path)) ? resolve(path) : undefined;
}

/**
 * Key-encryption-key rotation for the whole stack, in one command: re-wraps the data key of every
 * envelope (the auth server's signing keys and TOTP secrets, in SQLite or PostgreSQL, and the MCP server's secrets)
 * under KEY_ENCRYPTION_KEY, opening them with KEY_ENCRYPTION_KEY_PREVIOUS. Each store changes in
 * one transaction, all or nothing, and envelopes already under the new key are left alone, so a
 * failed run can simply be repeated. Afterwards KEY_ENCRYPTION_KEY_PREVIOUS is no longer needed.
 */
export async function rotateKekEverywhere(io: CliIo): Promise<void> {
  if (!io.env.KEY_ENCRYPTION_KEY) {
    throw new CliFailure('KEY_ENCRYPTION_KEY must hold the new key (and KEY_ENCRYPTION_KEY_PREVIOUS the old one) to rotate');
  }

  const auth = authDatabase(io.env);
  if (auth) {
    await withContext(io, async (ctx) => {
      const keks = resolveKeks(ctx.config);
      const n = await createKeyStore(ctx.store.signingKeys, keks, ctx.now, ctx.config.accessTokenTtl).rewrapAll(keks[0]!);
      ctx.audit('admin.kek_rotated', { kek: keks[0]!.id, rewrapped: n, reason: 'signing keys' });
      io.stdout.write(`${n} signing key(s) re-wrapped under the current key-encryption key (${auth})\n`);
      const t = await rewrapTotpSecrets(ctx.store.mfa, keks, keks[0]!);
      ctx.audit('admin.kek_rotated', { kek: keks[0]!.id, rewrapped: t, reason: 'authenticator app secrets' });
      io.stdout.write(`${t} authenticator app secret(s) re-wrapped\n`);
    });
  } else {
    io.stdout.write('no authorization-server database here: no signing keys to re-wrap\n');
  }

  const settings = secretsSettings(io.env);
  if (settings.postgres || (settings.databasePath !== ':memory:' && existsSync(settings.databasePath))) {
    try {
      const db = await openMcpStore(settings);
      try {
        const keks = settings.keks();
        const n = await createSecretStore(db.secrets, keks).rotateKek(keks[0]!);
        io.stdout.write(`${n} secret(s) re-wrapped under the current key-encryption key${settings.postgres ? ' (PostgreSQL)' : ''}\n`);
      } finally {
        await db.close();
      }
    } catch (err) {
      if (auth) throw new CliFailure(`the signing keys were re-wrapped but the MCP secrets were not (run the command again once fixed): ${(err as Error).message.split('\n')[0]}`);
      throw err;
    }
  } else {
    io.stdout.write('no MCP server database here: no secrets to re-wrap\n');
  }
  io.stdout.write('every envelope now uses the current key-encryption key: KEY_ENCRYPTION_KEY_PREVIOUS can be removed\n');
}
