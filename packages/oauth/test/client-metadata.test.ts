import { describe, expect, it } from 'vitest';
import { OAuthError, validateCimdClientId, validateCimdDocument, validateRegistrationMetadata } from '../src/index.ts';

function errorOf(fn: () => unknown): OAuthError {
  try {
    fn();
  } catch (err) {
    if (err instanceof OAuthError) return err;
    throw err;
  }
  throw new Error('expected an OAuthError');
}

/** The scopes the server issues (the authorization server passes the stack file's). */
const SCOPES = ['db:read', 'db:write', 'db:admin'];
const URL_ID = 'https://client.example.com/oauth/metadata.json';
const DOC = { client_id: URL_ID, client_name: 'Example MCP Client', redirect_uris: ['http://127.0.0.1:3000/callback', 'http://localhost:3000/callback'] };

describe('validateRegistrationMetadata', () => {
  it('[RFC7591-REGISTER] applies the RFC 7591 defaults: client_secret_basic, authorization_code, code, web, every scope', () => {
    expect(validateRegistrationMetadata({ redirect_uris: ['https://app.example.com/cb'] }, SCOPES)).toEqual({
      redirect_uris: ['https://app.example.com/cb'],
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      application_type: 'web',
      scope: 'db:admin db:read db:write',
    });
  });

  it('[RFC7591-REGISTER] keeps only understood members and removes duplicate redirect URIs', () => {
    const m = validateRegistrationMetadata({ ...DOC, application_type: 'native', redirect_uris: ['http://127.0.0.1/cb', 'http://127.0.0.1/cb'], unknown: 1, jwks: {} }, SCOPES);
    expect(m.redirect_uris).toEqual(['http://127.0.0.1/cb']);
    expect(m).not.toHaveProperty('unknown');
    expect(m).not.toHaveProperty('jwks');
    expect(m).not.toHaveProperty('client_id');
  });

  it('[MCP-DCR-APPLICATION-TYPE] refuses loopback redirect URIs for web clients and explains native is needed', () => {
    const e = errorOf(() => validateRegistrationMetadata({ redirect_uris: ['http://localhost:8080/cb'], application_type: 'web' }, SCOPES));
    expect(e.code).toBe('invalid_client_metadata');
    expect(e.description).toMatch(/'application_type' native/);
    expect(validateRegistrationMetadata({ redirect_uris: ['http://localhost:8080/cb'], application_type: 'native' }, SCOPES).application_type).toBe('native');
    // Omitted (clients predating SEP-837) with only loopback redirect URIs: inferred native.
    expect(validateRegistrationMetadata({ redirect_uris: ['http://localhost:8080/cb'] }, SCOPES).application_type).toBe('native');
  });

  it('[RFC7591-REGISTER] names the member in lowercase descriptions without a trailing full stop', () => {
    const cases: [unknown, string][] = [
      [{ redirect_uris: ['https://a.example/cb'], client_name: '' }, "'client_name' must not be empty"],
      [{ redirect_uris: ['https://a.example/cb'], software_version: 7 }, "'software_version' must be a string"],
      [{ redirect_uris: ['https://a.example/cb'], response_types: [] }, "unsupported 'response_types': only code is supported"],
      [{ redirect_uris: ['https://a.example/cb'], scope: 'db:read other' }, "unknown scope 'other' in 'scope'"],
    ];
    for (const [input, description] of cases) {
      const e = errorOf(() => validateRegistrationMetadata(input, SCOPES));
      expect(e.code).toBe('invalid_client_metadata');
      expect(e.description).toBe(description);
    }
  });
});

