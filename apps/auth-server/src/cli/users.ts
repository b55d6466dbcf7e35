import { CliFailure, readSecretFromStdin, UsageError, type CliIo } from '@stack/cli';
import { createUser } from '../services/users.ts';
import { disableUser, enableUser, listUsers, setUserRole, type RevokedGrants } from '../services/user-admin.ts';
import { listCommand, parseOptions, printable, required, roleOption, runGroup, when, withContext } from './common.ts';

const USAGE = `Usage: npm run admin -- users <command> [options]

Commands:
  add --email E --role R --password-stdin   create a user; the password (at least 12 characters)
                                            is read from standard input
  list [--json]                             list users
  set-role --email E --role R               change a user's role; a downgrade revokes their tokens
  disable --email E                         block sign-in and revoke the user's sessions and tokens
  enable --email E                          allow a disabled user to sign in again

Roles: the ones the stack file (STACK_FILE, default ./stack.yaml) declares, each with the scopes
it lists for them; the shipped file has admin (db:read db:write db:admin), developer (db:read
db:write) and viewer (db:read).

Example:
  printf '%s' 'a-long-password' | npm run admin -- users add --email you@example.com --role admin --password-stdin
`;

async function add(args: string[], io: CliIo): Promise<void> {
  const o = parseOptions(args, { email: { type: 'string' }, role: { type: 'string' }, 'password-stdin': { type: 'boolean' } });
  const email = required(o.email, 'email');
  const { role } = roleOption(o.role, io.env);
  if (!o['password-stdin']) throw new UsageError('missing --password-stdin: pipe the password on standard input');
  // An interactive terminal would echo the password as it is typed.
  if ((io.stdin as { isTTY?: boolean }).isTTY) throw new UsageError("--password-stdin needs the password piped in, e.g. printf '%s' \"$PW\" | npm run admin -- users add …");
  const password = await readSecretFromStdin(io.stdin);
  await withContext(io, async (ctx) => {
    const user = await createUser(ctx, { email, password, role }, ctx.now());
    ctx.audit('admin.user_added', { user: user.id, email: user.email, role });
    io.stdout.write(`created user ${printable(user.email, 320)} with role ${role} (id ${user.id})\n`);
  });
}

function list(args: string[], io: CliIo): Promise<void> {
  return listCommand(args, io, {
    load: listUsers,
    status: (u) => (u.disabledAt === null ? 'active' : 'disabled'),
    empty: 'no users yet (add one with: npm run admin -- users add --help)',
    headers: ['EMAIL', 'ROLE', 'STATUS', 'CREATED', 'ID'],
    cells: (u) => [printable(u.email, 320), u.role, u.disabledAt === null ? 'active' : `disabled ${when(u.disabledAt)}`, when(u.createdAt), u.id],
  });
}

function revokedSummary(r: RevokedGrants): string {
  return `${r.sessions} session(s), ${r.refreshTokens} refresh token(s) and ${r.accessTokens} access token(s) revoked`;
}

const revokedFields = (r: RevokedGrants) => ({ revoked_sessions: r.sessions, revoked_refresh: r.refreshTokens, revoked_access: r.accessTokens });

async function setRole(args: string[], io: CliIo): Promise<void> {
  const o = parseOptions(args, { email: { type: 'string' }, role: { type: 'string' } });
  const email = required(o.email, 'email');
  const { role, stack } = roleOption(o.role, io.env);
  await withContext(io, async (ctx) => {
    const r = await setUserRole(ctx.store, stack, email, role, ctx.now());
    if (!r) throw new CliFailure(`no user with email ${printable(email, 320)}`);
    ctx.audit('admin.user_role_changed', { user: r.user.id, email: r.user.email, role, previous_role: r.previous, ...(r.revoked ? revokedFields(r.revoked) : {}) });
    const after = r.revoked ? `; ${revokedSummary(r.revoked)} (the role lost scopes)` : '';
    io.stdout.write(`${printable(r.user.email, 320)}: role ${r.previous} -> ${role}${after}\n`);
  });
}

async function disable(args: string[], io: CliIo): Promise<void> {
  const email = required(parseOptions(args, { email: { type: 'string' } }).email, 'email');
  await withContext(io, async (ctx) => {
    const r = await disableUser(ctx.store, email, ctx.now());
    if (!r) throw new CliFailure(`no user with email ${printable(email, 320)}`);
    ctx.audit('admin.user_disabled', { user: r.user.id, email: r.user.email, ...revokedFields(r.revoked) });
    const state = r.alreadyDisabled ? 'was already disabled' : 'disabled';
    io.stdout.write(`${printable(r.user.email, 320)} ${state}; ${revokedSummary(r.revoked)}\n`);
  });
}

async function enable(args: string[], io: CliIo): Promise<void> {
  const email = required(parseOptions(args, { email: { type: 'string' } }).email, 'email');
  await withContext(io, async (ctx) => {
    const r = await enableUser(ctx.store, email);
    if (!r) throw new CliFailure(`no user with email ${printable(email, 320)}`);
    ctx.audit('admin.user_enabled', { user: r.user.id, email: r.user.email });
    io.stdout.write(`${printable(r.user.email, 320)} ${r.wasDisabled ? 'enabled' : 'was already enabled'}\n`);
  });
}

/** `users …` admin commands. */
export function run(args: string[], io: CliIo): Promise<number> {
  return runGroup('users', USAGE, { add, list, 'set-role': setRole, disable, enable }, args, io);
}
