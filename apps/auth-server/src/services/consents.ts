import { parseScope } from '@stack/oauth';
import type { AppContext } from '../context.ts';
import type { ConsentKey } from '../store/index.ts';

export type { ConsentKey };

/** True when the user already allowed this client every one of `scopes` for this resource. */
export async function hasConsent(ctx: AppContext, k: ConsentKey, scopes: readonly string[]): Promise<boolean> {
  const granted = parseScope(await ctx.store.consents.find(k));
  return scopes.length > 0 && scopes.every((s) => granted.includes(s));
}

/** Remembers an Allow; scopes allowed earlier for the same client and resource are kept. */
export async function rememberConsent(ctx: AppContext, k: ConsentKey, scopes: readonly string[]): Promise<void> {
  await ctx.store.consents.grant(k, scopes, ctx.now());
}
