import { formatTable, type CliIo } from '@stack/config';
import { resolveKeks } from '../services/kek.ts';
import { createKeyStore, type KeyStore } from '../services/keys.ts';
import { parseOptions, runGroup, when, withContext, writeJson, type CliContext } from './common.ts';

const USAGE = `Usage: npm run admin -- keys <command> [options]

Commands:
  rotate          add a new signing key; the previous one stops signing but stays published
                  in the JWKS while tokens it signed may still be valid
  list [--json]   list signing keys: kid, created, retired, published in the JWKS
`;

function keyStore(ctx: CliContext): KeyStore {
  return createKeyStore(ctx.store.signingKeys, resolveKeks(ctx.config), ctx.now, ctx.config.accessTokenTtl);
}

async function rotate(args: string[], io: CliIo): Promise<void> {
  parseOptions(args, {});
  await withContext(io, async (ctx) => {
    const keys = keyStore(ctx);
    const previous = (await keys.list()).find((k) => k.retiredAt === null)?.kid;
    const kid = await keys.rotate();
    ctx.audit('admin.key_rotated', { kid, previous_kid: previous });
    io.stdout.write(`new signing key ${kid}; a running server signs with it within a few seconds\n`);
    if (previous) io.stdout.write(`previous key ${previous} is retired and stays in the JWKS for ${ctx.config.accessTokenTtl + 60} s\n`);
  });
}

async function list(args: string[], io: CliIo): Promise<void> {
  const o = parseOptions(args, { json: { type: 'boolean' } });
  await withContext(io, async (ctx) => {
    const keys = await keyStore(ctx).list();
    if (o.json) return writeJson(io, keys);
    if (keys.length === 0) return void io.stdout.write('no signing keys yet (the server creates one on first start)\n');
    io.stdout.write(formatTable(['KID', 'CREATED', 'RETIRED', 'PUBLISHED'], keys.map((k) => [
      k.kid, when(k.createdAt), when(k.retiredAt), k.published ? 'yes' : 'no',
    ])));
  });
}

/** `keys …` admin commands (signing keys for access tokens). */
export function run(args: string[], io: CliIo): Promise<number> {
  return runGroup('keys', USAGE, { rotate, list }, args, io);
}
