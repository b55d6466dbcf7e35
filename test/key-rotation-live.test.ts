import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeProtectedHeader } from 'jose';
import { admin } from '../apps/auth-server/test/cli-helpers.ts';
import { bearer, callTool, rpc } from '../apps/mcp-server/test/helpers.ts';
import { startStack, type Stack } from './helpers/stack.ts';

// About 13 s (the shortest period outside production is 0.0001 day): the publish lead is then a
// quarter of it, 3.2 s, and the server checks about every 1.6 s, so the first rotation is due
// ~13 s after the start and its key signs ~3 s later.
const ROTATION_DAYS = '0.00015';
// Bound on the loop, which ends 1.5 s after the first token of the new key.
const LOOP_LIMIT_MS = 26_000;

type Phase = 'before' | 'during' | 'after';
interface Issued { token: string; kid: string; phase: Phase }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kidOf = (token: string) => String(decodeProtectedHeader(token).kid);

describe('scheduled signing-key rotation under live MCP traffic', () => {
  let stack: Stack;
  let client: { id: string; secret: string };
  let dir: string;

  beforeAll(async () => {
    // One client makes a few hundred calls here: the rate limits are not under test. The shipped
    // stack file otherwise, read by both servers.
    dir = mkdtempSync(join(tmpdir(), 'keyrot-'));
    const stackFile = join(dir, 'stack.yaml');
    const shipped = readFileSync(new URL('../stack.yaml', import.meta.url), 'utf8');
    writeFileSync(stackFile, shipped.replace(/default_tool_rate_limit_per_minute: \d+/, 'default_tool_rate_limit_per_minute: 100000'));
    stack = await startStack({
      authEnv: { SIGNING_KEY_ROTATION_DAYS: ROTATION_DAYS, STACK_FILE: stackFile },
      mcpEnv: { RATE_LIMIT_PER_MINUTE: '100000', STACK_FILE: stackFile },
    });
    const added = await admin({ DATA_DIR: stack.auth.dataDir, ...stack.auth.dbEnv }, [
      'clients', 'add', '--name', 'rotation-probe', '--grant-types', 'client_credentials', '--role', 'viewer', '--json',
    ]);
    expect(added.code, added.stderr).toBe(0);
    const body = JSON.parse(added.stdout) as { client_id: string; client_secret: string };
    client = { id: body.client_id, secret: body.client_secret };
  });
  afterAll(async () => {
    await stack?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A token from the running server's /token endpoint (client_credentials), for the MCP server. */
  async function issue(): Promise<string> {
    const res = await fetch(`${stack.auth.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: stack.mcp.url, scope: 'db:read' }),
    });
    expect(res.status).toBe(200);
    return String(((await res.json()) as { access_token: string }).access_token);
  }

  const publishedKids = async () => ((await (await fetch(`${stack.auth.url}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

  /** One tools/call with `token`; the HTTP status, and whether the tool ran. */
  async function call(token: string): Promise<{ status: number; ok: boolean }> {
    const res = await rpc(stack.mcp.url, callTool('list_tables'), bearer(token));
    if (res.status !== 200) return { status: res.status, ok: false };
    const body = (await res.json()) as { result?: { isError?: boolean } };
    return { status: 200, ok: body.result !== undefined && body.result.isError !== true };
  }

  it('[KEYROT-5] [KEYROT-2] [KEYROT-3] tokens issued before, during and after a rotation are all accepted by the MCP server, which picks up the new key', async () => {
    const first = (await stack.auth.app.ctx.keys.active()).kid;
    const issued: Issued[] = [];
    const refused: string[] = [];
    const start = performance.now();
    let afterSince: number | undefined;
    // Until tokens from the new key have been used for a while (or the bound runs out).
    while (performance.now() - start < LOOP_LIMIT_MS && (afterSince === undefined || performance.now() - afterSince < 1_500)) {
      // The tokens already issued: the oldest and latest of each phase, all still valid.
      const probes = new Set<string>();
      for (const p of ['before', 'during', 'after'] as const) {
        const of = issued.filter((i) => i.phase === p);
        if (of.length) probes.add(of[0]!.token).add(of.at(-1)!.token);
      }
      // Issuing goes on while they are used, so that the phases are sampled often.
      const [fresh] = await Promise.all([
        (async () => {
          const published = await publishedKids();
          const token = await issue();
          return { token, published };
        })(),
        ...[...probes].map(async (t) => {
          const r = await call(t);
          if (!r.ok) refused.push(`${r.status} for a ${issued.find((i) => i.token === t)!.phase} token`);
        }),
      ]);
      const kid = kidOf(fresh.token);
      const phase: Phase = kid !== first ? 'after' : fresh.published.length > 1 ? 'during' : 'before';
      if (phase === 'after') afterSince ??= performance.now();
      issued.push({ token: fresh.token, kid, phase });
      const r = await call(fresh.token);
      if (!r.ok) refused.push(`${r.status} for a new ${phase} token`);
      // Slower until the next key is published, then often, to sample the short lead.
      await sleep(issued.some((i) => i.phase !== 'before') ? 20 : 400);
    }

    // No valid token was refused at any point.
    expect(refused).toEqual([]);
    const phases = new Set(issued.map((i) => i.phase));
    expect([...phases]).toEqual(['before', 'during', 'after']);
    // The MCP server accepted tokens signed by a key that did not exist when it first fetched the JWKS.
    const next = issued.find((i) => i.phase === 'after')!.kid;
    expect(next).not.toBe(first);
    expect(stack.mcp.audit().filter((e) => e.decision === 'ALLOWED').length).toBeGreaterThanOrEqual(issued.length);
    // The old key is still published: its tokens are valid for ACCESS_TOKEN_TTL_SECONDS.
    expect(await publishedKids()).toEqual(expect.arrayContaining([first, next]));
    // The rotation was the scheduler's, audited.
    expect(stack.auth.auditEvents().filter((e) => e.event === 'key.rotated')).toContainEqual(expect.objectContaining({
      actor: 'scheduler', kid: next, previous_kid: first,
    }));
  }, 45_000);
});
