import type { AppContext } from '../context.ts';
import type { LiveRefreshFamily, UserRecord } from '../store/index.ts';
import { listConnectedApps, type ConnectedApp } from './connected-apps.ts';
import { listSessions, type SessionView } from './sessions.ts';

// Far more than one person keeps; bounds the page's read.
const MAX_FAMILIES = 100;

/** One person's grants as the admin console shows them: what they allowed, where they are signed in, their refresh-token families. */
export interface AdminUserGrants {
  user: UserRecord;
  apps: ConnectedApp[];
  sessions: SessionView[];
  families: (LiveRefreshFamily & { clientName: string })[];
}

/** The same services as the person's own account page (connected-apps.ts, sessions.ts); undefined when no such user. */
export async function adminUserGrants(ctx: AppContext, userId: string): Promise<AdminUserGrants | undefined> {
  const user = await ctx.store.users.findById(userId);
  if (!user) return undefined;
  const [apps, sessions, families] = await Promise.all([
    listConnectedApps(ctx, userId),
    // No session of this list is the admin's browser's.
    listSessions(ctx, userId, ''),
    ctx.store.tokens.liveFamiliesForUser(userId, ctx.now(), MAX_FAMILIES),
  ]);
  const names = new Map(apps.map((a) => [a.clientId, a.name]));
  for (const f of families) {
    if (!names.has(f.clientId)) names.set(f.clientId, (await ctx.store.clients.find(f.clientId))?.clientName ?? f.clientId);
  }
  return { user, apps, sessions, families: families.map((f) => ({ ...f, clientName: names.get(f.clientId)! })) };
}
