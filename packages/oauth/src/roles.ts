/** User roles, from most to least privileged. */
export const ROLES = ['admin', 'developer', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** Scopes this stack issues for its MCP resource. */
export const SCOPES = ['db:read', 'db:write', 'db:admin'] as const;

/** The scopes each role may be granted: the role caps what a token can carry. */
export const ROLE_SCOPES: Readonly<Record<Role, readonly string[]>> = Object.freeze({
  admin: ['db:read', 'db:write', 'db:admin'],
  developer: ['db:read', 'db:write'],
  viewer: ['db:read'],
});

/** Human-readable descriptions, shown on the consent screen. */
export const SCOPE_DESCRIPTIONS: Readonly<Record<string, string>> = Object.freeze({
  'db:read': 'Read data: list tables, describe them and run read-only queries',
  'db:write': 'Change data: run SQL statements that insert, update or delete rows',
  'db:admin': 'Administer the database: delete users and drop tables',
});

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}
