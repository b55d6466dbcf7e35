import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAuthServer, type TestAuthServer } from './helpers.ts';

describe('authorization server metadata and JWKS', () => {
  let s: TestAuthServer;
  beforeEach(async () => { s = await startAuthServer(); });
  afterEach(async () => { await s.close(); });

  it('[MCP-AS-METADATA] [RFC8414-METADATA-FIELDS] [MCP-AS-PKCE-METADATA] [MCP-AS-ISS-ADVERTISED] [EXT-CC-AUTH-METHODS] serves RFC 8414 metadata with every advertised field', async () => {
    const res = await fetch(`${s.url}/.well-known/oauth-authorization-server`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const m = await res.json();
    expect(m).toMatchObject({
      issuer: s.url,
      authorization_endpoint: `${s.url}/authorize`,
      token_endpoint: `${s.url}/token`,
      jwks_uri: `${s.url}/jwks`,
      registration_endpoint: `${s.url}/register`,
      revocation_endpoint: `${s.url}/revoke`,
      introspection_endpoint: `${s.url}/introspect`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      // What verifyClientAssertion accepts (asymmetric only), ES256 as the MCP conformance mock signs.
      token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'],
      authorization_response_iss_parameter_supported: true,
      client_id_metadata_document_supported: true,
    });
    expect(m.scopes_supported).toEqual(['db:read', 'db:write', 'db:admin']);
  });

  it('[MCP-AS-METADATA-ISSUER] the metadata issuer equals the configured issuer', async () => {
    const m = await (await fetch(`${s.url}/.well-known/oauth-authorization-server`)).json();
    expect(m.issuer).toBe(s.config.issuer);
  });

  it('[HARD-DISCOVERY-HONEST] [MCP-AS-METADATA] advertises no ID-token members and serves no OpenID discovery document (no ID token is ever issued)', async () => {
    const m = await (await fetch(`${s.url}/.well-known/oauth-authorization-server`)).json();
    for (const member of ['id_token_signing_alg_values_supported', 'subject_types_supported', 'claims_supported', 'userinfo_endpoint']) {
      expect(m[member], member).toBeUndefined();
    }
    expect(m.scopes_supported).not.toContain('openid');
    const oidc = await fetch(`${s.url}/.well-known/openid-configuration`);
    expect(oidc.status).toBe(404);
    expect(await oidc.json()).toEqual({ error: 'not_found', error_description: 'no such endpoint' });
  });

  it('omits registration_endpoint when registration is switched off', async () => {
    await using off = await startAuthServer({ REGISTRATION_MODE: 'closed' });
    const m = await (await fetch(`${off.url}/.well-known/oauth-authorization-server`)).json();
    expect(m.registration_endpoint).toBeUndefined();
  });

  it('publishes only public RS256 signing keys with kid and use=sig', async () => {
    const res = await fetch(`${s.url}/jwks`);
    expect(res.status).toBe(200);
    const { keys } = await res.json();
    expect(keys.length).toBe(1);
    const [k] = keys;
    expect(k).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(typeof k.kid).toBe('string');
    for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k[priv]).toBeUndefined();
  });

  it('publishes the next key as soon as it is rotated in, next to the one still signing', async () => {
    const first = (await s.app.ctx.keys.active()).kid;
    const { kid: second } = await s.app.ctx.keys.rotate();
    const res = await fetch(`${s.url}/jwks`);
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
    const { keys } = await res.json();
    expect(keys.map((k: { kid: string }) => k.kid).sort()).toEqual([first, second].sort());
    expect((await s.app.ctx.keys.active()).kid).toBe(first);
  });

  it('stores private keys only envelope-encrypted', async () => {
    await s.app.ctx.keys.active();
    const rows = await s.sql<{ private_key_envelope: string }>('select cast(private_key_envelope as text) as private_key_envelope from signing_keys');
    expect(rows.length).toBe(1);
    const env = JSON.parse(rows[0]!.private_key_envelope);
    expect(Object.keys(env).sort()).toEqual(['data', 'dek', 'kek', 'v']);
    expect(rows[0]!.private_key_envelope).not.toMatch(/"d"\s*:/);
  });

  it('lets browser-based clients read metadata and JWKS from any origin, cached publicly, without preflight routes of their own', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/jwks']) {
      const res = await fetch(`${s.url}${path}`, { headers: { origin: 'http://localhost:6274' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
      const pre = await fetch(`${s.url}${path}`, { method: 'OPTIONS', headers: { origin: 'http://localhost:6274', 'access-control-request-method': 'GET' } });
      expect(pre.status).toBe(404);
    }
  });

  it('answers unknown paths with a JSON not_found error and security headers, not a stack trace', async () => {
    const res = await fetch(`${s.url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not_found', error_description: 'no such endpoint' });
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('[MCP-AS-HTTPS] refuses to start in production without https issuer and key-encryption key, naming each setting', async () => {
    const { loadAuthConfig } = await import('../src/config.ts');
    expect(() => loadAuthConfig({ NODE_ENV: 'production', AUTH_ISSUER: 'http://example.com', CIMD_ALLOW_PRIVATE_ADDRESSES: 'true' }))
      .toThrow(/AUTH_ISSUER[\s\S]*KEY_ENCRYPTION_KEY[\s\S]*CIMD_ALLOW_PRIVATE_ADDRESSES/);
  });
});