describe('validateCimdClientId', () => {
  it('[MCP-CIMD-SUPPORT] accepts an https URL with a path (query and port allowed)', () => {
    expect(validateCimdClientId(URL_ID).hostname).toBe('client.example.com');
    expect(() => validateCimdClientId('https://client.example.com:8443/c.json?v=1')).not.toThrow();
  });

  it('[MCP-CIMD-SSRF] refuses URLs the CIMD draft forbids, naming the rule', () => {
    const cases: [string, RegExp][] = [
      ['http://client.example.com/c.json', /must use https/],
      ['http://127.0.0.1:3000/c.json', /must use https/],
      ['https://client.example.com', /must contain a path/],
      ['https://client.example.com/', /must contain a path/],
      ['https://client.example.com/c.json#frag', /must not contain a fragment/],
      ['https://user:pw@client.example.com/c.json', /must not contain user information/],
      ['https://client.example.com/a/../c.json', /must not contain dot segments/],
      ['https://client.example.com/./c.json', /must not contain dot segments/],
      ['https://client.example.com/a/%2E%2E/c.json', /must not contain dot segments/],
      ['https://client.example.com/c .json', /not a valid URL/],
      [`https://client.example.com/${'a'.repeat(2001)}`, /too long/],
    ];
    for (const [url, description] of cases) {
      const e = errorOf(() => validateCimdClientId(url));
      expect(e.code, url).toBe('invalid_client');
      expect(e.description, url).toMatch(description);
    }
  });

  it('accepts http on a loopback host only when allowHttpLoopback is set', () => {
    expect(() => validateCimdClientId('http://127.0.0.1:3000/c.json', { allowHttpLoopback: true })).not.toThrow();
    expect(() => validateCimdClientId('http://[::1]:3000/c.json', { allowHttpLoopback: true })).not.toThrow();
    expect(() => validateCimdClientId('http://10.0.0.1/c.json', { allowHttpLoopback: true })).toThrow(/must use https/);
  });
});

describe('validateCimdDocument', () => {
  it('[MCP-CIMD-SUPPORT] [MCP-CIMD-REDIRECT] returns the metadata of a valid document; redirect URIs come from the document', () => {
    const m = validateCimdDocument({ ...DOC, grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'], scope: 'db:read profile' }, URL_ID, SCOPES);
    expect(m).toMatchObject({
      client_id: URL_ID,
      client_name: 'Example MCP Client',
      redirect_uris: DOC.redirect_uris,
      token_endpoint_auth_method: 'none',
      // Members for other servers are ignored, not refused.
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'db:read',
      // The MCP example document has loopback URIs and no application_type: inferred native.
      application_type: 'native',
    });
  });

  it('[MCP-CIMD-CLIENT-ID-MATCH] refuses a document whose client_id is not exactly its URL', () => {
    for (const id of [`${URL_ID}/`, URL_ID.toUpperCase(), 'https://other.example.com/oauth/metadata.json']) {
      const e = errorOf(() => validateCimdDocument({ ...DOC, client_id: id }, URL_ID, SCOPES));
      expect(e.code).toBe('invalid_client');
      expect(e.description).toBe("client metadata document: 'client_id' does not match the document URL");
    }
  });

  it('[MCP-CIMD-REQUIRED-FIELDS] names a missing client_id, client_name or redirect_uris', () => {
    for (const field of ['client_id', 'client_name', 'redirect_uris'] as const) {
      const doc: Record<string, unknown> = { ...DOC };
      delete doc[field];
      expect(errorOf(() => validateCimdDocument(doc, URL_ID, SCOPES)).description).toBe(`client metadata document: missing required field '${field}'`);
    }
    expect(errorOf(() => validateCimdDocument([DOC], URL_ID, SCOPES)).description).toBe('client metadata document: must be a JSON object');
  });

  it('refuses shared secrets and invalid members, reporting the member as invalid_client', () => {
    expect(errorOf(() => validateCimdDocument({ ...DOC, token_endpoint_auth_method: 'client_secret_basic' }, URL_ID, SCOPES)).description).toMatch(/'token_endpoint_auth_method' must be none/);
    expect(errorOf(() => validateCimdDocument({ ...DOC, client_secret: 'x' }, URL_ID, SCOPES)).description).toMatch(/'client_secret' must not be present/);
    const bad = errorOf(() => validateCimdDocument({ ...DOC, redirect_uris: ['http://evil.example/cb'] }, URL_ID, SCOPES));
    expect(bad.code).toBe('invalid_client');
    expect(bad.description).toMatch(/^client metadata document: 'redirect_uris' must use https/);
    expect(errorOf(() => validateCimdDocument({ ...DOC, application_type: 'web' }, URL_ID, SCOPES)).description).toMatch(/'application_type' native/);
  });
});
