// `npm start`: runs the authorization server and the MCP server side by side with the same
// environment, prefixes their output, and stops both when either exits or on SIGINT/SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { COMPILED_NODE_FLAGS } from './node-flags.ts';

// Compiled (`npm run start:prod`: scripts/dist/start.js after `npm run build`), it runs the apps'
// compiled JavaScript with plain node; from source (`npm start`), their TypeScript through tsx.
const COMPILED = import.meta.url.endsWith('.js');
const root = resolve(import.meta.dirname, COMPILED ? '../..' : '..');
const apps = [
  { name: 'auth', app: 'auth-server' },
  { name: 'mcp ', app: 'mcp-server' },
].map((a) => ({ name: a.name, entry: COMPILED ? `apps/${a.app}/dist/main.js` : `apps/${a.app}/src/main.ts` }));
// The compiled apps run with production's node flags (scripts/node-flags.ts: the packages' compiled
// files, the heap sizes).
const nodeArgs = COMPILED ? COMPILED_NODE_FLAGS : ['--import', 'tsx'];

const children: ChildProcess[] = [];
let stopping = false;

function stopAll(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 11_000).unref();
  void Promise.all(children.filter((c) => c.exitCode === null).map((c) => new Promise((r) => c.once('exit', r)))).then(() => process.exit(code));
}

for (const app of apps) {
  // node --import tsx (not the tsx wrapper) so SIGHUP reaches the MCP server for a policy reload.
  const child = spawn(process.execPath, [...nodeArgs, app.entry, ...process.argv.slice(2).filter(() => app.name === 'mcp ')], {
    cwd: root,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  for (const [stream, out] of [[child.stdout, process.stdout], [child.stderr, process.stderr]] as const) {
    createInterface({ input: stream }).on('line', (line) => out.write(`[${app.name}] ${line}\n`));
  }
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`[${app.name}] exited (${signal ?? code}); stopping the stack`);
      stopAll(code ?? 1);
    }
  });
}

for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => stopAll(0));
