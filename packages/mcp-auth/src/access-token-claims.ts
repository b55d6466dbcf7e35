import type { JWTPayload } from 'jose';
import { invalidToken, isRole, ROLE_SCOPES, type Role } from '@stack/oauth';
import { freezeIdentity, type Identity } from './identity.ts';

/** The scopes a role may hold, in a stable order. */
export type RoleScopes = (role: Role) => readonly string[];
export const defaultRoleScopes: RoleScopes = (role) => ROLE_SCOPES[role];

const MAX_CLAIM_LENGTH = 256;
const MAX_SCOPE_LENGTH = 1000;
// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

function stringClaim(payload: JWTPayload, name: string): string {
  const v = payload[name];
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_CLAIM_LENGTH) throw invalidToken(`token claim '${name}' is invalid`);
  return v;
}

/**
 * Checks the claims jose leaves to us (RFC 9068 §2.2 plus our `role`) and builds the identity.
 * The token's scopes are capped by what the role may be granted (`roleScopes`, the stack file's
 * scopes for the role; ROLE_SCOPES by default): even a token the authorization server over-scoped
 * by mistake cannot reach beyond what the role allows (defence in depth).
 */
export function identityFromClaims(payload: JWTPayload, nowSec: number, toleranceSec: number, roleScopes: RoleScopes = defaultRoleScopes): Identity {
  if (typeof payload.iat !== 'number' || !Number.isFinite(payload.iat)) throw invalidToken("token claim 'iat' is invalid");
  if (payload.iat > nowSec + toleranceSec) throw invalidToken('token was issued in the future');
  const subject = stringClaim(payload, 'sub');
  const clientId = stringClaim(payload, 'client_id');
  const jti = stringClaim(payload, 'jti');
  const role = payload['role'];
  if (!isRole(role)) throw invalidToken("token claim 'role' is invalid");
  const scope = payload['scope'];
  if (typeof scope !== 'string' || scope.length > MAX_SCOPE_LENGTH) throw invalidToken("token claim 'scope' is invalid");
  const granted = scope.split(' ').filter(Boolean);
  if (!granted.every((s) => SCOPE_TOKEN.test(s))) throw invalidToken("token claim 'scope' is invalid");
  return freezeIdentity({
    kind: 'user',
    subject,
    role,
    scopes: roleScopes(role).filter((s) => granted.includes(s)), // in the role's order, like the other kinds
    clientId,
    tokenId: jti,
  });
}
