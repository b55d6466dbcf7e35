import { CliFailure, type CliIo } from '@stack/cli';
import { ClientAdminError, listClients, revokeClient, setResourceServer } from '../services/client-admin.ts';
import { listCommand, parseOptions, printable, required, runGroup, when, withContext } from './common.ts';

const USAGE = `Usage: npm run admin -- clients <command> [options]

Commands:
  list [--json]              list OAuth clients (registered, admin-created and cached metadata documents)
  revoke --client-id ID      revoke a client and its refresh tokens and unexpired access tokens
  set-resource-server --client-id ID
                             let a confidential client introspect tokens issued to any client
                             (a resource server); other clients introspect only their own tokens
  unset-resource-server --client-id ID
                             take that back
`;

function list(args: string[], io: CliIo): Promise<void> {
  return listCommand(args, io, {
    load: listClients,
    status: (c) => (c.revokedAt === null ? 'active' : 'revoked'),
    empty: 'no clients registered yet',
    headers: ['CLIENT ID', 'NAME', 'SOURCE', 'AUTH', 'RESOURCE SERVER', 'CREATED', 'STATUS', 'REDIRECT URIS'],
    // Names, ids and redirect URIs come from untrusted registrations: printable() escapes control characters.
    cells: (c) => [
      printable(c.id, 100), printable(c.clientName, 40), c.source, c.tokenEndpointAuthMethod, c.resourceServer ? 'yes' : 'no', when(c.createdAt),
      c.revokedAt === null ? 'active' : `revoked ${when(c.revokedAt)}`, printable(c.redirectUris.join(' '), 100),
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
    list, revoke, 'set-resource-server': resourceServer(true), 'unset-resource-server': resourceServer(false),
  }, args, io);
}
