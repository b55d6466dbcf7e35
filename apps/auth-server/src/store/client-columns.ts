import { and, asc, eq, isNotNull, isNull } from 'drizzle-orm';
import type { authSchema } from '@stack/db';
import type { pgAuthSchema } from '@stack/db/pg';

// The clients table's columns and conditions both engines' ClientRepo use: the same names on each.
type ClientsTable = typeof authSchema.clients | typeof pgAuthSchema.clients;

const SUMMARY = [
  'id', 'source', 'clientName', 'redirectUris', 'grantTypes', 'tokenEndpointAuthMethod', 'scope', 'role', 'createdAt',
  'revokedAt', 'resourceServer', 'pendingApproval', 'lastUsedAt',
] as const;

/** What operators see of a client (ClientSummary: never the secret hash), as a select's columns. */
export function clientSummaryColumns<T extends ClientsTable>(c: T): Pick<T, (typeof SUMMARY)[number]> {
  return Object.fromEntries(SUMMARY.map((k) => [k, c[k]])) as Pick<T, (typeof SUMMARY)[number]>;
}

/** Oldest first, then by id: a stable order for pages. */
export const clientListOrder = (c: ClientsTable) => [asc(c.createdAt), asc(c.id)];

/** client-admin.ts clientStatus as SQL conditions. */
export function clientStatusIs(c: ClientsTable) {
  return {
    revoked: isNotNull(c.revokedAt),
    pending: and(isNull(c.revokedAt), eq(c.pendingApproval, true)),
    active: and(isNull(c.revokedAt), eq(c.pendingApproval, false)),
  };
}
