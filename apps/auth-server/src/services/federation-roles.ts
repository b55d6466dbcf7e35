import type { RoleRule } from '@stack/stack-config';

/**
 * The role an upstream sign-in gets: the first of the provider's rules (file order) whose claim
 * passes its test; none refuses the sign-in. Evaluated at every sign-in, so a group removed at the
 * provider changes the role the next time. A rule on `email` holds only for an email the provider
 * says it verified (email_verified true): anyone may type any address into an account.
 */
export function mapRole(rules: readonly RoleRule[], claims: Readonly<Record<string, unknown>>): RoleRule | undefined {
  return rules.find((r) => matches(r, claims));
}

function matches(rule: RoleRule, claims: Readonly<Record<string, unknown>>): boolean {
  if (!Object.hasOwn(claims, rule.claim)) return false;
  if (rule.claim === 'email' && claims.email_verified !== true) return false;
  const v = claims[rule.claim];
  switch (rule.test) {
    // A list claim (groups) holds the value; a single string claim is the value (some providers send one group as a string).
    case 'contains':
      return Array.isArray(v) ? v.some((x) => x === rule.value) : v === rule.value;
    case 'equals':
      return v === rule.value;
    // Addresses and domains compare without case.
    case 'ends_with':
      return typeof v === 'string' && v.toLowerCase().endsWith(rule.value.toLowerCase());
  }
}
