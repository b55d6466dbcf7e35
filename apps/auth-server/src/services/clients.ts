import { eq } from 'drizzle-orm';
import { authSchema } from '@stack/db';
import type { AppContext } from '../context.ts';
import { resolveCimdClient } from './cimd.ts';

export type ClientRecord = typeof authSchema.clients.$inferSelect;

/** True when a client_id is a Client ID Metadata Document URL (an https URL with a path). */
export function isCimdClientId(clientId: string): boolean {
  return clientId.startsWith('https://');
}

/**
 * Finds an active client by id: registered clients from the database, and (when enabled)
 * Client ID Metadata Documents fetched and cached by their URL. Revoked clients are not returned.
 */
export async function findClient(ctx: AppContext, clientId: string): Promise<ClientRecord | undefined> {
  if (clientId.length > 2000) return undefined;
  if (isCimdClientId(clientId)) {
    if (!ctx.config.cimd.enabled) return undefined;
    return resolveCimdClient(ctx, clientId);
  }
  const row = ctx.db.select().from(authSchema.clients).where(eq(authSchema.clients.id, clientId)).get();
  return row && row.revokedAt === null ? row : undefined;
}
