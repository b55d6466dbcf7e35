import { and, eq } from 'drizzle-orm';
import { authSchema } from '@stack/db';
import { formatScope, parseScope } from '@stack/oauth';
import type { AppContext } from '../context.ts';

const { consents } = authSchema;

export interface ConsentKey {
  userId: string;
  clientId: string;
  resource: string;
}

function remembered(ctx: AppContext, k: ConsentKey): string[] {
  const row = ctx.db.select().from(consents)
    .where(and(eq(consents.userId, k.userId), eq(consents.clientId, k.clientId), eq(consents.resource, k.resource)))
    .get();
  return row ? parseScope(row.scope) : [];
}

/** True when the user already allowed this client every one of `scopes` for this resource. */
export function hasConsent(ctx: AppContext, k: ConsentKey, scopes: readonly string[]): boolean {
  const granted = remembered(ctx, k);
  return scopes.length > 0 && scopes.every((s) => granted.includes(s));
}

/** Remembers an Allow; scopes allowed earlier for the same client and resource are kept. */
export function rememberConsent(ctx: AppContext, k: ConsentKey, scopes: readonly string[]): void {
  const scope = formatScope([...remembered(ctx, k), ...scopes]);
  ctx.db.insert(consents).values({ ...k, scope, createdAt: ctx.now() })
    .onConflictDoUpdate({ target: [consents.userId, consents.clientId, consents.resource], set: { scope, createdAt: ctx.now() } })
    .run();
}
