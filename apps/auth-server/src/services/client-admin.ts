import { asc, eq } from 'drizzle-orm';
import { authSchema, type AuthDb } from '@stack/db';
import { revokeGrants } from './user-admin.ts';

const { clients } = authSchema;

/** A client as shown to operators (never the secret hash). */
export interface ClientSummary {
  id: string;
  source: 'dcr' | 'cimd' | 'admin';
  clientName: string;
  redirectUris: string[];
  tokenEndpointAuthMethod: string;
  scope: string;
  createdAt: number;
  revokedAt: number | null;
}

/** All clients (registered, admin-created and cached CIMD documents), oldest first. */
export function listClients(db: AuthDb): ClientSummary[] {
  return db.select({
    id: clients.id,
    source: clients.source,
    clientName: clients.clientName,
    redirectUris: clients.redirectUris,
    tokenEndpointAuthMethod: clients.tokenEndpointAuthMethod,
    scope: clients.scope,
    createdAt: clients.createdAt,
    revokedAt: clients.revokedAt,
  }).from(clients).orderBy(asc(clients.createdAt), asc(clients.id)).all();
}

/**
 * Revokes a client: findClient no longer returns it, so it cannot authorize or use the token
 * endpoint, and its refresh tokens and unexpired access tokens are revoked.
 * Returns undefined if no such client.
 */
export function revokeClient(db: AuthDb, clientId: string, now = Date.now()): { alreadyRevoked: boolean; refreshTokens: number; accessTokens: number } | undefined {
  const row = db.select({ revokedAt: clients.revokedAt }).from(clients).where(eq(clients.id, clientId)).get();
  if (!row) return undefined;
  // Tokens are revoked even when the client already was, in case any were issued in between.
  const revoked = db.transaction((tx) => {
    tx.update(clients).set({ revokedAt: row.revokedAt ?? now }).where(eq(clients.id, clientId)).run();
    return revokeGrants(tx, { clientId }, now);
  });
  return { alreadyRevoked: row.revokedAt !== null, ...revoked };
}
