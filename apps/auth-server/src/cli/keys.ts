import { formatTable, UsageError, type CliIo } from '@stack/cli';
import { resolveKeks } from '../services/kek.ts';
import { createKeyStore, PUBLISH_LEAD_MS, type KeyInfo, type KeyStore } from '../services/keys.ts';
import { parseOptions, runGroup, when, withContext, writeJson, type CliContext } from './common.ts';
import { rotateKekEverywhere } from './rotate-kek.ts';

const USAGE = `Usage: npm run admin -- keys <command> [options]

Commands:
  rotate          add the next signing key: it is published in the JWKS at once and takes over
                  signing ${PUBLISH_LEAD_MS / 1000} s later, so every verifier knows it before its first token;
                  the previous key then stays published while tokens it signed may still be valid
  rotate --now    emergency (a key may have leaked): the new key signs at once and every other key
                  is withdrawn from the JWKS, so tokens they signed stop verifying (clients refresh)
  list [--json]   list signing keys: kid, state (next, current, retired), times, published in the JWKS,
                  and when the running servers add the next key (SIGNING_KEY_ROTATION_DAYS)
  rotate-kek      re-wrap every envelope of the stack (signing keys and MCP secrets) under
                  KEY_ENCRYPTION_KEY, with the key used until now in KEY_ENCRYPTION_KEY_PREVIOUS;
                  afterwards KEY_ENCRYPTION_KEY_PREVIOUS can be removed
`;

function keyStore(ctx: CliContext): KeyStore {
  return createKeyStore(ctx.store.signingKeys, resolveKeks(ctx.config), ctx.now, ctx.config.accessTokenTtl);
}

async function rotate(args: string[], io: CliIo): Promise<void> {
  const o = parseOptions(args, { now: { type: 'boolean' } });
  await withContext(io, async (ctx) => {
    const keys = keyStore(ctx);
    const previous = (await keys.list()).filter((k) => k.state !== 'retired').map((k) => k.kid);
    const r = await keys.rotate({ immediately: o.now === true });
    ctx.audit('admin.key_rotated', { kid: r.kid, previous_kid: previous.join(' ') || undefined, ...(o.now ? { withdrawn: r.withdrawn.join(' '), reason: 'emergency: --now' } : {}) });
    if (o.now) {
      io.stdout.write(`new signing key ${r.kid} signs now (running servers switch within a few seconds)\n`);
      if (r.withdrawn.length) io.stdout.write(`withdrawn from the JWKS: ${r.withdrawn.join(', ')}; tokens they signed stop verifying once verifiers refetch the JWKS\n`);
      return;
    }
    if (!previous.length) return void io.stdout.write(`new signing key ${r.kid} signs now (there was no other)\n`);
    io.stdout.write(`new signing key ${r.kid} is published now and signs from ${when(r.signsFrom)} (in ${PUBLISH_LEAD_MS / 1000} s)\n`);
    io.stdout.write(`${previous.join(', ')} signs until then and stays in the JWKS for ${ctx.config.accessTokenTtl + 60} s more\n`);
  });
}

async function list(args: string[], io: CliIo): Promise<void> {
  const o = parseOptions(args, { json: { type: 'boolean' } });
  await withContext(io, async (ctx) => {
    const keys = await keyStore(ctx).list();
    if (o.json) return writeJson(io, keys);
    if (keys.length === 0) return void io.stdout.write('no signing keys yet (the server creates one on first start)\n');
    io.stdout.write(formatTable(['KID', 'STATE', 'CREATED', 'SIGNS FROM', 'RETIRED', 'PUBLISHED'], keys.map((k) => [
      k.kid, k.state, when(k.createdAt), when(k.signsFrom), when(k.retiredAt), k.published ? 'yes' : 'no',
    ])));
    io.stdout.write(`${scheduleLine(keys, ctx.config.signingKeyRotationMs)}\n`);
  });
}

/** When the running servers add the next key: the newest key's creation plus the period. */
function scheduleLine(keys: readonly KeyInfo[], periodMs: number): string {
  if (periodMs === 0) return 'scheduled rotation: off (SIGNING_KEY_ROTATION_DAYS=0); rotate with keys rotate';
  const newest = Math.max(...keys.filter((k) => k.retiredAt === null).map((k) => k.createdAt));
  return `scheduled rotation: every ${periodMs / 86_400_000} days (SIGNING_KEY_ROTATION_DAYS); a running server adds the next key at ${when(newest + periodMs)}`;
}

async function rotateKek(args: string[], io: CliIo): Promise<void> {
  if (args.length > 0) throw new UsageError('keys rotate-kek takes no arguments');
  await rotateKekEverywhere(io);
}

/** `keys …` admin commands (signing keys for access tokens, and the key-encryption key). */
export function run(args: string[], io: CliIo): Promise<number> {
  return runGroup('keys', USAGE, { rotate, list, 'rotate-kek': rotateKek }, args, io);
}
