import type { JWTPayload } from 'jose';
import { dpopBoundJkt, invalidToken, isBuiltinRole, refusedAsBearer, isRoleName, ROLE_SCOPES, type Role } from '@stack/oauth';
import { freezeIdentity, type Identity } from './identity.ts';

/**
 * The scopes a role may hold, in a stable order; undefined for a role that is not declared (the
 * stack file does not list it), which no credential may act as.
 */
export type RoleScopes = (role: Role) => readonly string[] | undefined;
/** The built-in table: only for the older policy file (MCP_POLICY_FILE), which declares no roles. */
export const defaultRoleScopes: RoleScopes = (role) => (isBuiltinRole(role) ? ROLE_SCOPES[role] : undefined);

/** The declared roles and their scopes, from the stack file in force (`current`, read on every call: a reload applies at once). */
export function stackRoleScopes(current: () => { roles: readonly string[]; scopesForRole(role: string): readonly string[] }): RoleScopes {
  return (role) => {
    const stack = current();
    return stack.roles.includes(role) ? stack.scopesForRole(role) : undefined;
  };
}

/**
 * The scopes of a credential's role; an undeclared role (one removed from the stack file while
 * tokens or keys still carry it) is refused with invalid_token (401).
 */
export function scopesOfRole(roleScopes: RoleScopes, role: Role, what: string): readonly string[] {
  if (!isRoleName(role)) throw invalidToken(`${what} has an invalid role`);
  const scopes = roleScopes(role);
  // The name is checked above (a short slug), so it can be quoted in the description and the audit line.
  if (!scopes) throw invalidToken(`${what} has role '${role}', which this server does not declare`);
  return scopes;
}

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
 * The role must be one `roleScopes` declares (the stack file's roles; ROLE_SCOPES by default), and
 * the token's scopes are capped by what that role may be granted: even a token the authorization
 * server over-scoped by mistake cannot reach beyond what the role allows (defence in depth).
 */
export function identityFromClaims(payload: JWTPayload, nowSec: number, toleranceSec: number, roleScopes: RoleScopes = defaultRoleScopes): Identity {
  if (typeof payload.iat !== 'number' || !Number.isFinite(payload.iat)) throw invalidToken("token claim 'iat' is invalid");
  if (payload.iat > nowSec + toleranceSec) throw invalidToken('token was issued in the future');
  const subject = stringClaim(payload, 'sub');
  const clientId = stringClaim(payload, 'client_id');
  const jti = stringClaim(payload, 'jti');
  const role = payload['role'];
  if (!isRoleName(role)) throw invalidToken("token claim 'role' is invalid");
  const allowed = scopesOfRole(roleScopes, role, 'token');
  const scope = payload['scope'];
  if (typeof scope !== 'string' || scope.length > MAX_SCOPE_LENGTH) throw invalidToken("token claim 'scope' is invalid");
  const granted = scope.split(' ').filter(Boolean);
  if (!granted.every((s) => SCOPE_TOKEN.test(s))) throw invalidToken("token claim 'scope' is invalid");
  return freezeIdentity({
    // RFC 9068 §2.2: a token the client obtained for itself (client_credentials) has sub = client_id.
    kind: subject === clientId ? 'client' : 'user',
    subject,
    role,
    scopes: allowed.filter((s) => granted.includes(s)), // in the role's order, like the other kinds
    clientId,
    tokenId: jti,
    // RFC 9449 §6.1: the key the token is bound to; the caller checks the proof (or refuses Bearer use).
    ...(refusedAsBearer({ cnf: payload.cnf }) ? { binding: { jkt: dpopBoundJkt({ cnf: payload.cnf }) } } : {}),
  });
}
