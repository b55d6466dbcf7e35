import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, PASSWORD, hidden, seedUser } from './authorize-flow.ts';

/**
 * Every GET route the authorization server has, read from its own route table (so a page added
 * later is checked without touching this test), visited anonymously and signed in: whatever
 * answers with HTML, a page or an error page, must not be framable nor cached.
 */
function getRoutes(tree: string): string[] {
  const stack: string[] = [];
  const paths: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+) \(GET(?:, HEAD)?\)/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    paths.push(stack.join(''));
  }
  return paths;
}

describe('every page of the authorization server', () => {
  let s: TestAuthServer;
  beforeAll(async () => { s = await startAuthServer(); });
  afterAll(async () => { await s.close(); });

  it('[RFC9700-CLICKJACKING] [ACCT-ACCOUNT-PAGE] every HTML answer to a GET, anonymous or signed in, has frame-ancestors \'none\', X-Frame-Options DENY and no-store', async () => {
    const routes = getRoutes(s.app.printRoutes({ method: 'GET', commonPrefix: false }));
    // The table is read, not guessed: the pages of every part are in it.
    expect(routes).toEqual(expect.arrayContaining(['/login', '/login/mfa', '/account', '/account/security', '/logout', '/consent', '/federation/:slug/callback']));
    const user = await seedUser(s, 'developer');
    const signedIn = new Browser(s.url);
    const login = await (await signedIn.get('/login')).text();
    expect((await signedIn.post('/login', { _csrf: hidden(login, '_csrf'), next: hidden(login, 'next'), email: user.email, password: PASSWORD })).status).toBe(303);
    let html = 0;
    for (const route of routes) {
      const path = route.replace(/:[a-z]+/g, 'nope');
      for (const b of [new Browser(s.url), signedIn]) {
        const res = await b.get(path);
        if (!(res.headers.get('content-type') ?? '').startsWith('text/html')) continue;
        html++;
        expect(res.status, path).toBeLessThan(500);
        expect(res.headers.get('content-security-policy'), path).toContain("frame-ancestors 'none'");
        expect(res.headers.get('x-frame-options'), path).toBe('DENY');
        expect(res.headers.get('cache-control'), path).toContain('no-store');
      }
    }
    expect(html).toBeGreaterThanOrEqual(15);
  });
});
