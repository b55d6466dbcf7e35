import { invalidRequest } from './errors.ts';

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Parses a space-delimited scope string into a de-duplicated, sorted list. */
export function parseScope(scope: string | undefined, param = 'scope'): string[] {
  if (scope === undefined || scope.trim() === '') return [];
  if (scope.length > 1000) throw invalidRequest(`'${param}' is too long`);
  const tokens = scope.split(' ').filter(Boolean);
  for (const t of tokens) if (!SCOPE_TOKEN.test(t)) throw invalidRequest(`invalid character in '${param}'`);
  return [...new Set(tokens)].sort();
}

/** Formats scopes as the canonical, sorted, space-delimited string. */
export function formatScope(scopes: Iterable<string>): string {
  return [...new Set(scopes)].sort().join(' ');
}

/** Scopes present in every given list. */
export function intersectScopes(first: readonly string[], ...rest: (readonly string[])[]): string[] {
  return first.filter((s) => rest.every((r) => r.includes(s))).sort();
}
