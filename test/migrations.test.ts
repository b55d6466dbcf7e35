import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const listing = (dir: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();

interface DrizzleConfig {
  dialect: string;
  schema: string;
  out: string;
  casing: string;
}

/** The drizzle-kit configs `npm run db:generate` runs, in its order. */
function generateConfigs(): string[] {
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  return [...scripts['db:generate']!.matchAll(/drizzle-kit generate --config (\S+)/g)].map((m) => m[1]!);
}

describe('drizzle migrations', () => {
  it('are in step with the schemas: generating with each db:generate config finds nothing to add', async () => {
    const configs = generateConfigs();
    expect(configs).toEqual(['drizzle.auth-sqlite.config.ts', 'drizzle.auth-pg.config.ts', 'drizzle.mcp-sqlite.config.ts', 'drizzle.mcp-pg.config.ts']);
    // drizzle-kit writes whatever it finds into `out`: it generates into a copy, so a schema change
    // without its migration fails here instead of leaving a new file in drizzle/.
    const tmp = mkdtempSync(join(tmpdir(), 'migrations-'));
    try {
      for (const file of configs) {
        const config = (await import(join(ROOT, file)) as { default: DrizzleConfig }).default;
        const out = join(tmp, config.out);
        cpSync(join(ROOT, config.out), out, { recursive: true });
        const before = listing(out);
        // drizzle-kit reads `out` relative to the working directory, even when it is absolute.
        const stdout = execFileSync('npx', [
          'drizzle-kit', 'generate', '--dialect', config.dialect, '--schema', config.schema, '--out', relative(ROOT, out), '--casing', config.casing,
        ], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
        expect(stdout, file).toContain('No schema changes, nothing to migrate');
        expect(listing(out), file).toEqual(before);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 150_000);
});
