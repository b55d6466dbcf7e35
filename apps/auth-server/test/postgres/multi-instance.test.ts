import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationsFolder } from '@stack/db';
import { tokenHash } from '@stack/crypto';
import { createTestSchema, startAuthServer, type TestAuthServer } from '../helpers.ts';
import { addClient, addUser, issueCode, login, redeem, refresh, revokedJtis, type TestClient } from '../token-fixtures.ts';
import { Browser, authorizeUrl, decide, hidden, seedClient, seedUser, startAuthorization, submitLogin, validParams } from '../authorize-flow.ts';
import type { UserRecord } from '../../src/services/users.ts';

// Two instances of the authorization server on ONE PostgreSQL schema, as behind a load balancer.
describe('two auth-server instances on one PostgreSQL database', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let a: TestAuthServer;
  let b: TestAuthServer;
  let client: TestClient;
  let user: UserRecord;

  beforeAll(async () => {
    schema = await createTestSchema();
    // Started together: both apply migrations at once, serialised by the advisory lock.
    [a, b] = await Promise.all([startAuthServer(schema.env), startAuthServer(schema.env)]);
    client = await addClient(a);
    user = await addUser(b);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await schema?.drop();
  });

  /** Slows signing on both instances so every request reads the token before any commits its rotation. */
  function slowSigning(): () => void {
    const restore = [a, b].map((s) => {
      const keys = s.app.ctx.keys;
      const active = keys.active.bind(keys);
      keys.active = async () => {
        await new Promise((r) => setTimeout(r, 100));
        return active();
      };
      return () => { keys.active = active; };
    });
    return () => restore.forEach((r) => r());
  }

  it('[SCALE-PG-STORE] applies the generated migrations once, into its own schema, when instances start together', async () => {
    const applied = await a.sql<{ n: number }>('select count(*) as n from __drizzle_migrations');
    const files = readdirSync(migrationsFolder('auth-pg')).filter((f) => f.endsWith('.sql'));
    expect(applied).toEqual([{ n: files.length }]);
    const tables = await a.sql<{ table_name: string }>('select table_name from information_schema.tables where table_schema = ? order by 1', schema.schema);
    expect(tables.map((t) => t.table_name)).toEqual([
      '__drizzle_migrations', 'audit_anchors', 'authorization_codes', 'clients', 'consents', 'federated_identities', 'issued_access_tokens',
      'passkeys', 'password_resets', 'pending_authorizations', 'recovery_codes', 'refresh_tokens', 'revoked_access_tokens', 'sessions',
      'signing_keys', 'totp_factors', 'users', 'webauthn_challenges',
    ]);
    // One signing key shared by both instances' JWKS.
    const [ja, jb] = await Promise.all([a, b].map(async (s) => (await (await fetch(`${s.url}/jwks`)).json()) as { keys: { kid: string }[] }));
    expect(new Set([...ja!.keys, ...jb!.keys].map((k) => k.kid)).size).toBeGreaterThanOrEqual(1);
    expect(jb!.keys.map((k) => k.kid).sort()).toEqual(ja!.keys.map((k) => k.kid).sort());
  });

  it('[SCALE-PG-CONCURRENCY] [OAUTH21-REFRESH-REUSE] 8 concurrent refreshes with one token at each instance all get the same new pair; one family, one live token', async () => {
    const first = await login(a, client, user);
    const restore = slowSigning();
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => refresh(i % 2 ? b : a, client, String(first.refresh_token))));
    restore();
    for (const r of results) expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(new Set(results.map((r) => `${String(r.body.access_token)} ${String(r.body.refresh_token)}`)).size).toBe(1);

    const { familyId } = (await a.app.ctx.store.tokens.findRefreshByHash(tokenHash(String(first.refresh_token))))!;
    const family = await a.sql<{ rotated_at: number | null; revoked_at: number | null }>('select rotated_at, revoked_at from refresh_tokens where family_id = ?', familyId);
    // No family was wiped by a legitimate concurrent refresh, and none forked: one chain, one live token.
    expect(family).toHaveLength(2);
    expect(family.every((t) => t.revoked_at === null)).toBe(true);
    expect(family.filter((t) => t.rotated_at === null)).toHaveLength(1);
    expect(await a.app.ctx.store.tokens.issuedByFamily(familyId)).toHaveLength(2);
    expect(await revokedJtis(b)).toEqual([]);
    // The chain goes on at either instance.
    const next = await refresh(b, client, String(results[0]!.body.refresh_token));
    expect(next.status).toBe(200);
    expect((await refresh(a, client, String(next.body.refresh_token))).status).toBe(200);
  });

  it('[SCALE-PG-CONCURRENCY] [OAUTH21-CODE-SINGLE-USE] a code redeemed concurrently at both instances yields tokens once, and the reuse revokes them', async () => {
    const code = await issueCode(a, client, user);
    const restore = slowSigning();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => redeem(i % 2 ? b : a, client, code)));
    restore();
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) {
      expect(r.body).toEqual({ error: 'invalid_grant', error_description: 'authorization code has already been used' });
    }
    // RFC 9700 §4.5.3.1: a second use of a code revokes what it issued, whichever instance saw it.
    const winner = ok[0]!.body;
    expect((await refresh(b, client, String(winner.refresh_token))).body.error).toBe('invalid_grant');
    expect((await revokedJtis(a)).length).toBe(1);
  });

  it('[SCALE-PG-CONCURRENCY] concurrent consent grants at both instances keep every scope', async () => {
    const k = { userId: user.id, clientId: client.id, resource: 'http://127.0.0.1:4999/mcp' };
    const scopes = ['db:read', 'db:write', 'db:admin'];
    await Promise.all(scopes.map((s, i) => (i % 2 ? b : a).app.ctx.store.consents.grant(k, [s], Date.now())));
    expect(await b.app.ctx.store.consents.find(k)).toBe('db:admin db:read db:write');
  });

  it('[SCALE-PG-SHARED-STATE] GET /authorize on one instance, login and consent on the other', async () => {
    const web = await seedClient(a, { name: 'Acme', redirectUris: ['https://acme.example/cb'] });
    const person = await seedUser(b, 'developer');
    const onA = new Browser(a.url);
    const onB = new Browser(b.url);
    const share = (from: Browser, to: Browser) => from.cookies.forEach((v, k) => to.cookies.set(k, v));

    const { html } = await startAuthorization(onA, authorizeUrl(a, validParams(web.id, web.redirectUris[0]!)));
    share(onA, onB);
    const loggedIn = await submitLogin(onB, html, person.email);
    expect(loggedIn.status).toBe(303);
    expect(loggedIn.headers.get('location')).toMatch(/^consent\?request=/);
    share(onB, onA);
    const consent = await onA.get(onA.resolve(loggedIn.headers.get('location')!, '/login'));
    expect(consent.status).toBe(200);
    const page = await consent.text();
    expect(hidden(page, 'request')).toBeTruthy();
    share(onA, onB);
    const done = await decide(onB, page, 'allow');
    expect(done.status).toBe(303);
    const back = new URL(done.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(web.redirectUris[0]);
    expect(back.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{40,}$/);
  });

  it('[KEYROT-4] scheduled rotations attempted at once, four at each instance, add one key', async () => {
    const periodMs = 1_000;
    const newest = Math.max(...(await a.app.ctx.keys.list()).filter((k) => k.retiredAt === null).map((k) => k.createdAt));
    // Every attempt finds the signing key older than the period.
    await new Promise((r) => setTimeout(r, Math.max(0, newest + periodMs + 10 - Date.now())));
    const before = (await a.app.ctx.keys.list()).length;
    const made = (await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? b : a).app.ctx.keys.rotateIfDue(periodMs)))).filter((r) => r !== undefined);
    expect(made).toHaveLength(1);
    expect(await b.app.ctx.keys.list()).toHaveLength(before + 1);
  });
});
