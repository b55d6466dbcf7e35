import { authorizationCodeGrant } from './authorization-code.ts';
import { refreshTokenGrant } from './refresh-token.ts';
import type { GrantHandler } from './grant.ts';

/** The grant types this server implements (a Map, so a grant_type such as "constructor" finds nothing). */
export const grants: ReadonlyMap<string, GrantHandler> = new Map<string, GrantHandler>([
  ['authorization_code', authorizationCodeGrant],
  ['refresh_token', refreshTokenGrant],
]);
