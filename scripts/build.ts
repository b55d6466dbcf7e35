// `npm run build`: compiles the apps, the packages and these scripts to JavaScript for production
// (`npm run start:prod`, the Docker image), so no TypeScript loader runs there.
//   apps/*/src/…ts      -> apps/*/dist/…js      (with the views' templates, styles and scripts)
//   packages/*/src/…ts  -> packages/*/dist/…js
//   scripts/*.ts        -> scripts/dist/*.js
// Each dist folder sits beside its src at the same depth, so paths the code derives from its own
// location (the repository root, drizzle/, stack.yaml, the views) hold for both. The workspace
// packages export their dist files under the `stack-compiled` condition, which the compiled
// entry points are run with (node --conditions=stack-compiled …).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const workspaces = ['apps', 'packages'].flatMap((parent) =>
  readdirSync(join(root, parent), { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, parent, e.name, 'src')))
    .map((e) => `${parent}/${e.name}`),
);
const started = performance.now();

for (const w of workspaces) rmSync(join(root, w, 'dist'), { recursive: true, force: true });
rmSync(join(root, 'scripts/dist'), { recursive: true, force: true });

// tsc emits the whole tree once (relative imports between the files stay valid), into a scratch
// folder whose parts then move beside their sources.
const out = mkdtempSync(join(tmpdir(), 'stack-build-'));
try {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', out], { cwd: root, stdio: 'inherit' });
  for (const w of workspaces) {
    renameOrCopy(join(out, w, 'src'), join(root, w, 'dist'));
    // Everything in src that is not TypeScript (templates, styles, browser scripts, icons) is read
    // at run time from the folder beside the code.
    cpSync(join(root, w, 'src'), join(root, w, 'dist'), { recursive: true, filter: (src) => !src.endsWith('.ts') });
  }
  renameOrCopy(join(out, 'scripts'), join(root, 'scripts/dist'));
} finally {
  rmSync(out, { recursive: true, force: true });
}
console.log(`build: ${workspaces.length} workspaces and scripts compiled in ${((performance.now() - started) / 1000).toFixed(1)} s`);

/** rename, or copy where the scratch folder is on another file system (EXDEV). */
function renameOrCopy(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch {
    cpSync(from, to, { recursive: true });
  }
}
