import { invalidGrant, invalidRequest, invalidTarget, isRole, normaliseResource, type Role } from '@stack/oauth';
import type { AppContext } from '../context.ts';
import type { ClientRecord } from '../services/clients.ts';
import type { TokenResponse } from '../services/token-response.ts';
import { findUserById, type UserRecord } from '../services/users.ts';

/** What a grant handler gets: an authenticated client that may use the grant, and the form parameters. */
export interface GrantRequest {
  ctx: AppContext;
  client: ClientRecord;
  params: Record<string, string>;
  address: string;
}

export type GrantHandler = (g: GrantRequest) => Promise<TokenResponse>;

export function requireParam(params: Record<string, string>, name: string): string {
  const v = params[name];
  if (v === undefined || v === '') throw invalidRequest(`missing required parameter '${name}'`);
  return v;
}

/**
 * RFC 8707 §2: a `resource` sent at the token endpoint must be the one the grant is bound to, and
 * that resource must still be served here. Both sides are compared normalised, as /authorize compares
 * them (MCP: implementations SHOULD accept an uppercase scheme or host), so a client that sends the
 * same value at both endpoints is never refused here.
 */
export function checkResource(ctx: AppContext, requested: string | undefined, bound: string): void {
  if (requested !== undefined && !sameResource(requested, bound)) throw invalidTarget("'resource' does not match the resource the grant was issued for");
  if (!ctx.config.resources.includes(bound)) throw invalidTarget('the resource is not served by this authorization server');
}

function sameResource(a: string, b: string): boolean {
  const na = normaliseResource(a);
  return na !== undefined && na === normaliseResource(b);
}

/** The user a grant belongs to; a disabled or deleted user ends every grant (invalid_grant). */
export async function activeUser(ctx: AppContext, userId: string): Promise<UserRecord & { role: Role }> {
  const user = await findUserById(ctx.store, userId);
  if (!user || user.disabledAt !== null || !isRole(user.role)) throw invalidGrant('the user account is disabled');
  return user;
}
