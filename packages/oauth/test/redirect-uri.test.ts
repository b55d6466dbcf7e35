import { describe, expect, it } from 'vitest';
import { OAuthError, isLoopbackRedirect, matchRedirectUri, validateRedirectUri } from '../src/index.ts';

function refusal(uri: string): string {
  try {
    validateRedirectUri(uri);
  } catch (err) {
    if (err instanceof OAuthError) return err.code;
    throw err;
  }
  return 'accepted';
}

// Each of these names 127.0.0.1, [::1] or localhost to a WHATWG URL parser.
const NON_CANONICAL = [
  'http://evil@127.0.0.1:9999/cb',
  'http://@127.0.0.1/cb',
  'http://127.1/cb',
  'http://127.1:9999/cb',
  'http://0x7f000001/cb',
  'http://2130706433/cb',
  'http://0177.0.0.1/cb',
  'http://127.000.000.001/cb',
  'http://[0:0:0:0:0:0:0:1]/cb',
  'http://[::0001]/cb',
  'HTTP://127.0.0.1/cb',
  'http://LocalHost/cb',
  'http://localhost./cb',
  'http://127.0.0.1/cb#',
  'http://127.0.0.1:9999/cb#x',
  'http://127.0.0.1\\cb',
  'http://127.0.0.1:/cb',
  'http://127.0.0.1:0/cb',
  'http://127.0.0.1:099/cb',
  'http://127.0.0.1:65536/cb',
  'http://127.0.0.1/c b',
];

describe('[HARD-REDIRECT-LOOPBACK-FORMS] loopback redirect URIs', () => {
  it('[HARD-REDIRECT-LOOPBACK-FORMS] registration refuses every non-canonical spelling of a loopback host', () => {
    for (const uri of NON_CANONICAL) {
      if (URL.canParse(uri)) expect(new URL(uri).hostname, uri).toMatch(/^(127\.0\.0\.1|\[::1\]|localhost\.?)$/);
      expect(refusal(uri), uri).toBe('invalid_redirect_uri');
      expect(isLoopbackRedirect(uri), uri).toBe(false);
    }
    for (const uri of ['http://127.0.0.1/cb', 'http://127.0.0.1:65535/a/b?x=1', 'http://[::1]:8080/', 'http://localhost:3000/cb', 'http://127.0.0.1']) {
      expect(refusal(uri), uri).toBe('accepted');
      expect(isLoopbackRedirect(uri), uri).toBe(true);
    }
  });

  it('[HARD-REDIRECT-LOOPBACK-FORMS] matching accepts only what registration accepts, with the port free', () => {
    const registered = ['http://127.0.0.1/cb', 'http://[::1]/cb', 'http://localhost/cb?x=1'];
    for (const uri of [...NON_CANONICAL, 'http://127.0.0.1:9999/cb/', 'http://127.0.0.1:9999/CB', 'http://127.0.0.1:9999/x/../cb', 'http://127.0.0.1:9999/%63b', 'http://localhost:1/cb?x=2', 'http://localhost:1/cb?x=1#']) {
      expect(matchRedirectUri(registered, uri), uri).toBeUndefined();
    }
    for (const uri of ['http://127.0.0.1:9999/cb', 'http://127.0.0.1/cb', 'http://[::1]:1/cb', 'http://localhost:65535/cb?x=1']) {
      expect(matchRedirectUri(registered, uri), uri).toBe(uri);
    }
    // A value stored before registration was this strict matches only when it would be accepted now.
    expect(matchRedirectUri(['http://127.1/cb'], 'http://127.1/cb')).toBeUndefined();
    expect(matchRedirectUri(['https://app.example/cb'], 'https://app.example/cb')).toBe('https://app.example/cb');
  });
});
