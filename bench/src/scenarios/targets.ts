import type { Target } from '../lib/load.ts';
import { CONFIDENTIAL_CLIENT, PUBLIC_CLIENT, REDIRECT_URI } from '../seed/auth-db.ts';
import { MCP_HEADERS, MCP_HEADERS_2026, TOOL_CALL_BODY, TOOL_CALL_BODY_2026 } from '../servers/trivial-tool.ts';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const form = (p: Record<string, string>) => new URLSearchParams(p).toString();

/** tools/call of the trivial tool, with or without a bearer token, as a 2025-11-25 or a 2026-07-28 client sends it. */
export function toolCall(url: string, accessToken?: string, revision: '2025-11-25' | '2026-07-28' = '2025-11-25'): Target {
  const modern = revision === '2026-07-28';
  const auth: Record<string, string> = accessToken ? { authorization: `Bearer ${accessToken}` } : {};
  return { url, headers: { ...(modern ? MCP_HEADERS_2026 : MCP_HEADERS), ...auth }, body: modern ? TOOL_CALL_BODY_2026 : TOOL_CALL_BODY };
}

/**
 * refresh_token grants as real clients make them: each connection refreshes, keeps the rotated token
 * from the response and uses it next (a shared pool, so a connection never waits for its own chain).
 * A failed request loses its chain; an empty pool sends a dead token, which counts as a failure.
 */
export function refreshChains(tokenUrl: string, start: string[], resource: string, clientId = PUBLIC_CLIENT): Target {
  const pool = [...start];
  return {
    url: tokenUrl,
    headers: FORM,
    next: () => ({ body: form({ grant_type: 'refresh_token', refresh_token: pool.shift() ?? 'pool-exhausted', client_id: clientId, resource }) }),
    onResponse(status, body) {
      if (status !== 200) return;
      const t = (JSON.parse(body) as { refresh_token?: string }).refresh_token;
      if (!t) return false;
      pool.push(t);
    },
  };
}

/** authorization_code grants, each with an unused code and its PKCE verifier. */
export function codeGrants(tokenUrl: string, codes: { code: string; verifier: string }[], resource: string): Target {
  let i = 0;
  return {
    url: tokenUrl,
    headers: FORM,
    next: () => {
      const c = codes[i++] ?? { code: 'codes-exhausted', verifier: 'x'.repeat(43) };
      return { body: form({ grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier, redirect_uri: REDIRECT_URI, client_id: PUBLIC_CLIENT, resource }) };
    },
  };
}

/** RFC 7662 introspection of stored refresh tokens by the confidential client they were issued to. */
export function introspections(introspectUrl: string, tokens: string[], secret: string): Target {
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(CONFIDENTIAL_CLIENT)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  let i = 0;
  return {
    url: introspectUrl,
    headers: { ...FORM, authorization: basic },
    next: () => ({ body: form({ token: tokens[(i++ * 7919) % tokens.length]!, token_type_hint: 'refresh_token' }) }),
    // Every token introspected is live: an inactive answer means the scenario is broken.
    onResponse: (status, body) => status !== 200 || body.includes('"active":true'),
  };
}

/** Redeems one seeded code and returns its access token (for the MCP scenarios). */
export async function accessTokenFrom(authUrl: string, code: { code: string; verifier: string }, resource: string): Promise<string> {
  const r = await fetch(`${authUrl}/token`, {
    method: 'POST',
    headers: FORM,
    body: form({ grant_type: 'authorization_code', code: code.code, code_verifier: code.verifier, redirect_uri: REDIRECT_URI, client_id: PUBLIC_CLIENT, resource }),
  });
  const body = (await r.json()) as { access_token?: string };
  if (r.status !== 200 || !body.access_token) throw new Error(`token request failed: ${r.status} ${JSON.stringify(body)}`);
  return body.access_token;
}
