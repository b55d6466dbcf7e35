import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeEach } from 'vitest';
import type { Role } from '@stack/oauth';
import { createAuthorizationCode } from '../src/services/codes.ts';
import { createUser, type UserRecord } from '../src/services/users.ts';
import { hashClientSecret } from '../src/services/client-secrets.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';

/** The resource startAuthServer() serves (MCP_PUBLIC_ORIGIN and the shipped stack.yaml's /mcp). */
export const RESOURCE = 'http://127.0.0.1:4999/mcp';
export const REDIRECT_URI = 'http://127.0.0.1:7777/callback';

export interface TestClient {
  id: string;
  secret?: string;
  method: 'none' | 'client_secret_basic' | 'client_secret_post';
}

export async function addUser(s: TestAuthServer, role: Role = 'developer'): Promise<UserRecord> {
  return createUser(s.app.ctx, { email: `${randomUUID()}@example.com`, password: 'correct horse battery staple', role });
}

/** Inserts a client directly; confidential ones get their secret stored as registration stores it (hashClientSecret). */
export async function addClient(
  s: TestAuthServer,
  o: { method?: TestClient['method']; id?: string; secret?: string; grantTypes?: string[] } = {},
): Promise<TestClient> {
  const method = o.method ?? 'none';
  const id = o.id ?? randomUUID();
  const secret = method === 'none' ? undefined : (o.secret ?? randomBytes(32).toString('base64url'));
  await s.app.ctx.store.clients.insert({
    id, source: 'admin', secretHash: secret ? hashClientSecret(secret) : null, clientName: `test ${method}`,
    redirectUris: [REDIRECT_URI], grantTypes: o.grantTypes ?? ['authorization_code', 'refresh_token'],
    tokenEndpointAuthMethod: method, applicationType: 'native', scope: 'db:read db:write db:admin', metadata: {},
    createdAt: Date.now(), metadataExpiresAt: null, revokedAt: null,
  });
  return { id, method, ...(secret ? { secret } : {}) };
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface IssuedCode {
  code: string;
  verifier: string;
}

export async function issueCode(s: TestAuthServer, client: TestClient, user: UserRecord, o: { scope?: string; resource?: string } = {}): Promise<IssuedCode> {
  const { verifier, challenge } = pkce();
  const code = await createAuthorizationCode(s.app.ctx, {
    clientId: client.id, userId: user.id, redirectUri: REDIRECT_URI, codeChallenge: challenge,
    resource: o.resource ?? RESOURCE, scope: o.scope ?? 'db:read db:write',
  });
  return { code, verifier };
}

export function basicHeader(id: string, secret: string): string {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

/** Adds the client's credentials the way its registered method says. */
export function withClientAuth(client: TestClient, params: Record<string, string>, headers: Record<string, string> = {}) {
  if (client.method === 'client_secret_basic') return { params, headers: { ...headers, authorization: basicHeader(client.id, client.secret!) } };
  if (client.method === 'client_secret_post') return { params: { client_id: client.id, client_secret: client.secret!, ...params }, headers };
  return { params: { client_id: client.id, ...params }, headers };
}

export interface FormResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POSTs an x-www-form-urlencoded body; `params` may be a ready string (for duplicate parameters). */
export async function postForm(url: string, params: Record<string, string> | string, headers: Record<string, string> = {}): Promise<FormResponse> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof params === 'string' ? params : new URLSearchParams(params).toString(),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** A token request authenticated as `client`. */
export function tokenRequest(s: TestAuthServer, client: TestClient, params: Record<string, string>): Promise<FormResponse> {
  const r = withClientAuth(client, params);
  return postForm(`${s.url}/token`, r.params, r.headers);
}

export function redeem(s: TestAuthServer, client: TestClient, c: IssuedCode, extra: Record<string, string> = {}): Promise<FormResponse> {
  return tokenRequest(s, client, {
    grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT_URI, code_verifier: c.verifier, resource: RESOURCE, ...extra,
  });
}

export function refresh(s: TestAuthServer, client: TestClient, token: string, extra: Record<string, string> = {}): Promise<FormResponse> {
  return tokenRequest(s, client, { grant_type: 'refresh_token', refresh_token: token, resource: RESOURCE, ...extra });
}

/** Logs a user in for `client` and returns the first token response. */
export async function login(s: TestAuthServer, client: TestClient, user: UserRecord, scope?: string): Promise<Record<string, unknown>> {
  const r = await redeem(s, client, await issueCode(s, client, user, scope ? { scope } : {}));
  if (r.status !== 200) throw new Error(`token request failed: ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function revokedJtis(s: TestAuthServer): Promise<string[]> {
  const body = (await (await fetch(`${s.url}/revocations`)).json()) as { revoked: { jti: string }[] };
  return body.revoked.map((r) => r.jti);
}

/** The jti of a JWT access token (decoded without verification; tests verify elsewhere). */
export function jtiOf(accessToken: unknown): string {
  return JSON.parse(Buffer.from(String(accessToken).split('.')[1]!, 'base64url').toString('utf8')).jti as string;
}

/** A clock tests can move; pass `clock.now` to startAuthServer's options. */
export function testClock(start = Date.now()) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

export interface TokenServer {
  s: TestAuthServer;
  /** A public client allowed the authorization_code and refresh_token grants. */
  client: TestClient;
  /** A developer. */
  user: UserRecord;
}

/**
 * For each test of the enclosing describe: a fresh server on a clock the tests move, with a public
 * client and a developer, handed to `use`; closed after the test. `env` overrides settings.
 */
export function useTokenServer(use: (t: TokenServer) => void, env: Record<string, string> = {}): { clock: ReturnType<typeof testClock> } {
  const clock = testClock();
  let s: TestAuthServer | undefined;
  beforeEach(async () => {
    s = await startAuthServer(env, { now: clock.now });
    use({ s, client: await addClient(s), user: await addUser(s, 'developer') });
  });
  afterEach(async () => { await s?.close(); });
  return { clock };
}

/**
 * Sends `n` copies of a request at once with every signing slowed down, so that all of them pass their
 * checks before any commits: the store's conditional UPDATE alone decides. Returns the responses and
 * how many requests got as far as signing.
 */
export async function concurrently(s: TestAuthServer, n: number, request: () => Promise<FormResponse>): Promise<{ results: FormResponse[]; signings: number }> {
  const keys = s.app.ctx.keys;
  const active = keys.active.bind(keys);
  let signings = 0;
  keys.active = async () => { signings++; await new Promise((r) => setTimeout(r, 150)); return active(); };
  try {
    return { results: await Promise.all(Array.from({ length: n }, request)), signings };
  } finally {
    keys.active = active;
  }
}
