import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CliIo, type CliRun } from '@stack/cli';

// Each command group lives next to the server it administers and exports run(args, io).
// Modules load lazily, so `help` needs neither the database nor argon2.
const COMMANDS: Record<string, { module: string; summary: string }> = {
  users: { module: 'apps/auth-server/src/cli/users.ts', summary: 'add, list, set-role, disable, enable users' },
  clients: { module: 'apps/auth-server/src/cli/clients.ts', summary: 'list and revoke OAuth clients' },
  providers: { module: 'apps/auth-server/src/cli/providers.ts', summary: 'list the identity providers people sign in with, and the redirect URI to register at each' },
  keys: { module: 'apps/auth-server/src/cli/keys.ts', summary: 'rotate and list access-token signing keys; rotate the key-encryption key' },
  apikeys: { module: 'apps/mcp-server/src/cli/apikeys.ts', summary: 'manage MCP server API keys' },
  secrets: { module: 'apps/mcp-server/src/cli/secrets.ts', summary: 'manage MCP server secrets' },
  audit: { module: 'apps/mcp-server/src/cli/audit.ts', summary: 'inspect and verify audit logs' },
  servers: { module: 'apps/mcp-server/src/cli/servers.ts', summary: 'list the protected MCP servers, their upstreams and tool rules' },
  backup: { module: 'apps/auth-server/src/cli/backup.ts', summary: 'copy the SQLite databases and audit logs consistently while the servers run' },
  restore: { module: 'apps/auth-server/src/cli/restore.ts', summary: 'put a backup back in place (servers stopped; --force moves existing data aside)' },
};

// Compiled (`npm run build`), this file is scripts/dist/admin.js and runs the command groups
// compiled beside their apps (apps/*/dist/…js); from source, their TypeScript.
const COMPILED = import.meta.url.endsWith('.js');
const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), COMPILED ? '../..' : '..');
const compiledPath = (module: string) => module.replace(/^(apps\/[^/]+)\/src\//, '$1/dist/').replace(/\.ts$/, '.js');
const modulePath = (name: string) => resolve(ROOT, COMPILED ? compiledPath(COMMANDS[name]!.module) : COMMANDS[name]!.module);
// A command whose module is not written yet (or not shipped) is left out of the help.
const available = () => Object.keys(COMMANDS).filter((name) => existsSync(modulePath(name)));

function usage(): string {
  const width = Math.max(...available().map((n) => n.length));
  const lines = available().map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n]!.summary}`);
  return `Usage: npm run admin -- <command> <subcommand> [options]

Commands:
${lines.join('\n')}

Run 'npm run admin -- <command> --help' for a command's options.
Settings come from the environment, as for the servers (DATA_DIR, AUTH_DATABASE_PATH, KEY_ENCRYPTION_KEY, AUDIT_LOG, …).
Exit codes: 0 success, 1 the operation failed, 2 bad usage.
`;
}

/** Routes `<command> …` to its command group and returns the exit code. */
export async function dispatch(args: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  if (command === 'help' || command === '--help' || command === '-h') {
    io.stdout.write(usage());
    return EXIT_OK;
  }
  if (!command) {
    io.stderr.write(usage());
    return EXIT_USAGE;
  }
  if (!Object.hasOwn(COMMANDS, command) || !existsSync(modulePath(command))) {
    io.stderr.write(`error: unknown command '${command.slice(0, 40).replace(/[^\x20-\x7e]/g, '?')}'\n${usage()}`);
    return EXIT_USAGE;
  }
  const mod = (await import(pathToFileURL(modulePath(command)).href)) as { run?: CliRun };
  if (typeof mod.run !== 'function') {
    io.stderr.write(`error: ${COMMANDS[command]!.module} does not export run(args, io)\n`);
    return EXIT_FAILED;
  }
  return mod.run(rest, io);
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  // The commands create databases and backups holding secrets: for this user only (as the servers do).
  process.umask(0o077);
  const io: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
  process.exitCode = await dispatch(process.argv.slice(2), io).catch((err: unknown) => {
    process.stderr.write(`error: ${(err as Error).message.split('\n')[0]}\n`);
    return EXIT_FAILED;
  });
}
