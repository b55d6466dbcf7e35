import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROLE_SCOPES, ROLES } from '@stack/oauth';
import { loadStackFile } from '@stack/stack-config';
import { loadPolicyFile } from '../../../apps/mcp-server/src/policy.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const STACK_FILE = resolve(ROOT, 'stack.yaml');

// The demo database server's scopes and consent sentences, as the authorization server issued and
// showed them before the stack file (and as the MCP app's API keys and certificates still cap them).
const SCOPES = ['db:read', 'db:write', 'db:admin'];
const DESCRIPTIONS: Record<string, string> = {
  'db:read': 'Read data: list tables, describe them and run read-only queries',
  'db:write': 'Change data: run SQL statements that insert, update or delete rows',
  'db:admin': 'Administer the database: delete users and drop tables',
};

// The shipped stack file must change nothing for an existing deployment: it says what the role
// constants and the MCP app's policy.yaml say today.
describe('the shipped stack.yaml', () => {
  const stack = loadStackFile(STACK_FILE, { env: 'production' });
  const policy = loadPolicyFile(resolve(ROOT, 'apps/mcp-server/policy.yaml'));

  it('[GW-STACK-DEFAULT] has the roles, scopes and consent descriptions of the demo server, and the role caps of packages/oauth', () => {
    expect(stack.roles).toEqual(ROLES);
    expect(Object.keys(stack.scopes)).toEqual(SCOPES);
    for (const s of SCOPES) expect(stack.scopes[s]!.description).toBe(DESCRIPTIONS[s]);
    for (const r of ROLES) expect(stack.scopesForRole(r)).toEqual(ROLE_SCOPES[r]);
  });

  it('[GW-STACK-DEFAULT] describes the demo database server with the tool rules, scope hierarchy and rate limits of policy.yaml', () => {
    expect(stack.servers).toHaveLength(1);
    const db = stack.servers[0]!;
    expect(db).toMatchObject({ name: 'database', path: '/mcp', upstream: { kind: 'builtin', name: 'database' } });
    // Not set: MCP_AUTH_MODE decides for the demo server, so MCP_AUTH_MODE=apikey works with this file.
    expect(db.auth).toBeUndefined();
    expect(stack.resourceUrls('https://mcp.example.com')).toEqual(['https://mcp.example.com/mcp']);
    expect(db.tools.rules).toEqual(policy.tools);
    expect(db.tools.default).toBe('deny');
    expect(db.ruleFor('tools', 'not_a_tool')).toBeUndefined();
    expect(db.resources).toEqual({ rules: {}, default: 'deny' });
    expect(db.prompts).toEqual({ rules: {}, default: 'deny' });
    expect(db.scopesSupported).toEqual(policy.scopesSupported);
    // The same scope hierarchy: every set of granted scopes satisfies the same scopes.
    const candidates = [...SCOPES, 'other'];
    for (let mask = 0; mask < 1 << candidates.length; mask++) {
      const granted = candidates.filter((_, i) => mask & (1 << i));
      expect([...db.expand(granted)].sort()).toEqual([...policy.expand(granted)].sort());
    }
  });
});
