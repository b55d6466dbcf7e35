import { CliFailure, readSecretFromStdin, UsageError, type CliIo } from '@stack/cli';
import { createUser } from '../services/users.ts';
import { deleteUser, disableUser, enableUser, listUsers, setUserPassword, setUserRole, userResetLink, type RevokedGrants } from '../services/user-admin.ts';
import { listCommand, parseOptions, printable, required, roleOption, runGroup, when, withContext } from './common.ts';

const USAGE = `Usage: npm run admin -- users <command> [options]

Commands:
  add --email E --role R --password-stdin   create a user; the password (at least 12 characters)
                                            is read from standard input
  list [--json]                             list users
  set-role --email E --role R               change a user's role; a downgrade revokes their tokens
  disable --email E                         block sign-in and revoke the user's sessions and tokens
  enable --email E                          allow a disabled user to sign in again
  set-password --email E --password-stdin   set a user's password (read from standard input, the
                                            rules of add); ends all their sessions
  reset-link --email E                      print a link (single use, valid 30 minutes) where the
                                            user sets a new password; hand it over yourself
  delete --email E                          delete a user with their sessions and consents; their
                                            refresh and access tokens are revoked

Roles: the ones the stack file (STACK_FILE, default ./stack.yaml) declares, each with the scopes
it lists for them; the shipped file has admin (db:read db:write db:admin), developer (db:read
db:write) and viewer (db:read).

Example:
  printf '%s' 'a-long-password' | npm run admin -- users add --email you@example.com --role admin --password-stdin
`;

/** The password piped on standard input (--password-stdin); never an argument, never a terminal that echoes it. */
async function passwordFromStdin(o: { 'password-stdin'?: boolean }, io: CliIo, command: string): Promise<string> {
  if (!o['password-stdin']) throw new UsageError('missing --password-stdin: pipe the password on standard input');
  // An interactive terminal would echo the password as it is typed.
  if ((io.stdin as { isTTY?: boolean }).isTTY) throw new UsageError(`--password-stdin needs the password piped in, e.g. printf '%s' "$PW" | npm run admin -- users ${command} …`);
  return readSecretFromStdin(io.stdin);
}

async function add(args: string[], io: CliIo): Promise<void> {
  const o = parseOptions(args, { email: { type: 'string' }, role: { type: 'string' }, 'password-stdin': { type: 'boolean' } });
  const email = required(o.email, 'email');
  const { role } = roleOption(o.role, io.env);
  const password = await passwordFromStdin(o, io, 'add');
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

const noUser = (email: string) => new CliFailure(`no user with email ${printable(email, 320)}`);

async function setPasswordCommand(args: string[], io: CliIo): Promise<void> {
  const o = parseOptions(args, { email: { type: 'string' }, 'password-stdin': { type: 'boolean' } });
  const email = required(o.email, 'email');
  const password = await passwordFromStdin(o, io, 'set-password');
  await withContext(io, async (ctx) => {
    const r = await setUserPassword(ctx, email, password);
    if (!r) throw noUser(email);
    ctx.audit('admin.user_password_set', { user: r.user.id, email: r.user.email, revoked_sessions: r.sessions });
    io.stdout.write(`${printable(r.user.email, 320)}: password set; ${r.sessions} session(s) ended\n`);
  });
}

async function resetLink(args: string[], io: CliIo): Promise<void> {
  const email = required(parseOptions(args, { email: { type: 'string' } }).email, 'email');
  await withContext(io, async (ctx) => {
    const r = await userResetLink(ctx.store, ctx.config.issuer, email, ctx.now());
    if (!r) throw noUser(email);
    if (r.user.disabledAt !== null) io.stderr.write('warning: this user is disabled; the link will not work until `users enable`\n');
    // The audit line names the user, never the link: whoever reads the log must not be able to use it.
    ctx.audit('admin.user_reset_link', { user: r.user.id, email: r.user.email, expires_at: when(r.expiresAt) });
    io.stdout.write(`${r.url}\n`);
    io.stderr.write(`single use, valid until ${when(r.expiresAt)}; an earlier link for ${printable(r.user.email, 320)} no longer works\n`);
  });
}

async function remove(args: string[], io: CliIo): Promise<void> {
  const email = required(parseOptions(args, { email: { type: 'string' } }).email, 'email');
  await withContext(io, async (ctx) => {
    const r = await deleteUser(ctx.store, email, ctx.now());
    if (!r) throw noUser(email);
    ctx.audit('admin.user_deleted', { user: r.user.id, email: r.user.email, revoked_consents: r.deleted.consents, ...revokedFields(r.deleted) });
    io.stdout.write(`${printable(r.user.email, 320)} deleted; ${r.deleted.consents} consent(s) removed, ${revokedSummary(r.deleted)}\n`);
  });
}

/** `users …` admin commands. */
export function run(args: string[], io: CliIo): Promise<number> {
  return runGroup('users', USAGE, {
    add, list, 'set-role': setRole, disable, enable, 'set-password': setPasswordCommand, 'reset-link': resetLink, delete: remove,
  }, args, io);
}
