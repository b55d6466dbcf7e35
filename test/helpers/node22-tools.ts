import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Tools that need Node 22 (the MCP conformance suite; later the Inspector) are installed, with a
 * Node 22 binary from the npm registry, into .tools/node22 — outside the project's own runtime path.
 * Versions are pinned so a run is repeatable.
 */
export const TOOLS_DIR = resolve(import.meta.dirname, '../../.tools/node22');
const PACKAGES = ['node@22.23.3', '@modelcontextprotocol/conformance@0.2.0-alpha.12'];

export const node22 = resolve(TOOLS_DIR, 'node_modules/.bin/node');
export const conformanceCli = resolve(TOOLS_DIR, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

/** Installs the pinned tools once (about 10 s); later calls return at once. */
export function ensureNode22Tools(): void {
  if (existsSync(node22) && existsSync(conformanceCli)) return;
  mkdirSync(TOOLS_DIR, { recursive: true });
  writeFileSync(resolve(TOOLS_DIR, 'package.json'), JSON.stringify({ name: 'node22-tools', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', ...PACKAGES], { cwd: TOOLS_DIR, stdio: 'ignore', timeout: 300_000 });
}
