import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const INSTANCES = 4;
// Each racy step is repeated on fresh files: one round can pass by luck of scheduling.
const ROUNDS = 8;

/** An instance's process: send it a step, and wait for its answer (undefined once it has exited). */
interface Instance {
  step(line: string): Promise<unknown>;
  exit(): Promise<{ code: number | null; stderr: string }>;
}

function startInstance(env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/start-instance.ts')], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise<{ code: number | null; stderr: string }>((r) => child.once('close', (code) => r({ code, stderr })));
  const waiting: ((v: unknown) => void)[] = [];
  void exited.then(() => waiting.splice(0).forEach((w) => w(undefined)));
  const next = () => new Promise<unknown>((r) => waiting.push(r));
  const ready = next();
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.(line === 'ready' ? true : (JSON.parse(line) as { value: unknown }).value));
  const instance: Instance = {
    step(line) {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(undefined);
      const answer = next();
      child.stdin.write(`${line}\n`);
      return answer;
    },
    exit() {
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
      return exited.finally(() => clearTimeout(t));
    },
  };
  return ready.then(() => instance);
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('[HARD-STARTUP-CONCURRENT] instances started together on one data directory', () => {
  it(`${INSTANCES} instances migrate, seed and create keys together without a crash; the demo data is seeded once`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'startup-race-'));
    dirs.push(root);
    const dataDir = join(root, 'data');
    const env = { DATA_DIR: dataDir, KEY_ENCRYPTION_KEY: '', AUTH_ISSUER: 'http://127.0.0.1:9', DATABASE_URL: '', REDIS_URL: '' };
    // Every instance has loaded its code before the first step: then each step starts in all of them at once.
    const instances = await Promise.all(Array.from({ length: INSTANCES }, () => startInstance(env)));
    const together = (line: string) => Promise.all(instances.map((i) => i.step(line)));

    for (let r = 0; r < ROUNDS; r++) await together(`demo ${join(dataDir, `demo-${r}.db`)}`);
    for (let r = 0; r < ROUNDS; r++) await together(`mcp ${join(dataDir, `mcp-${r}.db`)}`);
    const keks = await together(`kek ${join(root, 'keys')}`);
    const kids = await together('auth');
    const exits = await Promise.all(instances.map((i) => i.exit()));
    for (const e of exits) expect(e.code, e.stderr).toBe(0);

    for (let r = 0; r < ROUNDS; r++) {
      const demo = new Database(join(dataDir, `demo-${r}.db`), { readonly: true });
      try {
        expect(demo.pragma('user_version', { simple: true })).toBe(1);
        expect(demo.prepare('SELECT count(*) FROM users').pluck().get()).toBe(30);
        expect(demo.prepare('SELECT count(*) FROM orders').pluck().get()).toBe(60);
      } finally {
        demo.close();
      }
    }
    for (const file of [...Array.from({ length: ROUNDS }, (_, r) => `mcp-${r}.db`), 'auth.db']) {
      const db = new Database(join(dataDir, file), { readonly: true });
      try {
        // Every migration applied and recorded once.
        const hashes = db.prepare('SELECT hash FROM __drizzle_migrations').pluck().all() as string[];
        expect(new Set(hashes).size, file).toBe(hashes.length);
      } finally {
        db.close();
      }
    }
    // One development KEK, read complete by every instance.
    expect(new Set(keks).size).toBe(1);
    // Each signing key an instance used is published (one is active, any other retired but still valid).
    const auth = new Database(join(dataDir, 'auth.db'), { readonly: true });
    try {
      const stored = auth.prepare('SELECT kid FROM signing_keys').pluck().all();
      for (const kid of kids) expect(stored).toContain(kid);
      expect(auth.prepare('SELECT count(*) FROM signing_keys WHERE retired_at IS NULL').pluck().get()).toBe(1);
    } finally {
      auth.close();
    }
  }, 120_000);
});
