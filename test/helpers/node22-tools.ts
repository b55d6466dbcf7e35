import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Tools that need Node 22 (the MCP conformance suite, the MCP Inspector) are installed, with a
 * Node 22 binary from the npm registry, into .tools/node22 — outside the project's own runtime path.
 * Versions are pinned so a run is repeatable.
 */
export const TOOLS_DIR = resolve(import.meta.dirname, '../../.tools/node22');
const PACKAGES = ['node@22.23.3', '@modelcontextprotocol/conformance@0.2.0-alpha.12', '@modelcontextprotocol/inspector@2.12.0'];

export const node22 = resolve(TOOLS_DIR, 'node_modules/.bin/node');
export const conformanceCli = resolve(TOOLS_DIR, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
/** The Inspector's launcher (its `inspector` bin); pass `--cli` first for the command-line client. */
export const inspectorCli = resolve(TOOLS_DIR, 'node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js');

const INSTALL_TIMEOUT_MS = 300_000;
const installed = () => [node22, conformanceCli, inspectorCli].every((p) => existsSync(p));

/**
 * Installs the pinned tools once (about 15 s); later calls return at once. The e2e project's global
 * setup calls it; test runs started at the same time in one checkout share .tools/, so a lock
 * directory (mkdir is atomic) lets exactly one of them run npm.
 */
export function ensureNode22Tools(): void {
  if (installed()) return;
  mkdirSync(TOOLS_DIR, { recursive: true });
  const lock = resolve(TOOLS_DIR, '.install-lock');
  const deadline = Date.now() + INSTALL_TIMEOUT_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Another process is installing; a lock older than the install timeout is left from a crash.
      if (installed()) return;
      if (Date.now() - statMtime(lock) > INSTALL_TIMEOUT_MS) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
  try {
    if (installed()) return;
    writeFileSync(resolve(TOOLS_DIR, 'package.json'), JSON.stringify({ name: 'node22-tools', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', ...PACKAGES], { cwd: TOOLS_DIR, stdio: 'ignore', timeout: INSTALL_TIMEOUT_MS });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function statMtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return Date.now();
  }
}
