// The Dockerfile, its entrypoint and health-check script, checked without Docker: the instructions
// are parsed, and the scripts the image runs are run here against a real app.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../apps/auth-server/src/app.ts';
import { authSettingNames, loadAuthConfig } from '../../apps/auth-server/src/config.ts';
import { mcpSettingNames } from '../../apps/mcp-server/src/config.ts';
import { COMPILED_NODE_FLAGS } from '../../scripts/node-flags.ts';
import { freePort } from './app-process.ts';
import { dockerIgnore, dockerStages, read, ROOT } from './deploy-files.ts';

const { args, stages } = dockerStages(read('Dockerfile'));
const runtime = stages.at(-1)!;
const instr = (stage: typeof runtime, name: string) => stage.lines.filter((l) => l.toUpperCase().startsWith(`${name} `));
const image = (from: string) => from.replace(/^\$\{(\w+)\}$/, (_m, a: string) => args[a] ?? from);

describe('Dockerfile', () => {
  it('[DEPLOY-DOCKERFILE] is multi-stage on Node 24 (LTS) in every stage', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(image(s.from), s.name).toMatch(/^node:24[-.\w]*$/);
  });

  it('[DEPLOY-DOCKERFILE] builds native modules with a toolchain in a build stage and ships production dependencies only', () => {
    const deps = stages.find((s) => s.lines.some((l) => /npm ci\b/.test(l)))!;
    expect(deps, 'a stage runs npm ci').toBeDefined();
    expect(deps).not.toBe(runtime);
    expect(deps.lines.join('\n')).toMatch(/npm ci --omit=dev/);
    expect(deps.lines.join('\n')).toMatch(/apt-get install[^\n]*\s(g\+\+|build-essential)(\s|$)/);
    expect(deps.lines.join('\n')).toMatch(/require\('better-sqlite3'\)[^\n]*require\('argon2'\)/);
    // The final stage installs nothing: no compiler, no npm install, no dev dependencies.
    expect(runtime.lines.join('\n')).not.toMatch(/apt-get|npm (ci|install)|g\+\+/);
    expect(instr(runtime, 'COPY').join('\n')).toMatch(new RegExp(`--from=${deps.name}\\b`));
  });

  it('[DEPLOY-DOCKERFILE] compiles the sources in a build stage and ships only its compiled dist folders, no TypeScript loader', () => {
    const build = stages.find((s) => s.lines.some((l) => /npm run build\b/.test(l)))!;
    expect(build, 'a stage runs npm run build').toBeDefined();
    expect(build).not.toBe(runtime);
    // Everything the build compiles reaches the build stage.
    const built = instr(build, 'COPY').filter((l) => !l.includes('--from')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(built).toEqual(expect.arrayContaining(['tsconfig.json', 'tsconfig.build.json', 'apps/', 'packages/', 'scripts/']));
    expect(build.lines.join('\n')).toMatch(/-name dist\b/);
    expect(instr(runtime, 'COPY').join('\n')).toMatch(new RegExp(`--from=${build.name} /out/ \\./`));
    // The runtime copies no source folder from the context, and never names tsx.
    const fromContext = instr(runtime, 'COPY').filter((l) => !l.includes('--from')).join('\n');
    expect(fromContext).not.toMatch(/\s(apps|packages|scripts)\/\s/);
    expect([...runtime.lines, read('docker/entrypoint.sh')].join('\n')).not.toMatch(/\btsx\b/);
  });

  it('[DEPLOY-DOCKERFILE] runs as a non-root user with a HEALTHCHECK, a /data volume and both apps listening on all interfaces', () => {
    const user = instr(runtime, 'USER').at(-1)?.split(/\s+/)[1];
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    expect(instr(runtime, 'HEALTHCHECK').join('\n')).toMatch(/CMD \["node", "\/app\/docker\/healthcheck\.mjs"\]/);
    expect(instr(runtime, 'VOLUME').join('\n')).toContain('"/data"');
    const env = Object.fromEntries(instr(runtime, 'ENV').join(' ').replace(/^ENV\s+/i, '').split(/\s+(?:ENV\s+)?/i).map((kv) => kv.split('=') as [string, string]));
    expect(env).toMatchObject({ NODE_ENV: 'production', DATA_DIR: '/data', AUTH_HOST: '0.0.0.0', MCP_HOST: '0.0.0.0' });
    for (const k of Object.keys(env)) expect([...authSettingNames, ...mcpSettingNames], k).toContain(k);
    expect(instr(runtime, 'EXPOSE').join(' ')).toMatch(/EXPOSE 4000 4001/);
    // Every path the runtime stage copies from the build context exists.
    for (const l of instr(runtime, 'COPY').filter((c) => !c.includes('--from'))) {
      for (const src of l.split(/\s+/).slice(1, -1)) expect(existsSync(resolve(ROOT, src)), src).toBe(true);
    }
  });

  it('[DEPLOY-DOCKERFILE] the entrypoint maps the command to each app with exec, so SIGTERM reaches node', () => {
    const sh = read('docker/entrypoint.sh');
    expect(instr(runtime, 'ENTRYPOINT').join('')).toContain('/app/docker/entrypoint.sh');
    // The compiled entry points (`npm run build` writes them; the build stage runs it), each beside
    // the source it is compiled from.
    // The servers get production's node flags (scripts/node-flags.ts), the admin CLI the condition only.
    const flags = (name: string) => (name === 'admin' ? ['--conditions=stack-compiled'] : COMPILED_NODE_FLAGS).join(' ');
    for (const [name, file] of [['auth-server', 'apps/auth-server/dist/main.js'], ['mcp-server', 'apps/mcp-server/dist/main.js'], ['admin', 'scripts/dist/admin.js']] as const) {
      const line = `${name}) exec node ${flags(name)} ${file} "$@" ;;`;
      expect(sh.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')), line).toContain(line);
      const source = file.replace('/dist/', '/').replace('/main.js', '/src/main.ts').replace(/\.js$/, '.ts');
      expect(existsSync(resolve(ROOT, source)), source).toBe(true);
    }
    expect(spawnSync('sh', ['-n', resolve(ROOT, 'docker/entrypoint.sh')]).status, 'valid sh').toBe(0);
  });

  it('[DEPLOY-HEALTH] docker/healthcheck.mjs exits 0 while the app is ready and 1 when nothing answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'healthcheck-'));
    const app = await buildApp(loadAuthConfig({ NODE_ENV: 'test', DATA_DIR: dir, LOG_LEVEL: 'silent', AUDIT_LOG: 'off' }), { logger: false });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as { port: number }).port;
      const closed = await freePort();
      // Asynchronous spawn: the app answering the check runs in this process.
      const run = (argv: string[], env: Record<string, string> = {}) => new Promise<number | null>((done) => {
        spawn(process.execPath, ['docker/healthcheck.mjs', ...argv], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' })
          .once('exit', (code) => done(code));
      });
      expect(await run([`http://127.0.0.1:${port}/ready`])).toBe(0);
      // Without a URL it asks the ports the apps were given (AUTH_PORT / MCP_PORT): one answering is enough.
      expect(await run([], { AUTH_PORT: String(port), MCP_PORT: String(closed) })).toBe(0);
      expect(await run([], { AUTH_PORT: String(closed), MCP_PORT: String(closed) })).toBe(1);
      expect(await run([`http://127.0.0.1:${port}/no-such-path`])).toBe(1);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('[DEPLOY-DOCKERFILE] .dockerignore keeps local data, secrets and installed modules out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['**/node_modules', '.git', 'data', '.env', '**/kek.key', '**/*.db']));
  });

  describe('what the image holds, from the Dockerfile and .dockerignore (no Docker here)', () => {
    const ignored = dockerIgnore(read('.dockerignore'));
    /** The build context: every file here that .dockerignore lets through. */
    const context: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(resolve(ROOT, dir), { withFileTypes: true })) {
        const rel = dir ? `${dir}/${entry.name}` : entry.name;
        // Installed modules and git objects are ignored as a whole (asserted below); no need to list them.
        if (entry.name === 'node_modules' || rel === '.git') continue;
        if (entry.isDirectory()) walk(rel);
        else if (!ignored(rel)) context.push(rel);
      }
    };
    walk('');
    /** Files the runtime stage copies from the context (COPY without --from). */
    const copied = instr(runtime, 'COPY').filter((l) => !l.includes('--from')).flatMap((l) => {
      const sources = l.split(/\s+/).slice(1, -1).filter((a) => !a.startsWith('--')).map((s) => s.replace(/\/+$/, ''));
      return context.filter((f) => sources.some((s) => f === s || f.startsWith(`${s}/`)));
    });
    const DEV_FILE = [/(^|\/)test\//, /^bench\//, /\.test\.ts$/, /^\.ci\//, /^eslint\.config\./, /^vitest\.config\./, /^drizzle\.[^/]+\.config\.ts$/];
    const rootManifest = JSON.parse(read('package.json')) as { workspaces: string[] };
    // Workspaces outside apps/ and packages/ exist for development only (test/, bench/).
    const devWorkspaces = rootManifest.workspaces.filter((w) => !/^(apps|packages)\//.test(w));

    it('[DEPLOY-IMAGE-NO-DEV-FILES] the runtime stage copies no test, bench or dev-tool file, and everything the apps run', () => {
      expect(ignored('node_modules/x/index.js') && ignored('apps/auth-server/node_modules/x') && ignored('.git/HEAD')).toBe(true);
      expect(copied.filter((f) => DEV_FILE.some((re) => re.test(f)))).toEqual([]);
      // Not vacuous: the migrations, policy and deployment scripts are copied (the code comes
      // compiled from the build stage, checked above).
      expect(copied).toEqual(expect.arrayContaining([
        'apps/mcp-server/policy.yaml', 'drizzle/auth-sqlite/meta/_journal.json',
        'docker/entrypoint.sh', 'docker/healthcheck.mjs', 'package.json', 'stack.yaml',
      ]));
      // Compiled output in the working tree never enters the context: the build stage makes its own.
      expect(ignored('apps/auth-server/dist/main.js') && ignored('packages/db/dist/index.js') && ignored('scripts/dist/admin.js')).toBe(true);
      // And the context still has the tests, so the patterns above are what keeps them out.
      expect(existsSync(resolve(ROOT, 'apps/auth-server/test'))).toBe(true);
      expect(ignored('apps/auth-server/test/helpers.ts') && ignored('packages/oauth/test/pkce.test.ts') && ignored('test/requirements.ts')).toBe(true);
    });

    it('[DEPLOY-IMAGE-NO-DEV-FILES] npm ci sees every workspace manifest, then the dev workspaces are deleted before the image copies /app', () => {
      expect(devWorkspaces.length).toBeGreaterThan(0);
      const manifests = stages.find((s) => s.lines.some((l) => /-name package\.json/.test(l)))!;
      expect(manifests.lines).toContain('COPY . .');
      const deps = stages.find((s) => s.lines.some((l) => /npm ci\b/.test(l)))!;
      const removed = deps.lines.filter((l) => /^RUN rm -rf /.test(l)).flatMap((l) => l.replace(/^RUN rm -rf /, '').split(/\s+/));
      for (const w of devWorkspaces) {
        expect(context, `${w}/package.json reaches npm ci`).toContain(`${w}/package.json`);
        expect(context.filter((f) => f.startsWith(`${w}/`)), `only the manifest of ${w}`).toEqual([`${w}/package.json`]);
        const name = (JSON.parse(read(`${w}/package.json`)) as { name: string }).name;
        expect(removed, `the deps stage deletes ${w} and its link`).toEqual(expect.arrayContaining([w, `node_modules/${name}`]));
      }
      // The deletion happens in the stage the runtime copies /app from.
      expect(instr(runtime, 'COPY').join('\n')).toMatch(new RegExp(`--from=${deps.name} /app/`));
    });
  });
});
