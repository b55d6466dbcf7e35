import { createHash, randomBytes } from 'node:crypto';
import type { Role } from '@stack/oauth';
import { createUser, type UserRecord } from '../src/services/users.ts';
import { afterAll, beforeAll, expect } from 'vitest';
import { startAuthServer, type TestAuthServer } from './helpers.ts';

/** Test helpers for the browser flow: seeded clients and users, PKCE, and a cookie-carrying "browser". */

export const PASSWORD = 'correct horse battery staple';
export const RESOURCE = 'http://127.0.0.1:4999/mcp';

export interface SeedClient {
  id?: string;
  name?: string;
  redirectUris?: string[];
  scope?: string;
  grantTypes?: string[];
  /** How the client was registered: 'admin' (the default, trusted redirect URIs), 'dcr' or 'cimd'. */
  source?: 'admin' | 'dcr' | 'cimd';
  /** A confidential client (client_secret_basic with a placeholder hash) instead of a public one. */
  confidential?: boolean;
}

/** Inserts a registered client (public unless `confidential`) directly (registration is another endpoint's concern). */
export async function seedClient(s: TestAuthServer, c: SeedClient = {}): Promise<{ id: string; redirectUris: string[] }> {
  const id = c.id ?? `client-${randomBytes(6).toString('hex')}`;
  const redirectUris = c.redirectUris ?? ['https://app.example.com/callback'];
  await s.app.ctx.store.clients.insert({
    id,
    source: c.source ?? 'admin',
    secretHash: c.confidential ? 'placeholder: the browser flow never checks the secret' : null,
    clientName: c.name ?? 'Example App',
    redirectUris,
    grantTypes: c.grantTypes ?? ['authorization_code', 'refresh_token'],
    tokenEndpointAuthMethod: c.confidential ? 'client_secret_basic' : 'none',
    applicationType: redirectUris.every((u) => u.startsWith('http://')) ? 'native' : 'web',
    scope: c.scope ?? 'db:read db:write db:admin',
    metadata: {},
    createdAt: Date.now(),
    metadataExpiresAt: null,
    revokedAt: null,
  });
  return { id, redirectUris };
}

export interface FlowServer {
  s: TestAuthServer;
  client: { id: string; redirectUris: string[] };
  /** The seeded user's email; the password is PASSWORD. */
  email: string;
}

/** One server for the enclosing describe, with a seeded client and a user of `role` (developer by default), handed to `use`. */
export function useFlowServer(use: (f: FlowServer) => void, o: { client?: SeedClient; role?: Role } = {}): void {
  let s: TestAuthServer | undefined;
  beforeAll(async () => {
    s = await startAuthServer();
    use({ s, client: await seedClient(s, o.client), email: (await seedUser(s, o.role ?? 'developer')).email });
  });
  afterAll(async () => { await s?.close(); });
}

export function seedUser(s: TestAuthServer, role: Role, email = `${role}-${randomBytes(4).toString('hex')}@example.com`): Promise<UserRecord> {
  return createUser(s.app.ctx, { email, password: PASSWORD, role });
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Query for /authorize; `undefined` values are left out, arrays repeat the parameter. */
export function authorizeUrl(s: TestAuthServer, params: Record<string, string | string[] | undefined>): string {
  const u = new URL('/authorize', s.url);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) u.searchParams.append(k, one);
  }
  return u.toString();
}

/** A full, valid request for `clientId`, overridable per parameter. */
export function validParams(clientId: string, redirectUri: string, extra: Record<string, string | string[] | undefined> = {}) {
  return {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
    state: 'st-123/+=?&x',
    resource: RESOURCE,
    scope: 'db:read',
    ...extra,
  };
}

/** A minimal browser: keeps cookies itself and never follows redirects. */
export class Browser {
  readonly cookies = new Map<string, string>();
  readonly base: string;
  /** Sent with every request (e.g. an X-Forwarded-For a trusted proxy would add). */
  readonly headers: Record<string, string>;
  constructor(base: string, headers: Record<string, string> = {}) {
    this.base = base;
    this.headers = headers;
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(res: Response): Response {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
    return res;
  }

  /** Resolves a Location (possibly relative) against the URL that sent it. */
  resolve(location: string, from: string): string {
    return new URL(location, new URL(from, this.base)).toString();
  }

  async get(url: string): Promise<Response> {
    const res = await fetch(new URL(url, this.base), { redirect: 'manual', headers: { ...this.headers, cookie: this.cookieHeader() } });
    return this.keep(res);
  }

  async post(url: string, form: Record<string, string>): Promise<Response> {
    const res = await fetch(new URL(url, this.base), {
      method: 'POST',
      redirect: 'manual',
      headers: { ...this.headers, cookie: this.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    return this.keep(res);
  }
}

/** The value of a hidden input in a page. */
export function hidden(html: string, name: string): string {
  const m = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)"`).exec(html);
  if (!m) throw new Error(`no hidden input '${name}' in page`);
  return m[1]!;
}

/** GET /authorize → login page; returns the page HTML and the login URL. */
export async function startAuthorization(b: Browser, url: string): Promise<{ loginUrl: string; html: string }> {
  const res = await b.get(url);
  if (res.status !== 303) throw new Error(`expected 303 to login, got ${res.status}: ${await res.text()}`);
  const loginUrl = b.resolve(res.headers.get('location')!, url);
  const page = await b.get(loginUrl);
  return { loginUrl, html: await page.text() };
}

/** Submits the login form on `html` (a login page). */
export function submitLogin(b: Browser, html: string, email: string, password = PASSWORD): Promise<Response> {
  return b.post('/login', { _csrf: hidden(html, '_csrf'), request: hidden(html, 'request'), email, password });
}

/** Authorize → login → consent page; returns the consent page HTML. */
export async function reachConsent(b: Browser, url: string, email: string): Promise<{ html: string; res: Response }> {
  const { html } = await startAuthorization(b, url);
  const login = await submitLogin(b, html, email);
  if (login.status !== 303) throw new Error(`login failed: ${login.status}`);
  const location = login.headers.get('location')!;
  if (!location.startsWith('consent?')) throw new Error(`expected consent, got ${location}`);
  const res = await b.get(b.resolve(location, '/login'));
  return { html: await res.text(), res };
}

/** Clicks Allow or Deny on a consent page. */
export function decide(b: Browser, html: string, decision: 'allow' | 'deny'): Promise<Response> {
  return b.post('/consent', { _csrf: hidden(html, '_csrf'), request: hidden(html, 'request'), decision });
}

/** The `name` cookie `res` sets, expected to be HttpOnly, SameSite=Lax and Path=/ as every cookie of the flow is. */
export function laxCookie(res: Response, name: string): string {
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
  expect(cookie, `${name} cookie`).toBeDefined();
  expect(cookie).toMatch(/; HttpOnly/);
  expect(cookie).toMatch(/; SameSite=Lax/);
  expect(cookie).toMatch(/; Path=\//);
  return cookie!;
}
