/** Escapes a value for an RFC 9110 §5.6.4 quoted-string. */
export function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\r\n]/g, ' ')}"`;
}

/** Builds an RFC 6750 §3 `WWW-Authenticate: Bearer …` value from ordered parameters (undefined ones dropped). */
export function bearerChallenge(params: Record<string, string | undefined>): string {
  const parts = Object.entries(params)
    .filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')
    .map(([k, v]) => `${k}=${quoted(v)}`);
  return parts.length ? `Bearer ${parts.join(', ')}` : 'Bearer';
}
