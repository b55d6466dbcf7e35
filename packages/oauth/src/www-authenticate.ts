/** Escapes a value for an RFC 9110 §5.6.4 quoted-string. */
export function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\r\n]/g, ' ')}"`;
}

/** `scheme k="v", …` from ordered parameters (RFC 9110 §11.6.1); undefined and empty ones are dropped. */
function challenge(scheme: string, params: Record<string, string | undefined>): string {
  const parts = Object.entries(params)
    .filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')
    .map(([k, v]) => `${k}=${quoted(v)}`);
  return parts.length ? `${scheme} ${parts.join(', ')}` : scheme;
}

/** Builds an RFC 6750 §3 `WWW-Authenticate: Bearer …` value from ordered parameters (undefined ones dropped). */
export function bearerChallenge(params: Record<string, string | undefined>): string {
  return challenge('Bearer', params);
}

export interface DpopChallengeParams {
  /** The proof algorithms the resource accepts (RFC 9449 §7.1 `algs`, space-delimited). */
  algs: readonly string[];
  error?: string | undefined;
  error_description?: string | undefined;
  /** Further RFC 6750 §3 style parameters, e.g. `realm`, `scope`, or RFC 9728 §5.1 `resource_metadata`. */
  [param: string]: string | readonly string[] | undefined;
}

/**
 * Builds an RFC 9449 §7.1 `WWW-Authenticate: DPoP …` value: `algs` first, then `error` and
 * `error_description` (RFC 9449 §7.1 reuses RFC 6750 §3's), then the other parameters in order.
 */
export function dpopChallenge(params: DpopChallengeParams): string {
  const { algs, error, error_description, ...rest } = params;
  const others = Object.entries(rest).filter((e): e is [string, string | undefined] => typeof e[1] !== 'object');
  return challenge('DPoP', { algs: algs.join(' '), error, error_description, ...Object.fromEntries(others) });
}
