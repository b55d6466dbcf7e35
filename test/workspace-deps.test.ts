import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Every workspace declares what its code imports, so `npm ci --omit=dev` (the image) installs what
 * the code needs and a workspace's package.json is an honest map of the layers:
 *  - a bare import names an npm package or a workspace (`@stack/x`); a relative import that leaves
 *    the workspace's folder for another workspace's is a dependency on that workspace too;
 *  - shipped code (apps/* and packages/* src, scripts/, docker/) needs it in `dependencies`; tests
 *    and tools may use `devDependencies` or the root's (the shared toolchain: vitest, typescript);
 *  - workspace packages are declared exactly: one declared but never imported is reported as well.
 * Imports are read with a regular expression, not a parser: fast, and the code base writes them
 * in the few shapes below.
 */

const ROOT = resolve(import.meta.dirname, '..');

interface Manifest {
  name: string;
  workspaces?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

interface Workspace {
  dir: string;
  manifest: Manifest;
  /** Folders (relative to the workspace) whose files ship and so need `dependencies`. */
  shipped: string[];
  /** Folders or files (relative to the workspace) whose imports are checked. */
  sources: string[];
}

const readManifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;

function workspaces(): Workspace[] {
  const root = readManifest(ROOT);
  const dirs = (root.workspaces ?? []).flatMap((pattern) => {
    if (!pattern.endsWith('/*')) return [join(ROOT, pattern)];
    const parent = join(ROOT, pattern.slice(0, -2));
    return readdirSync(parent).map((d) => join(parent, d)).filter((d) => existsSync(join(d, 'package.json')));
  });
  const rootFiles = readdirSync(ROOT).filter((f) => f.endsWith('.ts'));
  return [
    { dir: ROOT, manifest: root, shipped: ['scripts', 'docker'], sources: ['scripts', 'docker', ...rootFiles] },
    ...dirs.map((dir) => {
      const isApp = relative(ROOT, dir).split(sep)[0] !== 'test' && relative(ROOT, dir) !== 'bench';
      return { dir, manifest: readManifest(dir), shipped: isApp ? ['src'] : [], sources: isApp ? ['src', 'test'] : ['.'] };
    }),
  ];
}

function files(path: string): string[] {
  if (!existsSync(path)) return [];
  if (statSync(path).isFile()) return /\.(ts|mts|js|mjs)$/.test(path) ? [path] : [];
  return readdirSync(path).filter((e) => e !== 'node_modules').flatMap((e) => files(join(path, e)));
}

// `import … from '…'` and `export … from '…'` (over several lines), `import '…'`, `import('…')`.
const IMPORT = /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"\n]+)['"]|^\s*import\s*['"]([^'"\n]+)['"]|\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/gm;

function specifiers(file: string): string[] {
  const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(IMPORT)].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

const packageName = (spec: string) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');

describe('workspace dependencies', () => {
  const all = workspaces();
  // The innermost workspace folder holding a path (the root holds what no other workspace does).
  const owner = (path: string) =>
    all.filter((w) => path === w.dir || path.startsWith(w.dir + sep)).sort((a, b) => b.dir.length - a.dir.length)[0]!;
  const rootDev = all[0]!.manifest.devDependencies ?? {};

  it('[HEALTH-DEPS-DECLARED] every workspace declares each package and workspace its code imports, and no workspace it does not', () => {
    const problems: string[] = [];
    for (const w of all) {
      const deps = w.manifest.dependencies ?? {};
      const dev = w.manifest.devDependencies ?? {};
      const used = new Set<string>();
      for (const source of w.sources) {
        for (const file of files(join(w.dir, source))) {
          if (owner(file) !== w) continue;
          const shipped = w.shipped.some((s) => file.startsWith(join(w.dir, s) + sep));
          for (const spec of specifiers(file)) {
            let name: string;
            if (spec.startsWith('.')) {
              const target = owner(resolve(dirname(file), spec));
              // The root is the repository itself, not a package anyone can depend on (its scripts are reached by path).
              if (target === w || target === all[0]) continue;
              name = target.manifest.name;
            } else {
              if (isBuiltin(spec)) continue;
              name = packageName(spec);
            }
            if (name === w.manifest.name) continue;
            used.add(name);
            const declared = Object.hasOwn(deps, name) || (!shipped && (Object.hasOwn(dev, name) || Object.hasOwn(rootDev, name)));
            if (!declared) problems.push(`${w.manifest.name}: ${relative(ROOT, file)} imports ${name}, not in its ${shipped ? 'dependencies' : 'dependencies or devDependencies'}`);
          }
        }
      }
      for (const name of [...Object.keys(deps), ...Object.keys(dev)]) {
        if (name.startsWith('@stack/') && !used.has(name)) problems.push(`${w.manifest.name}: declares ${name} but imports nothing from it`);
      }
    }
    expect(problems.join('\n')).toBe('');
  });
});
