import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { requirements, notImplemented } from './requirements.ts';

const ROOT = resolve(import.meta.dirname, '..');

function testFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) testFiles(p, out);
    else if (name.endsWith('.test.ts') && !p.endsWith('requirements-coverage.test.ts')) out.push(p);
  }
  return out;
}

describe('requirements traceability', () => {
  const files = ['apps', 'packages', 'test'].flatMap((d) => testFiles(join(ROOT, d)));
  const cited = new Set<string>();
  for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(/\[([A-Z0-9]+(?:-[A-Z0-9]+)+)\]/g)) cited.add(m[1]!);

  it('every requirement id is cited by at least one test or listed as not implemented, with a reason', () => {
    const missing = Object.keys(requirements).filter((id) => !cited.has(id) && !notImplemented[id]);
    expect(missing).toEqual([]);
  });

  it('every cited id exists in test/requirements.ts', () => {
    const unknown = [...cited].filter((id) => !requirements[id]);
    expect(unknown).toEqual([]);
  });
});
