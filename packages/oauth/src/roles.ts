/**
 * A role name. The roles that exist are the ones the stack file declares (`roles:`, default
 * admin, developer, viewer); each app checks a role against that list where it uses it, so this
 * type is only the name.
 */
export type Role = string;

/**
 * The shipped stack file's roles, most to least privileged: the stack file's default, and the only
 * roles of the older policy file (MCP_POLICY_FILE), which declares none.
 */
export const ROLES = ['admin', 'developer', 'viewer'] as const;
export type BuiltinRole = (typeof ROLES)[number];

/**
 * The scopes each built-in role may hold when no stack file says so: the MCP app's fallback when a
 * policy file (MCP_POLICY_FILE) replaces the stack file's rules. Everywhere else the caps are the
 * stack file's (StackConfig.scopesForRole).
 */
export const ROLE_SCOPES: Readonly<Record<BuiltinRole, readonly string[]>> = Object.freeze({
  admin: ['db:read', 'db:write', 'db:admin'],
  developer: ['db:read', 'db:write'],
  viewer: ['db:read'],
});

export function isBuiltinRole(v: unknown): v is BuiltinRole {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

/** The shape the stack file accepts for a role name (packages/stack-config roleName). */
export const ROLE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

export function isRoleName(v: unknown): v is Role {
  return typeof v === 'string' && ROLE_NAME.test(v);
}
