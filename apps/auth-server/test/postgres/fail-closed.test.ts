import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_PG_URL, createTestSchema, freePort, startAuthServer, type TestAuthServer } from '../helpers.ts';
import { addClient, addUser, login, refresh, type TestClient } from '../token-fixtures.ts';
import type { UserRecord } from '../../src/services/users.ts';

/** A TCP relay to PostgreSQL that the test can take down (closing every connection) and bring back on the same port. */
class PgRelay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  constructor(readonly port: number, private readonly target: URL) {}

  async up(): Promise<void> {
    this.server = createServer((inbound) => {
      const outbound = createConnection(Number(this.target.port || 5432), this.target.hostname);
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
  }

  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server?.close(r));
  }
}

describe('PostgreSQL unreachable', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let relay: PgRelay;
  let s: TestAuthServer;
  let client: TestClient;
  let user: UserRecord;
  const logs: { level: number; msg: string }[] = [];

  beforeAll(async () => {
    schema = await createTestSchema();
    const target = new URL(TEST_PG_URL);
    relay = new PgRelay(await freePort(), target);
    await relay.up();
    const viaRelay = new URL(TEST_PG_URL);
    viaRelay.host = `127.0.0.1:${relay.port}`;
    s = await startAuthServer(
      { ...schema.env, DATABASE_URL: viaRelay.toString(), DATABASE_CONNECT_TIMEOUT_MS: '1000' },
      { logger: { level: 'info', stream: { write: (line: string) => logs.push(JSON.parse(line)) } } },
    );
    client = await addClient(s);
    user = await addUser(s);
  });
  afterAll(async () => {
    await s?.close();
    await relay?.down();
    await schema?.drop();
  });

  it('[SCALE-PG-FAIL-CLOSED] answers 503 temporarily_unavailable with Retry-After, logs the outage once, and recovers by itself', async () => {
    const first = await login(s, client, user);
    expect((await fetch(`${s.url}/jwks`)).status).toBe(200);

    await relay.down();
    const token = await refresh(s, client, String(first.refresh_token));
    expect(token.status).toBe(503);
    expect(token.headers.get('retry-after')).toBe('5');
    expect(token.body).toEqual({ error: 'temporarily_unavailable', error_description: 'the database is unavailable, retry later' });
    for (const path of ['/jwks', '/revocations', '/ready']) {
      const res = await fetch(`${s.url}${path}`);
      expect(res.status, path).toBe(503);
      expect(res.headers.get('retry-after'), path).toBe('5');
    }
    // Browser pages fail closed too, with a page rather than a redirect.
    const page = await fetch(`${s.url}/authorize?client_id=${encodeURIComponent(client.id)}`, { redirect: 'manual' });
    expect(page.status).toBe(503);
    expect(page.headers.get('retry-after')).toBe('5');
    const outage = logs.filter((l) => l.msg.startsWith('database unavailable'));
    expect(outage).toHaveLength(1);
    expect(outage[0]!.level).toBe(50);
    // Nothing else was logged as an unexpected error (no stack per request).
    expect(logs.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([outage[0]!.msg]);

    await relay.up();
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await fetch(`${s.url}/jwks`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    expect(logs.some((l) => l.msg === 'database reachable again')).toBe(true);
    // The refresh token was never touched by the failed attempt: it still works.
    expect((await refresh(s, client, String(first.refresh_token))).status).toBe(200);
  });
});
