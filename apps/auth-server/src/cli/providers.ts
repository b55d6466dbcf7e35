import { formatTable, runGroup, type CliIo } from '@stack/cli';
import { loadStackFile } from '@stack/stack-config';
import { loadAuthConfig } from '../config.ts';
import { federationRedirectUri } from '../services/federation-providers.ts';
import { parseOptions, printable, writeJson } from './common.ts';

const USAGE = `Usage: npm run admin -- providers <command> [options]

Commands:
  list [--json]   the stack file's identity providers ("Continue with <name>" on the login page),
                  each with the redirect URI to register at the provider: AUTH_ISSUER followed by
                  /federation/<slug>/callback

Providers are configured in the stack file (STACK_FILE, default ./stack.yaml) under identity_providers.
`;

async function list(args: string[], io: CliIo): Promise<void> {
  const o = parseOptions(args, { json: { type: 'boolean' } });
  const config = loadAuthConfig(io.env);
  const stack = loadStackFile(config.stackFile, { env: config.env });
  const rows = stack.identityProviders.map((p) => ({
    name: p.name, slug: p.slug, kind: p.kind, issuer: p.issuer, client_id: p.clientId, redirect_uri: federationRedirectUri(config.issuer, p.slug),
  }));
  if (o.json) return writeJson(io, { password_login: stack.passwordLogin, providers: rows });
  if (rows.length === 0) {
    io.stdout.write(`no identity providers in ${stack.source} (add them under identity_providers)\n`);
    return;
  }
  io.stdout.write(formatTable(['NAME', 'KIND', 'ISSUER', 'CLIENT ID', 'REDIRECT URI (register at the provider)'],
    rows.map((r) => [printable(r.name, 64), r.kind, printable(r.issuer, 200), printable(r.client_id, 100), r.redirect_uri])));
  if (!stack.passwordLogin) io.stdout.write('password_login: false (people sign in through these providers only)\n');
}

/** `providers …` admin commands. */
export function run(args: string[], io: CliIo): Promise<number> {
  return runGroup('providers', USAGE, { list }, args, io);
}
