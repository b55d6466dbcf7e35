import type { FastifyPluginAsync } from 'fastify';
import { invalidRequest } from '@stack/oauth';
import { queryParams } from '../plugins/form-body.ts';
import { noStore } from './token.ts';

// Bounded so the response stays under the MCP server's 5 MB feed limit (about 70 bytes per entry).
const MAX_ENTRIES = 50_000;

/**
 * GET /revocations?since=<ms>: revoked access tokens that have not expired yet, for the MCP server
 * to poll. Holds only jti values (random ids) and times, nothing that grants access.
 *
 * Response: `{ revoked: [{ jti, expiresAt }], next: <ms>, complete: boolean }`, times in Unix ms,
 * oldest revocation first. Poll again with `since=next`; `since` is inclusive, so an entry may come
 * twice. `complete` is false when the list was cut at its limit and the next poll should follow at once.
 */
export const revocationRoutes: FastifyPluginAsync = async (app) => {
  const { ctx } = app;
  app.get('/revocations', async (request, reply) => {
    noStore(reply);
    const { since: raw } = queryParams(request);
    const since = raw === undefined || raw === '' ? 0 : Number(raw);
    if (!/^\d{0,16}$/.test(raw ?? '') || !Number.isSafeInteger(since)) throw invalidRequest("'since' must be a time in milliseconds");
    const entries = await ctx.store.tokens.listRevocations(since, ctx.now(), MAX_ENTRIES);
    const last = entries[entries.length - 1];
    return {
      revoked: entries.map(({ jti, expiresAt }) => ({ jti, expiresAt })),
      next: last ? last.revokedAt : since,
      complete: entries.length < MAX_ENTRIES,
    };
  });
};
