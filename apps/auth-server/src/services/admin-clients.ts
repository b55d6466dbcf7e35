import type { AppContext } from '../context.ts';
import { ADMIN_PAGE_SIZE } from './admin-console.ts';
import { clientStatus, type ClientStatus, type ClientSummary } from './client-admin.ts';

/** The list's filters: every client, or those of one status. */
export const CLIENT_FILTERS = ['all', 'active', 'pending', 'revoked'] as const;
export type ClientFilter = (typeof CLIENT_FILTERS)[number];

export function clientFilterOf(value: unknown): ClientFilter {
  return typeof value === 'string' && (CLIENT_FILTERS as readonly string[]).includes(value) ? (value as ClientFilter) : 'all';
}

const TYPES: Record<ClientSummary['source'], string> = {
  dcr: 'dynamic (registered itself)',
  cimd: 'metadata document',
  admin: 'admin-created',
};

/** A client as the admin console lists it: no secret, and hosts rather than whole redirect URIs. */
export interface AdminClientRow {
  id: string;
  name: string;
  type: string;
  /** The distinct hosts of its redirect URIs (where sign-ins send the code). */
  redirectHosts: string[];
  grantTypes: readonly string[];
  status: ClientStatus;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

function hostOf(uri: string): string {
  return URL.canParse(uri) ? new URL(uri).host : uri;
}

/** One page (1-based) of clients, oldest first, of one status or all, and whether another page follows. */
export async function adminClientsPage(ctx: AppContext, filter: ClientFilter, page: number): Promise<{ clients: AdminClientRow[]; more: boolean }> {
  // One row beyond the page tells whether there is a next one.
  const rows = await ctx.store.clients.listPage(filter === 'all' ? undefined : filter, ADMIN_PAGE_SIZE + 1, (page - 1) * ADMIN_PAGE_SIZE);
  const clients = rows.slice(0, ADMIN_PAGE_SIZE).map((c) => ({
    id: c.id,
    name: c.clientName,
    type: TYPES[c.source],
    redirectHosts: [...new Set(c.redirectUris.map(hostOf))],
    grantTypes: c.grantTypes,
    status: clientStatus(c),
    createdAt: c.createdAt,
    lastUsedAt: c.lastUsedAt,
    revokedAt: c.revokedAt,
  }));
  return { clients, more: rows.length > ADMIN_PAGE_SIZE };
}
