import { formatScope, parseScope } from '@stack/oauth';

/** The remembered scopes plus newly allowed ones, as the canonical space-delimited string. */
export function mergeScopes(remembered: string | undefined, added: readonly string[]): string {
  return formatScope([...parseScope(remembered), ...added]);
}
