import { parseScope } from '@stack/oauth';
import type { AppContext } from '../context.ts';
import type { RevokedConsent } from '../store/index.ts';

/** An application the person allowed, as the account page shows it. */
export interface ConnectedApp {
  clientId: string;
  name: string;
  /** Where it receives results: the host of its (first) redirect URI. */
  redirectHost: string | undefined;
  /** For a client identified by its metadata document URL: that URL's host. */
  clientHost: string | undefined;
  scopes: string[];
  resources: string[];
  grantedAt: number;
  lastUsedAt: number | null;
}

function hostOf(uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  try {
    return new URL(uri).host;
  } catch {
    return undefined;
  }
}

/** What the user allowed, one entry per client (its resources merged), newest grant first. */
export async function listConnectedApps(ctx: AppContext, userId: string): Promise<ConnectedApp[]> {
  const byClient = new Map<string, ConnectedApp>();
  for (const c of await ctx.store.consents.listForUser(userId)) {
    let app = byClient.get(c.clientId);
    if (!app) {
      const client = await ctx.store.clients.find(c.clientId);
      app = {
        clientId: c.clientId,
        name: client?.clientName ?? c.clientId,
        redirectHost: hostOf(client?.redirectUris[0]),
        clientHost: client?.source === 'cimd' ? hostOf(client.id) : undefined,
        scopes: [],
        resources: [],
        grantedAt: c.createdAt,
        lastUsedAt: c.lastUsedAt,
      };
      byClient.set(c.clientId, app);
    }
    for (const s of parseScope(c.scope)) if (!app.scopes.includes(s)) app.scopes.push(s);
    app.resources.push(c.resource);
    app.grantedAt = Math.max(app.grantedAt, c.createdAt);
  }
  return [...byClient.values()];
}

/** Takes back what the user allowed one client: its consents, codes and tokens for this user only. */
export function revokeConnectedApp(ctx: AppContext, userId: string, clientId: string): Promise<RevokedConsent> {
  return ctx.store.consents.revokeForUser(userId, clientId, ctx.now());
}
