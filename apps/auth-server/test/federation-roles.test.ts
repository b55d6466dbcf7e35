import { describe, expect, it } from 'vitest';
import type { RoleRule } from '@stack/stack-config';
import { mapRole } from '../src/services/federation-roles.ts';

const RULES: RoleRule[] = [
  { claim: 'groups', test: 'contains', value: 'mcp-admins', role: 'admin' },
  { claim: 'department', test: 'equals', value: 'engineering', role: 'developer' },
  { claim: 'email', test: 'ends_with', value: '@Example.com', role: 'viewer' },
];
const role = (claims: Record<string, unknown>) => mapRole(RULES, claims)?.role;

describe('role rules', () => {
  it('[FED-ROLE-RULES] the first matching rule gives the role; contains, equals and ends_with test one claim each; none matches: no role', () => {
    expect(role({ groups: ['sales', 'mcp-admins'], department: 'engineering' })).toBe('admin');
    expect(role({ groups: ['sales'], department: 'engineering' })).toBe('developer');
    // One group sent as a string counts as a list of one; a part of a group name does not match.
    expect(role({ groups: 'mcp-admins' })).toBe('admin');
    expect(role({ groups: ['mcp-admins-old'] })).toBeUndefined();
    expect(role({ department: 'Engineering' })).toBeUndefined();
    expect(role({ department: ['engineering'] })).toBeUndefined();
    // Email domains compare without case, and only for an email the provider verified.
    expect(role({ email: 'Ann@EXAMPLE.com', email_verified: true })).toBe('viewer');
    expect(role({ email: 'ann@example.com', email_verified: false })).toBeUndefined();
    expect(role({ email: 'ann@example.com' })).toBeUndefined();
    expect(role({ email: 'ann@example.com.evil.test', email_verified: true })).toBeUndefined();
    expect(role({})).toBeUndefined();
    // Inherited properties are not claims.
    expect(mapRole([{ claim: 'constructor', test: 'contains', value: 'x', role: 'admin' }], {})).toBeUndefined();
  });
});
