import { CliFailure, UsageError, declaredRole, formatTable, type CliIo } from '@stack/cli';
import { createApiKeyStore, defaultRoleScopes, stackRoleScopes, type ApiKeyStore, type RoleScopes } from '@stack/mcp-auth';
import { ROLES } from '@stack/oauth';
import { loadStackFile } from '@stack/stack-config';
import { loadMcpConfig, type McpConfig } from '../config.ts';
import { openMcpAuditLog } from '../pipeline/audit-log.ts';
import { openMcpStore } from '../store/index.ts';
import { parseOptions, printable, required, runGroup, when } from './common.ts';

const USAGE = `Usage: npm run admin -- apikeys <command> [options]

Commands:
  create --name N --role R [--expires-in-days D]   create a key for the MCP server (shown once, stored hashed)
  list [--json]                                   list keys (never the key values)
  revoke --id ID                                  revoke one key

Roles: the ones the stack file (STACK_FILE) declares (${ROLES.join(', ')} in the shipped one). Settings: MCP_DATABASE_PATH (default DATA_DIR/mcp.db), or DATABASE_URL and MCP_DATABASE_SCHEMA (PostgreSQL), DATA_DIR, MCP_AUDIT_LOG.
`;

const MAX_DAYS = 3650;

/** The roles a key may have, as the server reads them: the stack file's, or the built-in ones under an older policy file. */
function declaredRoles(config: McpConfig): { source: string; roles: readonly string[]; roleScopes: RoleScopes } {
  if (config.policyFile) return { source: config.policyFile, roles: ROLES, roleScopes: defaultRoleScopes };
  const stack = loadStackFile(config.stackFile, { env: config.env });
  return { source: stack.source, roles: stack.roles, roleScopes: stackRoleScopes(() => stack) };
}

async function withStore<T>(io: CliIo, fn: (store: ApiKeyStore, audit: (event: string, fields: Record<string, string | number | undefined>) => void) => Promise<T> | T, roleScopes?: RoleScopes): Promise<T> {
  const config = loadMcpConfig(io.env);
  if (!config.postgres && config.databasePath === ':memory:') throw new CliFailure('MCP_DATABASE_PATH is :memory:, which only the server process can see; point it at a file');
  const db = await openMcpStore(config);
  try {
    // The same chain as the server's, checked against the same anchors (stderr keeps --json parseable).
    const sink = await openMcpAuditLog(config, db.auditAnchors, {
      stream: io.stderr,
      onError: (err) => io.stderr.write(`warning: audit anchor not recorded: ${(err as Error).message.split('\n')[0]}\n`),
    });
    const operator = io.env.SUDO_USER ?? io.env.USER ?? io.env.LOGNAME;
    const audit = (event: string, fields: Record<string, string | number | undefined>) => sink.write({ event, actor: 'cli', operator, decision: 'ALLOWED', ...fields });
    try {
      return await fn(createApiKeyStore(db.apiKeys, Date.now, roleScopes), audit);
    } finally {
      await sink.close();
    }
  } finally {
    await db.close();
  }
}

async function create(args: string[], io: CliIo): Promise<void> {
  const { values: o } = parseOptions(args, { name: { type: 'string' }, role: { type: 'string' }, 'expires-in-days': { type: 'string' } });
  const name = required(o.name, 'name');
  const declared = declaredRoles(loadMcpConfig(io.env));
  const role = declaredRole(required(o.role, 'role'), declared);
  let expiresAt: number | undefined;
  if (o['expires-in-days'] !== undefined) {
    const days = Number(o['expires-in-days']);
    if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) throw new UsageError(`--expires-in-days must be a whole number from 1 to ${MAX_DAYS}`);
    expiresAt = Date.now() + days * 86_400_000;
  }
  await withStore(io, async (store, audit) => {
    let created;
    try {
      created = await store.create({ name, role, ...(expiresAt ? { expiresAt } : {}) });
    } catch (err) {
      if (err instanceof TypeError) throw new UsageError(err.message);
      throw err;
    }
    audit('admin.apikey_created', { key_id: created.id, name, role, expires_at: expiresAt ? when(expiresAt) : undefined });
    io.stdout.write(`API key created: id ${created.id}, role ${role}${expiresAt ? `, expires ${when(expiresAt)}` : ''}\n`);
    io.stdout.write('Copy it now, it is not shown again:\n');
    io.stdout.write(`${created.key}\n`);
  }, declared.roleScopes);
}

async function list(args: string[], io: CliIo): Promise<void> {
  const { values: o } = parseOptions(args, { json: { type: 'boolean' } });
  await withStore(io, async (store) => {
    const now = Date.now();
    const status = (k: { revokedAt: number | null; expiresAt: number | null }) =>
      k.revokedAt !== null ? 'revoked' : k.expiresAt !== null && k.expiresAt <= now ? 'expired' : 'active';
    const keys = await store.list();
    if (o.json) return void io.stdout.write(`${JSON.stringify(keys.map((k) => ({ ...k, status: status(k) })), null, 2)}\n`);
    if (keys.length === 0) return void io.stdout.write('no API keys yet\n');
    io.stdout.write(formatTable(['ID', 'NAME', 'ROLE', 'CREATED', 'EXPIRES', 'STATUS'], keys.map((k) => [
      k.id, printable(k.name, 40), k.role, when(k.createdAt), when(k.expiresAt), status(k),
    ])));
  });
}

async function revoke(args: string[], io: CliIo): Promise<void> {
  const id = required(parseOptions(args, { id: { type: 'string' } }).values.id, 'id');
  await withStore(io, async (store, audit) => {
    if (!(await store.revoke(id))) throw new CliFailure(`no active API key with id ${printable(id, 40)}`);
    audit('admin.apikey_revoked', { key_id: id });
    io.stdout.write(`API key ${printable(id, 40)} revoked\n`);
  });
}

/** `apikeys …` admin commands. */
export function run(args: string[], io: CliIo): Promise<number> {
  return runGroup('apikeys', USAGE, { create, list, revoke }, args, io);
}
