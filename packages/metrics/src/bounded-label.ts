/**
 * Keeps a label's values to a bounded set: the first `max` distinct values pass, any later new
 * one becomes `other`. Values a caller chooses (a tool name sent to a server) must never grow a
 * metric's series without end; values the operator chooses (servers, tools in the stack file)
 * fit well within the bound.
 */
export function boundedLabel(max: number, other = 'other'): (value: string | undefined) => string {
  const seen = new Set<string>();
  return (value) => {
    if (value === undefined || value === '') return 'none';
    if (seen.has(value)) return value;
    if (seen.size >= max) return other;
    seen.add(value);
    return value;
  };
}
