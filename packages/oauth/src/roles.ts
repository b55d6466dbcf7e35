/** User roles, from most to least privileged. */
export const ROLES = ['admin', 'developer', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/**
 * The scopes each role may be granted in the shipped stack.yaml (the demo database server), for the
 * identities the authorization server does not issue (API keys, certificates, local no-auth): the
 * authorization server itself takes the role caps from the stack file.
 */
export const ROLE_SCOPES: Readonly<Record<Role, readonly string[]>> = Object.freeze({
  admin: ['db:read', 'db:write', 'db:admin'],
  developer: ['db:read', 'db:write'],
  viewer: ['db:read'],
});

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}
