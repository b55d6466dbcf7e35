// Start time and memory of both apps' own entry points, from source through tsx (`npm start`) and
// compiled (`npm run build`, as `npm run start:prod` and the Docker image run them): time from
// spawn until /health answers, and resident memory (VmRSS) then. Builds first.
// Usage: node --import tsx bench/src/tools/startup.ts [runs per variant, default 5]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPILED_NODE_FLAGS } from '../../../scripts/node-flags.ts';
import { freePort } from '../lib/ports.ts';
import { REPO_ROOT, startServer } from '../lib/proc.ts';

const runs = Number(process.argv[2] ?? '5');
if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new Error('runs must be an integer from 1 to 50');
execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/build.ts')], { cwd: REPO_ROOT, stdio: 'inherit' });

const variants = [
  { app: 'auth-server', how: 'tsx (source)', flags: ['--import', 'tsx'], entry: 'apps/auth-server/src/main.ts' },
  { app: 'auth-server', how: 'compiled', flags: COMPILED_NODE_FLAGS, entry: 'apps/auth-server/dist/main.js' },
  { app: 'mcp-server', how: 'tsx (source)', flags: ['--import', 'tsx'], entry: 'apps/mcp-server/src/main.ts' },
  { app: 'mcp-server', how: 'compiled', flags: COMPILED_NODE_FLAGS, entry: 'apps/mcp-server/dist/main.js' },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: string[] = [];
const work = mkdtempSync(join(tmpdir(), 'startup-'));
try {
  for (const v of variants) {
    const ms: number[] = [];
    const rss: number[] = [];
    // One unmeasured start first: the page cache and tsx's transpile cache are warm for the measured ones.
    for (let i = 0; i <= runs; i++) {
      const port = await freePort();
      const dir = join(work, `${v.app}-${v.how.split(' ')[0]}-${i}`);
      const env: Record<string, string> = v.app === 'auth-server'
        ? { NODE_ENV: 'test', DATA_DIR: dir, AUTH_HOST: '127.0.0.1', AUTH_PORT: String(port), AUTH_ISSUER: `http://127.0.0.1:${port}`, LOG_LEVEL: 'warn', KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') }
        : { NODE_ENV: 'test', DATA_DIR: dir, MCP_HOST: '127.0.0.1', MCP_PORT: String(port), MCP_PUBLIC_URL: `http://127.0.0.1:${port}/mcp`, AUTH_ISSUER: 'http://127.0.0.1:9', LOG_LEVEL: 'warn' };
      const t0 = performance.now();
      const server = await startServer({
        name: v.app, command: [...v.flags, join(REPO_ROOT, v.entry)], env,
        readyUrl: `http://127.0.0.1:${port}/health`, logFile: join(work, `${v.app}.log`),
      });
      const elapsed = performance.now() - t0;
      const mb = server.rssMb();
      await server.stop();
      if (i === 0) continue;
      ms.push(elapsed);
      rss.push(mb);
    }
    rows.push(`| ${v.app} | ${v.how} | ${median(ms).toFixed(0)} ms | ${median(rss).toFixed(0)} MB |`);
    console.log(rows.at(-1));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`\nmedian of ${runs} starts each (spawn until /health answers; RSS then)\n\n| app | runs as | start | RSS when ready |\n|---|---|--:|--:|\n${rows.join('\n')}`);
