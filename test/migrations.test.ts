import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const listing = () => ['auth-sqlite', 'auth-pg', 'mcp-sqlite'].flatMap((d) => readdirSync(join(ROOT, 'drizzle', d)).map((f) => `${d}/${f}`)).sort();

describe('drizzle migrations', () => {
  it('are in step with the schemas: `npm run db:generate` finds nothing to add', () => {
    const before = listing();
    const out = execFileSync('npm', ['run', '--silent', 'db:generate'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(out.match(/No schema changes, nothing to migrate/g)).toHaveLength(3);
    expect(listing()).toEqual(before);
  }, 150_000);
});
