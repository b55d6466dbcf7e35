import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { PASSKEYS_SCRIPT } from '../views/render.ts';

// The two scripts of the passkey pages, same-origin (their CSP allows script-src 'self' only):
// @simplewebauthn/browser's bundle (it defines window.SimpleWebAuthnBrowser) and ours.
const browserBundle = join(dirname(dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser'))), 'dist/bundle/index.umd.min.js');

export const passkeyAssetRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  for (const [path, file] of [['/assets/webauthn-browser.js', browserBundle], ['/assets/passkeys.js', PASSKEYS_SCRIPT]] as const) {
    const body = readFileSync(file);
    app.get(path, async (_request, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(body));
  }
};
