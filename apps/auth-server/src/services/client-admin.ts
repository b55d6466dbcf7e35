import type { AuthStore, ClientSummary } from '../store/index.ts';

export type { ClientSummary };

/** All clients (registered, admin-created and cached CIMD documents), oldest first. */
export function listClients(store: AuthStore): Promise<ClientSummary[]> {
  return store.clients.list();
}

/**
 * Revokes a client: findClient no longer returns it, so it cannot authorize or use the token
 * endpoint, and its refresh tokens and unexpired access tokens are revoked.
 * Returns undefined if no such client.
 */
export function revokeClient(store: AuthStore, clientId: string, now = Date.now()): Promise<{ alreadyRevoked: boolean; refreshTokens: number; accessTokens: number } | undefined> {
  return store.clients.revoke(clientId, now);
}
