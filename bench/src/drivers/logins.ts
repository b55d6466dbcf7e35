// Login load for scenario 7, in its own process: RATE logins per second for SECONDS seconds, each the
// full browser flow a person goes through (GET /authorize, GET /login with its CSRF cookie and token,
// POST /login with the password: one argon2id verification, then the consent screen and Allow, which
// a public client on a loopback redirect always gets: RFC 8252 §8.6), ending in the redirect with a code.
// Prints one JSON line with what happened.
import { createHash, randomBytes } from 'node:crypto';

const authUrl = process.env.AUTH_URL!;
const resource = process.env.RESOURCE!;
const clientId = process.env.CLIENT_ID!;
const redirectUri = process.env.REDIRECT_URI!;
const emails = JSON.parse(process.env.EMAILS!) as string[];
const password = process.env.PASSWORD!;
const rate = Number(process.env.RATE ?? '20');
const seconds = Number(process.env.SECONDS ?? '10');

/** The cookies of `responses` as one Cookie header (a later Set-Cookie of the same name wins). */
function cookiesOf(...responses: Response[]): string {
  const jar = new Map<string, string>();
  for (const res of responses) {
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0]!;
      jar.set(pair.slice(0, pair.indexOf('=')), pair);
    }
  }
  return [...jar.values()].join('; ');
}

async function login(email: string): Promise<void> {
  const verifier = randomBytes(32).toString('base64url');
  const q = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'db:read db:write', state: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', resource,
  });
  const a = await fetch(`${authUrl}/authorize?${q}`, { redirect: 'manual' });
  await a.arrayBuffer();
  const loginUrl = new URL(a.headers.get('location') ?? '', `${authUrl}/authorize`);
  if (a.status !== 303 || loginUrl.pathname !== '/login') throw new Error(`authorize answered ${a.status}`);

  // The browser-binding cookie from /authorize goes along on every later step, as a browser sends it.
  const page = await fetch(loginUrl, { redirect: 'manual', headers: { cookie: cookiesOf(a) } });
  const html = await page.text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  const request = loginUrl.searchParams.get('request');
  if (!csrf || !request) throw new Error(`login page answered ${page.status} without a form`);

  const post = await fetch(`${authUrl}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookiesOf(a, page) },
    body: new URLSearchParams({ _csrf: csrf, request, email, password }).toString(),
  });
  await post.arrayBuffer();
  const consentUrl = new URL(post.headers.get('location') ?? '', `${authUrl}/login`);
  if (post.status !== 303 || consentUrl.pathname !== '/consent') throw new Error(`login answered ${post.status}`);

  const cookie = cookiesOf(a, page, post);
  const screen = await fetch(consentUrl, { redirect: 'manual', headers: { cookie } });
  const consentHtml = await screen.text();
  const consentCsrf = /name="_csrf" value="([^"]+)"/.exec(consentHtml)?.[1];
  if (!consentCsrf) throw new Error(`consent page answered ${screen.status} without a form`);
  const allow = await fetch(`${authUrl}/consent`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookiesOf(a, page, post, screen) },
    body: new URLSearchParams({ _csrf: consentCsrf, request: consentUrl.searchParams.get('request')!, decision: 'allow' }).toString(),
  });
  await allow.arrayBuffer();
  const location = allow.headers.get('location') ?? '';
  if (allow.status !== 303 || !location.startsWith(redirectUri) || !location.includes('code=')) throw new Error(`consent answered ${allow.status}`);
}

const latencies: number[] = [];
let failed = 0;
let firstError: string | undefined;
const inflight = new Set<Promise<void>>();
const started = performance.now();
let n = 0;
while (performance.now() - started < seconds * 1000) {
  const due = started + (n * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const t0 = performance.now();
  const p = login(emails[n % emails.length]!).then(
    () => { latencies.push(performance.now() - t0); },
    (err: Error) => { failed++; firstError ??= err.message; },
  ).finally(() => inflight.delete(p));
  inflight.add(p);
  n++;
}
await Promise.all(inflight);
const elapsed = (performance.now() - started) / 1000;
latencies.sort((x, y) => x - y);
const pct = (q: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! : Number.NaN);
console.log(JSON.stringify({ attempted: n, succeeded: latencies.length, failed, perSecond: latencies.length / elapsed, p50: pct(0.5), p99: pct(0.99), firstError }));
