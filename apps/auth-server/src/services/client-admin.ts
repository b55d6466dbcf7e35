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

/**
 * Marks a client as a resource server, which may introspect tokens issued to any client
 * (RFC 7662 §4: the endpoint decides which callers may learn about which tokens), or clears the
 * mark. Only an operator can: registration never sets it. The client must be an active
 * confidential client, the only kind the introspection endpoint accepts.
 */
export async function setResourceServer(store: AuthStore, clientId: string, value: boolean): Promise<void> {
  const client = await store.clients.find(clientId);
  if (!client) throw new ClientAdminError('no client with that id');
  if (value) {
    if (client.revokedAt !== null) throw new ClientAdminError('the client is revoked');
    if (client.tokenEndpointAuthMethod === 'none') throw new ClientAdminError('the client is public (no secret): introspection needs a confidential client');
  }
  await store.clients.setResourceServer(clientId, value);
}

/** An operator asked for something the client's state does not allow; the message says what. */
export class ClientAdminError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClientAdminError';
  }
}
