import type { Identity } from '@stack/mcp-auth';
import type { Policy, ToolRule } from '../policy.ts';

export type ToolDecision =
  | { allow: true; rule: ToolRule }
  | { allow: false; kind: 'unknown_tool' }
  | { allow: false; kind: 'role'; rule: ToolRule }
  | { allow: false; kind: 'scope'; rule: ToolRule; missing: string[] };

/**
 * Role first, then scopes: a role that can never hold the scope gets a plain "access denied"
 * (no step-up could help), while a permitted role whose token lacks a scope is sent to step up.
 */
export function authorizeTool(policy: Policy, identity: Identity, tool: string): ToolDecision {
  return authorizeRule(Object.hasOwn(policy.tools, tool) ? policy.tools[tool] : undefined, policy, identity);
}

/** The same decision for any rule (a gateway's resource or prompt rule); no rule: unknown. */
export function authorizeRule(rule: ToolRule | undefined, policy: Pick<Policy, 'expand'>, identity: Identity): ToolDecision {
  if (!rule) return { allow: false, kind: 'unknown_tool' };
  if (!rule.roles.includes(identity.role)) return { allow: false, kind: 'role', rule };
  const have = policy.expand(identity.scopes);
  const missing = rule.scopes.filter((s) => !have.has(s));
  if (missing.length) return { allow: false, kind: 'scope', rule, missing };
  return { allow: true, rule };
}

/** The tool-error text for a call the caller's role forbids. */
export function accessDeniedText(tool: string, rule: ToolRule, identity: Identity): string {
  return `ACCESS DENIED\nTool: ${tool}\nRequired role: ${rule.roles.join(' or ')}\nYour role: ${identity.role}`;
}
