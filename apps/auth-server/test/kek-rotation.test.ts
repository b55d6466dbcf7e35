import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from '@stack/cli';
import { makeKek } from '@stack/crypto';
import { describeStartupError } from '@stack/fastify-kit';
import { dispatch } from '../../../scripts/admin.ts';
import { secretsSettings } from '../../mcp-server/src/secrets/keks.ts';
import { createSecretStore } from '../../mcp-server/src/secrets/store.ts';
import { openMcpStore } from '../../mcp-server/src/store/index.ts';
import { SigningKeyUnreadableError } from '../src/services/keys.ts';
import { openTotpSecret, sealTotpSecret } from '../src/services/totp.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { addClient, addUser, login } from './token-fixtures.ts';

const b64 = (k: Buffer) => k.toString('base64');

async function admin(env: Record<string, string>, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdin: Readable.from([]),
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { NODE_ENV: 'test', ...env },
  };
  return { code: await dispatch(args, io), stdout, stderr };
}

describe('key-encryption-key rotation of the whole stack', () => {
  const oldKek = randomBytes(32);
  const newKek = randomBytes(32);
  let s: TestAuthServer;
  let mcpDb: string;
  let totpUser: string;
  beforeEach(async () => {
    s = await startAuthServer({ KEY_ENCRYPTION_KEY: b64(oldKek) });
    await s.app.ctx.keys.rotate(); // a next key too: every envelope must move
    // An authenticator app's secret, envelope-encrypted like the signing keys.
    const user = await addUser(s);
    totpUser = user.id;
    await s.app.ctx.store.mfa.startTotp({ userId: user.id, secretEnvelope: sealTotpSecret(s.app.ctx, user.id, 'JBSWY3DPEHPK3PXP'), createdAt: Date.now(), confirmedAt: null, lastStep: null });
    mcpDb = join(s.dataDir, 'mcp.db');
    await withSecrets(oldKek, (store) => store.set('warehouse', 's3cr3t'));
  });
  afterEach(async () => { await s.close(); });

  /** Where the MCP secrets are: mcp.db, or with PostgreSQL the MCP tables in the server's own test schema. */
  const mcpWhere = (): Record<string, string> => (s.config.postgres ? { MCP_DATABASE_SCHEMA: s.config.postgres.schema } : { MCP_DATABASE_PATH: mcpDb });
  async function withSecrets<T>(kek: Buffer, fn: (store: ReturnType<typeof createSecretStore>) => Promise<T>): Promise<T> {
    const db = await openMcpStore(secretsSettings({ ...s.dbEnv, DATA_DIR: s.dataDir, ...mcpWhere() }));
    try {
      return await fn(createSecretStore(db.secrets, [makeKek(kek)]));
    } finally {
      await db.close();
    }
  }

  /** The same database with another key-encryption key set: a restarted server. */
  const restart = (kek: Buffer, previous?: Buffer) => startAuthServer({
    ...s.dbEnv, DATA_DIR: s.dataDir, KEY_ENCRYPTION_KEY: b64(kek), ...(previous ? { KEY_ENCRYPTION_KEY_PREVIOUS: b64(previous) } : {}),
  });
  const readSecret = (kek: Buffer) => withSecrets(kek, (store) => store.get('warehouse'));

  for (const command of [['keys', 'rotate-kek'], ['secrets', 'rotate-kek']]) {
    it(`[HARD-KEK-ROTATE-ALL] ${command.join(' ')} re-wraps signing keys and MCP secrets; the server then starts without the previous key`, async () => {
      const env = { ...s.dbEnv, DATA_DIR: s.dataDir, ...mcpWhere(), KEY_ENCRYPTION_KEY: b64(newKek), KEY_ENCRYPTION_KEY_PREVIOUS: b64(oldKek) };
      const r = await admin(env, command);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^2 signing key\(s\) re-wrapped under the current key-encryption key/);
      expect(r.stdout).toContain('1 secret(s) re-wrapped under the current key-encryption key');
      expect(r.stdout).toContain('KEY_ENCRYPTION_KEY_PREVIOUS can be removed');

      // KEY_ENCRYPTION_KEY_PREVIOUS dropped: both servers' envelopes open with the new key alone.
      await using after = await restart(newKek);
      const client = await addClient(after);
      const token = await login(after, client, await addUser(after));
      expect(typeof token.access_token).toBe('string');
      expect(await readSecret(newKek)).toBe('s3cr3t');
      const envelopes = await s.sql<{ env: string }>('select cast(private_key_envelope as text) as env from signing_keys');
      expect(envelopes.map((e) => JSON.parse(e.env).kek)).toEqual([makeKek(newKek).id, makeKek(newKek).id]);
      expect(r.stdout).toContain('1 authenticator app secret(s) re-wrapped');
      const totp = await after.app.ctx.store.mfa.totp(totpUser);
      expect(openTotpSecret(after.app.ctx, totpUser, totp!.secretEnvelope)).toBe('JBSWY3DPEHPK3PXP');
      // Repeating it is harmless: nothing is left to re-wrap.
      expect((await admin(env, command)).stdout).toMatch(/^0 signing key\(s\) re-wrapped[\s\S]*0 secret\(s\) re-wrapped/);
    });
  }

  it('[HARD-KEK-ROTATE-ALL] [HARD-STARTUP-MESSAGE] without the rotation, dropping the previous key fails the start with one sentence naming the way out', async () => {
    const err = await restart(newKek).then(() => expect.unreachable('the server should not start'), (e: unknown) => e);
    expect(err).toBeInstanceOf(SigningKeyUnreadableError);
    const sentence = describeStartupError(err, { hostSetting: 'AUTH_HOST', portSetting: 'AUTH_PORT' });
    expect(sentence).toMatch(new RegExp(`^signing key \\S+ is wrapped by key-encryption key ${makeKek(oldKek).id}, which is not configured: set KEY_ENCRYPTION_KEY_PREVIOUS`));
    expect(sentence).toContain("'npm run admin -- keys rotate-kek'");
    expect(sentence).not.toContain('\n');
    // With the previous key still set, the same start works.
    await using during = await restart(newKek, oldKek);
    expect((await during.app.ctx.keys.list()).length).toBe(2);
  });

  it('[HARD-KEK-ROTATE-ALL] a rotation that cannot open an envelope changes nothing and says which key is missing', async () => {
    const env = { ...s.dbEnv, DATA_DIR: s.dataDir, ...mcpWhere(), KEY_ENCRYPTION_KEY: b64(newKek) };
    const r = await admin(env, ['keys', 'rotate-kek']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error: signing key \\S+ is wrapped by key-encryption key ${makeKek(oldKek).id}, which is not configured`));
    const envelopes = await s.sql<{ env: string }>('select cast(private_key_envelope as text) as env from signing_keys');
    expect(envelopes.map((e) => JSON.parse(e.env).kek)).toEqual([makeKek(oldKek).id, makeKek(oldKek).id]);
    expect(await readSecret(oldKek)).toBe('s3cr3t');
  });
});
