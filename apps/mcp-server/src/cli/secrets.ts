import { CliFailure, formatTable, readSecretFromStdin, runGroup, UsageError, type CliIo } from '@stack/cli';
import { secretsSettings } from '../secrets/keks.ts';
import { createSecretStore, MAX_SECRET_BYTES, secretName, type SecretStore } from '../secrets/store.ts';
import { openMcpStore } from '../store/index.ts';

const USAGE = `Usage: npm run admin -- secrets <command>

Commands:
  set NAME         store a secret; the value is read from standard input (never from arguments)
                   e.g.  printf '%s' "$TOKEN" | npm run admin -- secrets set github.token
  list [--json]    list secret names and when they were last set (never the values)
  delete NAME      delete a secret
  rotate-kek       the same as 'keys rotate-kek': re-wrap every data key of the stack (these secrets
                   and the auth server's signing keys) under KEY_ENCRYPTION_KEY; the key used until
                   now goes in KEY_ENCRYPTION_KEY_PREVIOUS (the encrypted data itself is not rewritten)

Settings: MCP_DATABASE_PATH (default DATA_DIR/mcp.db), or DATABASE_URL and MCP_DATABASE_SCHEMA (PostgreSQL), DATA_DIR, KEY_ENCRYPTION_KEY, KEY_ENCRYPTION_KEY_PREVIOUS.
`;

type Handler = (args: string[], io: CliIo) => Promise<void>;

function nameArg(args: string[], command: string): string {
  if (args.length === 0) throw new UsageError(`missing secret name: secrets ${command} NAME`);
  // A second argument is most likely the value typed in the wrong place: never echo it.
  if (args.length > 1) throw new UsageError(`secrets ${command} takes only a NAME${command === 'set' ? '; the value is read from standard input' : ''}`);
  const r = secretName.safeParse(args[0]);
  if (!r.success) throw new UsageError(`invalid secret name: ${r.error.issues[0]!.message}`);
  return r.data;
}

async function withStore<T>(io: CliIo, fn: (store: SecretStore) => Promise<T>): Promise<T> {
  const settings = secretsSettings(io.env);
  const db = await openMcpStore(settings);
  try {
    return await fn(createSecretStore(db.secrets, settings.keks()));
  } finally {
    await db.close();
  }
}

const commands: Record<string, Handler> = {
  async set(args, io) {
    const name = nameArg(args, 'set');
    const value = await readSecretFromStdin(io.stdin, MAX_SECRET_BYTES);
    if (value === '') throw new CliFailure('standard input is empty; pipe the secret value in');
    await withStore(io, (store) => store.set(name, value));
    io.stdout.write(`secret ${name} stored\n`);
  },
  async list(args, io) {
    const json = args.length === 1 && args[0] === '--json';
    if (args.length > 0 && !json) throw new UsageError('secrets list takes only --json');
    const items = await withStore(io, (store) => store.list());
    if (json) return void io.stdout.write(`${JSON.stringify(items.map((s) => ({ name: s.name, updatedAt: new Date(s.updatedAt).toISOString() })), null, 2)}\n`);
    if (items.length === 0) return void io.stdout.write('no secrets stored\n');
    io.stdout.write(formatTable(['NAME', 'UPDATED'], items.map((s) => [s.name, new Date(s.updatedAt).toISOString()])));
  },
  async delete(args, io) {
    const name = nameArg(args, 'delete');
    if (!(await withStore(io, (store) => store.delete(name)))) throw new CliFailure(`no secret named ${name}`);
    io.stdout.write(`secret ${name} deleted\n`);
  },
  async 'rotate-kek'(args, io) {
    if (args.length > 0) throw new UsageError('secrets rotate-kek takes no arguments');
    // The same command as `keys rotate-kek`: one rotation re-wraps every envelope of the stack
    // (the auth server's signing keys too), or the auth server could not start without the old key.
    const { rotateKekEverywhere } = await import('@stack/auth-server/cli/rotate-kek');
    await rotateKekEverywhere(io);
  },
};

/** `secrets …` admin commands: exit 0 success, 1 failed operation, 2 bad usage. */
export function run(args: string[], io: CliIo): Promise<number> {
  return runGroup('secrets', USAGE, commands, args, io);
}
