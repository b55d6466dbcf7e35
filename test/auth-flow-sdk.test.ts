import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify } from 'jose';
import {
  discoverAuthorizationServerMetadata,
  exchangeAuthorization,
  refreshAuthorization,
  registerClient,
  startAuthorization,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { startAuthServer, type TestAuthServer } from '../apps/auth-server/test/helpers.ts';
import { createUser } from '../apps/auth-server/src/services/users.ts';
import { FormBrowser } from './helpers/form-browser.ts';

const RESOURCE = 'http://127.0.0.1:4999/mcp';
const PASSWORD = 'a long enough password';

describe('the official MCP SDK client auth functions against the authorization server', () => {
  let s: TestAuthServer;
  beforeEach(async () => {
    s = await startAuthServer({ MCP_PUBLIC_ORIGIN: new URL(RESOURCE).origin });
    await createUser(s.app.ctx, { email: 'dev@example.com', password: PASSWORD, role: 'developer' });
  });
  afterEach(async () => { await s.close(); });

  it('[MCP-AS-OAUTH21] discovery, registration, PKCE authorization through login and consent, code exchange and refresh', async () => {
    const metadata = await discoverAuthorizationServerMetadata(s.url);
    expect(metadata?.issuer).toBe(s.url);

    const redirectUrl = 'http://127.0.0.1:33418/callback';
    const clientInformation = await registerClient(s.url, {
      metadata,
      clientMetadata: {
        client_name: 'SDK test client',
        redirect_uris: [redirectUrl],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      },
    });
    expect(clientInformation.client_id).toBeTruthy();

    const state = 'sdk-state-1';
    const { authorizationUrl, codeVerifier } = await startAuthorization(s.url, {
      metadata, clientInformation, redirectUrl, scope: 'db:read db:write', state, resource: new URL(RESOURCE),
    });
    const callback = await new FormBrowser().approve(authorizationUrl.toString(), { email: 'dev@example.com', password: PASSWORD });
    expect(callback.origin + callback.pathname).toBe(redirectUrl);
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.get('iss')).toBe(s.url);
    const code = callback.searchParams.get('code');
    expect(code).toBeTruthy();

    const tokens = await exchangeAuthorization(s.url, {
      metadata, clientInformation, authorizationCode: code!, codeVerifier, redirectUri: redirectUrl, resource: new URL(RESOURCE),
    });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.scope).toBe('db:read db:write');
    expect(tokens.refresh_token).toBeTruthy();

    const jwks = createLocalJWKSet(await (await fetch(`${s.url}/jwks`)).json());
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, { issuer: s.url, audience: RESOURCE, typ: 'at+jwt' });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload).toMatchObject({ client_id: clientInformation.client_id, scope: 'db:read db:write', role: 'developer' });

    const refreshed = await refreshAuthorization(s.url, { metadata, clientInformation, refreshToken: tokens.refresh_token!, resource: new URL(RESOURCE) });
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    await jwtVerify(refreshed.access_token, jwks, { issuer: s.url, audience: RESOURCE, typ: 'at+jwt' });
  });
});
