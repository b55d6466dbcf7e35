import { describe, expect, it } from 'vitest';
import { authorizationResponseUrl, normaliseResource, selectResource } from '../src/authorization-response.ts';
import { OAuthError } from '../src/errors.ts';

describe('authorization response URL', () => {
  it('[OAUTH21-STATE] [MCP-AS-ISS-RESPONSE] keeps the redirect URI query and adds code, state and iss, encoding state exactly', () => {
    const url = new URL(authorizationResponseUrl('https://app.example/cb?tenant=a', { iss: 'https://as.example', code: 'c1', state: 'a b&c=d/+%' }));
    expect(url.searchParams.get('tenant')).toBe('a');
    expect(url.searchParams.get('code')).toBe('c1');
    expect(url.searchParams.get('state')).toBe('a b&c=d/+%');
    expect(url.searchParams.get('iss')).toBe('https://as.example');
    expect(url.hash).toBe('');
  });

  it('leaves out state when there was none', () => {
    const url = new URL(authorizationResponseUrl('http://127.0.0.1:9/cb', { iss: 'x', error: 'access_denied', error_description: 'no' }));
    expect(url.searchParams.has('state')).toBe(false);
    expect(url.searchParams.get('error')).toBe('access_denied');
  });
});

describe('resource indicators', () => {
  it('normalises scheme and host case, default ports and a trailing slash', () => {
    expect(normaliseResource('HTTPS://MCP.Example.com:443/mcp/')).toBe('https://mcp.example.com/mcp');
    expect(normaliseResource('https://mcp.example.com/')).toBe('https://mcp.example.com');
    expect(normaliseResource('https://mcp.example.com/mcp#frag')).toBeUndefined();
    expect(normaliseResource('urn:x')).toBeUndefined();
    expect(normaliseResource('https://user:pw@mcp.example.com/mcp')).toBeUndefined();
  });

  it('[RFC8707-INVALID-TARGET] returns the configured form of a known resource and invalid_target otherwise', () => {
    const allowed = ['https://mcp.example.com/mcp'];
    expect(selectResource(allowed, 'https://MCP.example.com/mcp/')).toBe('https://mcp.example.com/mcp');
    for (const bad of [undefined, '', 'https://mcp.example.com/other', 'https://mcp.example.com/MCP', 'nope']) {
      try {
        selectResource(allowed, bad);
        expect.fail(`accepted ${bad}`);
      } catch (err) {
        expect(err).toBeInstanceOf(OAuthError);
        expect((err as OAuthError).code).toBe('invalid_target');
      }
    }
  });
});
