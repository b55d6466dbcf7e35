import type { AppContext } from '../context.ts';
import type { ClientRecord } from '../store/index.ts';
import { resolveCimdClient } from './cimd.ts';

export type { ClientRecord };

/**
 * True when a client_id is a Client ID Metadata Document URL (an https URL). With
 * `allowHttpLoopback` (CIMD_ALLOW_PRIVATE_ADDRESSES, development and tests only) http URLs on a
 * loopback host count too, so a document can be served from a local server.
 */
export function isCimdClientId(clientId: string, allowHttpLoopback = false): boolean {
  if (clientId.startsWith('https://')) return true;
  return allowHttpLoopback && /^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)(:\d+)?\//.test(clientId);
}

/**
 * Finds an active client by id: registered clients from the database, and (when enabled)
 * Client ID Metadata Documents fetched and cached by their URL. Revoked clients are not returned.
 * `address` is the client address of the request asking: the fetches it may trigger are limited.
 */
export async function findClient(ctx: AppContext, clientId: string, address?: string): Promise<ClientRecord | undefined> {
  if (clientId.length > 2000) return undefined;
  if (isCimdClientId(clientId, ctx.config.cimd.allowPrivateAddresses)) {
    if (!ctx.config.cimd.enabled) return undefined;
    return resolveCimdClient(ctx, clientId, address);
  }
  const row = await ctx.store.clients.find(clientId);
  return row && row.revokedAt === null ? row : undefined;
}
