/**
 * The scopes `granted` satisfies, following `implies` transitively. Only the map's own keys count:
 * a granted scope named like an Object.prototype member (`constructor`) implies nothing.
 */
export function expandScopes(granted: Iterable<string>, implies: Readonly<Record<string, readonly string[]>>): Set<string> {
  const out = new Set<string>();
  const stack = [...granted];
  while (stack.length) {
    const s = stack.pop()!;
    if (out.has(s)) continue;
    out.add(s);
    if (Object.hasOwn(implies, s)) stack.push(...implies[s]!);
  }
  return out;
}
