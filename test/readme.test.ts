import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openAuthDb, openMcpDb, authSchema, sqliteAuditAnchors } from '@stack/db';
import { loadMcpConfig } from '../apps/mcp-server/src/config.ts';
import { openMcpAuditLog } from '../apps/mcp-server/src/pipeline/audit-log.ts';

const ROOT = resolve(import.meta.dirname, '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The operator commands shown in the README's shell blocks, in order. */
function adminCommands(): string[] {
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.flatMap((b) => b.split('\n'))
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => /^(printf .*\| )?npm run admin -- /.test(l));
}

describe('README operator commands', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'readme-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('lists the admin commands it documents', () => {
    const cmds = adminCommands();
    for (const c of ['users add', 'users list', 'users set-role', 'users disable', 'clients list', 'clients approve', 'clients revoke', 'keys rotate', 'keys list', 'apikeys create', 'apikeys list', 'apikeys revoke', 'secrets set', 'secrets list', 'keys rotate-kek', 'audit verify', 'backup --to']) {
      expect(cmds.some((l) => l.includes(`-- ${c}`)), c).toBe(true);
    }
  });

  it('every documented admin command runs successfully, in order, on a fresh data directory', async () => {
    const env = { ...process.env, DATA_DIR: dataDir, NODE_ENV: 'development', npm_config_loglevel: 'silent' };
    // A client to revoke and an MCP audit log to verify, as a running stack would have made them.
    const db = openAuthDb(join(dataDir, 'auth.db'));
    db.insert(authSchema.clients).values({
      id: 'readme-client', source: 'dcr', secretHash: null, clientName: 'README client', redirectUris: ['http://127.0.0.1/cb'],
      grantTypes: ['authorization_code'], tokenEndpointAuthMethod: 'none', applicationType: 'native', scope: 'db:read', metadata: {}, createdAt: Date.now(),
    }).run();
    db.$client.close();
    const mcpConfig = loadMcpConfig({ DATA_DIR: dataDir, NODE_ENV: 'development' });
    const mcpDb = openMcpDb(mcpConfig.databasePath);
    const log = await openMcpAuditLog(mcpConfig, sqliteAuditAnchors(mcpDb), { stream: process.stdout, onError: (err) => { throw err; } });
    log.write({ event: 'tool', decision: 'ALLOWED' });
    log.write({ event: 'tool', decision: 'DENIED' });
    await log.close();
    mcpDb.$client.close();

    let apiKeyId = '';
    for (const raw of adminCommands()) {
      const cmd = raw
        .replace('--client-id ID', '--client-id readme-client')
        .replace('--id ID', `--id ${apiKeyId}`)
        .replace(/ data\//g, ` ${dataDir}/`)
        .replace(/ backups\//g, ` ${dataDir}/backups/`);
      // rotate-kek needs a new key with the old one as previous: emulate the documented procedure.
      let runEnv: NodeJS.ProcessEnv = env;
      if (cmd.includes('rotate-kek')) {
        const old = readFileSync(join(dataDir, 'kek.key'), 'utf8').trim();
        runEnv = { ...env, KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'), KEY_ENCRYPTION_KEY_PREVIOUS: old };
      }
      const out = execFileSync('bash', ['-c', cmd], { cwd: ROOT, env: runEnv, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
      const id = /API key created: id (\S+),/.exec(out)?.[1];
      if (id) apiKeyId = id;
    }
    expect(apiKeyId).not.toBe('');
    // The backup is a consistent copy: it opens and holds what the commands above created.
    const backup = new Database(join(dataDir, 'backups/latest/auth.db'), { readonly: true, fileMustExist: true });
    const emails = (backup.prepare('select email from users order by email').all() as { email: string }[]).map((r) => r.email);
    backup.close();
    expect(emails).toEqual(['dev@example.com', 'you@example.com']);
    expect(existsSync(join(dataDir, 'backups/latest/mcp.db'))).toBe(true);
    expect(existsSync(join(dataDir, 'backups/latest/kek.key'))).toBe(false);
  }, 240_000);
});
