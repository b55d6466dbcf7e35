import { readFileSync } from 'node:fs';
import { CliFailure, UsageError, type CliIo } from '@stack/cli';
import { JWT_BEARER_GRANT_TYPE, OAuthError, validateRegistrationMetadata } from '@stack/oauth';
import { loadStackFile } from '@stack/stack-config';
import { registerClient } from '../services/client-registration.ts';
import { addMachineClient, approveClient, ClientAdminError, clientStatus, listClients, revokeClient, setResourceServer, type MachineAuthMethod } from '../services/client-admin.ts';
import { listCommand, parseOptions, printable, required, roleOption, runGroup, when, withContext, writeJson } from './common.ts';

const USAGE = `Usage: npm run admin -- clients <command> [options]

Commands:
  add --name N --grant-types client_credentials --role R [--scope S]
      [--auth-method client_secret_basic|client_secret_post|private_key_jwt]
      [--jwks-file F | --jwks-uri U] [--json]
                             register a machine client (no user): it gets tokens for itself with
                             grant_type=client_credentials, carrying role R (one the stack file
                             declares) and scopes S (default: all of R's; never beyond them).
                             A secret is printed once (default client_secret_basic); private_key_jwt
                             clients give their public keys instead (RFC 7523), inline or by URL
  add --name N --grant-types jwt-bearer [--auth-method …] [--json]
                             register a client that presents ID-JAGs (list its id under an
                             enterprise_idps entry's clients) or that a workload issuer acts as
                             (workload_issuers client_id); no --role or --scope: the stack file
                             maps each grant to a role
  add --name N --grant-types authorization_code --redirect-uris "U1 U2"
      [--auth-method none|client_secret_basic|client_secret_post] [--scope S] [--json]
                             pre-register an interactive client (people sign in and allow it),
                             e.g. when REGISTRATION_MODE=closed: redirect URIs are checked as
                             registration checks them (https, or http on a loopback address) and
                             trusted as an operator's; public (none) by default, else a secret
                             is printed once. Clients with a metadata document URL need no entry
  list [--json]              list OAuth clients (registered, admin-created and cached metadata documents)
                             and their status: active, pending (waiting for approval) or revoked
  approve <client_id> | --client-id ID
                             approve a client that registered itself while REGISTRATION_MODE=approval
                             (it can sign people in and get tokens from then on)
  revoke --client-id ID      revoke a client and its refresh tokens and unexpired access tokens
  set-resource-server --client-id ID
                             let a confidential client introspect tokens issued to any client
                             (a resource server); other clients introspect only their own tokens
  unset-resource-server --client-id ID
                             take that back
`;

const AUTH_METHODS: readonly MachineAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];
const MACHINE_GRANTS = new Map<string, 'client_credentials' | 'jwt-bearer'>([
  ['client_credentials', 'client_credentials'], ['jwt-bearer', 'jwt-bearer'], [JWT_BEARER_GRANT_TYPE, 'jwt-bearer'],
]);
const MAX_JWKS_FILE_BYTES = 64 * 1024;

function readJwksFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliFailure(`cannot read --jwks-file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.length > MAX_JWKS_FILE_BYTES) throw new CliFailure('--jwks-file is larger than 64 KB');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CliFailure('--jwks-file is not JSON');
  }
}

async function add(args: string[], io: CliIo): Promise<void> {
  const o = parseOptions(args, {
    name: { type: 'string' }, 'grant-types': { type: 'string' }, role: { type: 'string' }, scope: { type: 'string' }, 'redirect-uris': { type: 'string' },
    'auth-method': { type: 'string' }, 'jwks-file': { type: 'string' }, 'jwks-uri': { type: 'string' }, json: { type: 'boolean' },
  });
  const name = required(o.name, 'name');
  const grants = required(o['grant-types'], 'grant-types').split(/[\s,]+/).filter(Boolean);
  if (grants.includes('authorization_code')) return addInteractiveClient(io, name, grants, o);
  // Interactive clients register themselves (RFC 7591 or a metadata document); admins add machine clients.
  const grant = grants.length === 1 ? MACHINE_GRANTS.get(grants[0]!) : undefined;
  if (!grant) throw new UsageError('--grant-types must be authorization_code (with refresh_token), client_credentials or jwt-bearer');
  const authMethod = (o['auth-method'] ?? 'client_secret_basic') as MachineAuthMethod;
  if (!AUTH_METHODS.includes(authMethod)) throw new UsageError(`--auth-method must be one of ${AUTH_METHODS.join(', ')}`);
  if (grant === 'jwt-bearer') return addJwtBearerClient(io, name, authMethod, o);
  const { role, stack } = roleOption(o.role, io.env);
  const jwks = o['jwks-file'] === undefined ? undefined : readJwksFile(o['jwks-file']);
  await withContext(io, async (ctx) => {
    let r: Awaited<ReturnType<typeof addMachineClient>>;
    try {
      r = await addMachineClient(ctx.store, stack, {
        name, role, authMethod, ...(o.scope === undefined ? {} : { scope: o.scope }), ...(jwks === undefined ? {} : { jwks }),
        ...(o['jwks-uri'] === undefined ? {} : { jwksUri: o['jwks-uri'] }),
      }, ctx.now());
    } catch (err) {
      if (err instanceof ClientAdminError) throw new CliFailure(err.message);
      throw err;
    }
    ctx.audit('admin.client_added', { client: r.clientId, client_name: name, role, scope: r.scope, auth_method: authMethod, grant: 'client_credentials' });
    if (o.json) return writeJson(io, { client_id: r.clientId, ...(r.secret ? { client_secret: r.secret } : {}), role, scope: r.scope, token_endpoint_auth_method: authMethod });
    io.stdout.write(`created client ${r.clientId} (${printable(name, 100)}): role ${role}, scope ${r.scope}, ${authMethod}\n`);
    if (r.secret) io.stdout.write(`client secret (shown once, store it now): ${r.secret}\n`);
  });
}

/**
 * `clients add --grant-types authorization_code`: a client people sign in to, registered by the
 * operator (for when dynamic registration is off). Its metadata is checked exactly as /register
 * checks it (RFC 7591 §2, redirect URIs per OAuth 2.1 §2.3.1).
 */
async function addInteractiveClient(io: CliIo, name: string, grants: string[], o: Record<string, string | boolean | undefined>): Promise<void> {
  if (o.role !== undefined || o['jwks-file'] !== undefined || o['jwks-uri'] !== undefined) {
    throw new UsageError('--role, --jwks-file and --jwks-uri are not for authorization_code clients: a person\'s role decides their scopes');
  }
  const redirectUris = required(o['redirect-uris'], 'redirect-uris').split(/[\s,]+/).filter(Boolean);
  const grantTypes = [...new Set(['authorization_code', 'refresh_token', ...grants])];
  await withContext(io, async (ctx) => {
    const stack = loadStackFile(ctx.config.stackFile, { env: ctx.config.env });
    let metadata;
    try {
      metadata = validateRegistrationMetadata({
        client_name: name, redirect_uris: redirectUris, grant_types: grantTypes, response_types: ['code'],
        token_endpoint_auth_method: o['auth-method'] ?? 'none', ...(o.scope === undefined ? {} : { scope: o.scope }),
      }, Object.keys(stack.scopes));
    } catch (err) {
      if (err instanceof OAuthError) throw new CliFailure(err.description ?? err.code);
      throw err;
    }
    const info = await registerClient(ctx, metadata, { source: 'admin' });
    ctx.audit('admin.client_added', { client: info.client_id, client_name: name, scope: metadata.scope, auth_method: metadata.token_endpoint_auth_method, grant: 'authorization_code' });
    if (o.json) return writeJson(io, info);
    io.stdout.write(`created client ${info.client_id} (${printable(name, 100)}): authorization_code, ${metadata.token_endpoint_auth_method}, redirect URIs ${printable(metadata.redirect_uris.join(' '), 200)}\n`);
    if (info.client_secret) io.stdout.write(`client secret (shown once, store it now): ${info.client_secret}\n`);
  });
}

/** `clients add --grant-types jwt-bearer`: no role or scope of its own (the stack file maps each grant). */
async function addJwtBearerClient(io: CliIo, name: string, authMethod: MachineAuthMethod, o: Record<string, string | boolean | undefined>): Promise<void> {
  if (o.role !== undefined || o.scope !== undefined) throw new UsageError('--role and --scope are not for jwt-bearer clients: the stack file maps each grant to a role');
  const jwks = typeof o['jwks-file'] === 'string' ? readJwksFile(o['jwks-file']) : undefined;
  const jwksUri = typeof o['jwks-uri'] === 'string' ? o['jwks-uri'] : undefined;
  await withContext(io, async (ctx) => {
    let r: Awaited<ReturnType<typeof addMachineClient>>;
    try {
      r = await addMachineClient(ctx.store, loadStackFile(ctx.config.stackFile, { env: ctx.config.env }), {
        name, grant: 'jwt-bearer', authMethod, ...(jwks === undefined ? {} : { jwks }), ...(jwksUri === undefined ? {} : { jwksUri }),
      }, ctx.now());
    } catch (err) {
      if (err instanceof ClientAdminError) throw new CliFailure(err.message);
      throw err;
    }
    ctx.audit('admin.client_added', { client: r.clientId, client_name: name, auth_method: authMethod, grant: JWT_BEARER_GRANT_TYPE });
    if (o.json) return writeJson(io, { client_id: r.clientId, ...(r.secret ? { client_secret: r.secret } : {}), grant_types: [JWT_BEARER_GRANT_TYPE], token_endpoint_auth_method: authMethod });
    io.stdout.write(`created client ${r.clientId} (${printable(name, 100)}): ${JWT_BEARER_GRANT_TYPE}, ${authMethod}; list its id in the stack file\n`);
    if (r.secret) io.stdout.write(`client secret (shown once, store it now): ${r.secret}\n`);
  });
}

function list(args: string[], io: CliIo): Promise<void> {
  return listCommand(args, io, {
    load: listClients,
    status: clientStatus,
    empty: 'no clients registered yet',
    headers: ['CLIENT ID', 'NAME', 'SOURCE', 'AUTH', 'RESOURCE SERVER', 'ROLE', 'CREATED', 'STATUS', 'REDIRECT URIS'],
    // Names, ids and redirect URIs come from untrusted registrations: printable() escapes control characters.
    cells: (c) => [
      printable(c.id, 100), printable(c.clientName, 40), c.source, c.tokenEndpointAuthMethod, c.resourceServer ? 'yes' : 'no', c.role ?? '-', when(c.createdAt),
      c.revokedAt === null ? clientStatus(c) : `revoked ${when(c.revokedAt)}`, printable(c.redirectUris.join(' '), 100),
    ],
  });
}

async function revoke(args: string[], io: CliIo): Promise<void> {
  const clientId = required(parseOptions(args, { 'client-id': { type: 'string' } })['client-id'], 'client-id');
  await withContext(io, async (ctx) => {
    const r = await revokeClient(ctx.store, clientId, ctx.now());
    if (!r) throw new CliFailure(`no client with id ${printable(clientId, 100)}`);
    ctx.audit('admin.client_revoked', { client: clientId, revoked_refresh: r.refreshTokens, revoked_access: r.accessTokens });
    const state = r.alreadyRevoked ? 'was already revoked' : 'revoked';
    io.stdout.write(`client ${printable(clientId, 100)} ${state}; ${r.refreshTokens} refresh token(s) and ${r.accessTokens} access token(s) revoked\n`);
  });
}

/** `clients approve <client_id>` (or --client-id, as the other commands take it). */
async function approve(args: string[], io: CliIo): Promise<void> {
  // A client id may begin with '-' (base64url) but never with '--' unless by 1 in 4096: --client-id=ID then.
  const positional = args[0] !== undefined && !args[0].startsWith('--') ? args[0] : undefined;
  const o = parseOptions(positional === undefined ? args : args.slice(1), { 'client-id': { type: 'string' } });
  if (positional !== undefined && o['client-id'] !== undefined) throw new UsageError('give the client id once: approve <client_id> or --client-id ID');
  const clientId = positional ?? required(o['client-id'], 'client-id');
  await withContext(io, async (ctx) => {
    let r: Awaited<ReturnType<typeof approveClient>>;
    try {
      r = await approveClient(ctx.store, clientId);
    } catch (err) {
      if (err instanceof ClientAdminError) throw new CliFailure(`client ${printable(clientId, 100)}: ${err.message}`);
      throw err;
    }
    if (r.alreadyApproved) {
      io.stdout.write(`client ${printable(clientId, 100)} (${printable(r.clientName, 100)}) was not waiting for approval; nothing changed\n`);
      return;
    }
    ctx.audit('admin.client_approved', { client: r.clientId, client_name: r.clientName });
    io.stdout.write(`client ${printable(clientId, 100)} (${printable(r.clientName, 100)}) approved: people can sign in with it now\n`);
  });
}

function resourceServer(value: boolean) {
  return async (args: string[], io: CliIo): Promise<void> => {
    const clientId = required(parseOptions(args, { 'client-id': { type: 'string' } })['client-id'], 'client-id');
    await withContext(io, async (ctx) => {
      try {
        await setResourceServer(ctx.store, clientId, value);
      } catch (err) {
        if (err instanceof ClientAdminError) throw new CliFailure(`client ${printable(clientId, 100)}: ${err.message}`);
        throw err;
      }
      ctx.audit('admin.client_resource_server', { client: clientId, reason: value ? 'may introspect any token' : 'introspects only its own tokens' });
      io.stdout.write(value
        ? `client ${printable(clientId, 100)} is a resource server: it may introspect tokens issued to any client\n`
        : `client ${printable(clientId, 100)} may introspect only tokens issued to itself\n`);
    });
  };
}

/** `clients …` admin commands. */
export function run(args: string[], io: CliIo): Promise<number> {
  return runGroup('clients', USAGE, {
    add, list, approve, revoke, 'set-resource-server': resourceServer(true), 'unset-resource-server': resourceServer(false),
  }, args, io);
}
