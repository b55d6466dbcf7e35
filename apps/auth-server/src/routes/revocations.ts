import type { FastifyPluginAsync } from 'fastify';
import { invalidRequest } from '@stack/oauth';
import { queryParams } from '../plugins/form-body.ts';

// Bounded so the response stays under the MCP server's 5 MB feed limit (about 70 bytes per entry).
const MAX_ENTRIES = 50_000;

/**
 * GET /revocations?since=<ms>: revoked access tokens that have not expired yet, for the MCP server
 * to poll. Holds only jti values (random ids) and times, nothing that grants access.
 *
 * Response: `{ revoked: [{ jti, expiresAt }], next: <ms>, complete: boolean }`, times in Unix ms,
 * oldest revocation first. `since` is inclusive, so an entry may come twice. `complete` is false when
 * the list was cut at its limit: fetch the rest at once with `since=next`. Otherwise poll again from a
 * minute before `next` (REVOCATION_OVERLAP_MS in @stack/mcp-auth): revokedAt is taken from the
 * revoking process's clock before its transaction commits, so a revocation can appear after a poll
 * that already returned later ones (a slow transaction, the admin CLI, instances' clocks).
 */
export const revocationRoutes: FastifyPluginAsync = async (app) => {
  const { ctx } = app;
  app.get('/revocations', { config: { noStore: true } }, async (request) => {
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
