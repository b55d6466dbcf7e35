import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKek } from '@stack/crypto';
import { run } from '../src/cli/servers.ts';
import { createSecretStore } from '../src/secrets/store.ts';
import { openTestMcpStore, type TestMcpStore } from './store-helpers.ts';
import { createDemoTools } from '../src/tools/index.ts';
import { DEMO_TOOL_NAMES } from '../src/tools/names.ts';
import { FILESYSTEM_ENTRY, fixture, runNode, type Lines } from './upstream-helpers.ts';

const SECRET = `tok-${randomBytes(8).toString('hex')}`;

describe('npm run admin -- servers list', () => {
  let dir: string;
  let env: Record<string, string | undefined>;
  let fx: Lines;
  // The store the CLI reads the secret from (SQLite, or PostgreSQL with TEST_MCP_DB).
  let control: TestMcpStore;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-servers-cli-'));
    const key = randomBytes(32);
    control = await openTestMcpStore({ KEY_ENCRYPTION_KEY: key.toString('base64') });
    env = { DATA_DIR: dir, ...control.env, NODE_ENV: 'test', STACK_FILE: join(dir, 'stack.yaml') };
    await createSecretStore(control.store.secrets, [makeKek(key)]).set('FIXTURE_TOKEN', SECRET);
    fx = runNode([fixture('http-mcp.mjs')], 'stdout');
    const port = (JSON.parse(await fx.waitFor(/"port"/)) as { port: number }).port;
    writeFileSync(join(dir, 'stack.yaml'), `
roles: [admin, developer, viewer]
scopes:
  "db:read": { description: "Read data", roles: [admin, developer, viewer] }
  "files:read": { description: "Read files", roles: [admin, developer, viewer] }
  "files:write": { description: "Write files", roles: [admin, developer] }
  "demo:use": { description: "Demo tools", roles: [admin, developer] }
servers:
  - name: database
    path: /mcp
    upstream: { builtin: database }
    tools:
      query: { roles: [admin, developer, viewer], scopes: ["db:read"] }
  - name: files
    path: /mcp/files
    upstream: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FILESYSTEM_ENTRY)}, ${JSON.stringify(dir)}] }
    tools:
      read_text_file: { roles: [admin, developer, viewer], scopes: ["files:read"] }
      write_file: { roles: [admin, developer], scopes: ["files:write"], rate_limit_per_minute: 30 }
  - name: fixture
    path: /mcp/fixture
    upstream: { url: "http://127.0.0.1:${port}/mcp", headers: { Authorization: "Bearer \${secret:FIXTURE_TOKEN}" } }
    auth: [oauth, apikey]
    dpop: required
    default: { roles: [admin, developer], scopes: ["demo:use"] }
    resources:
      "demo://readme": { roles: [admin, developer, viewer], scopes: ["files:read"] }
    prompts:
      greet: { roles: [admin], scopes: ["demo:use"], rate_limit_per_minute: 5 }
      default: { roles: [admin, developer], scopes: ["demo:use"] }
  - name: missing
    path: /mcp/missing
    upstream: { url: "http://127.0.0.1:${port}/mcp", headers: { Authorization: "Bearer \${secret:NOT_SET}" } }
    auth: [apikey]
`);
  });
  afterAll(async () => {
    await fx.stop();
    await control?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function cli(args: string[]) {
    let stdout = '';
    let stderr = '';
    const code = await run(args, {
      stdin: Readable.from([]),
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env,
    });
    return { code, stdout, stderr };
  }

  it('[GW-SERVERS-LIST] shows each server, whether its upstream answers, its tools and the rule for each; a secret reaches the upstream and never the output', async () => {
    const r = await cli(['list', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const byName = Object.fromEntries((JSON.parse(r.stdout) as { name: string; health: string; upstream: string; tools: { name: string; rule: string; listed: boolean }[] }[]).map((s) => [s.name, s]));
    expect(byName.database!.tools.map((t) => t.name)).toEqual([...DEMO_TOOL_NAMES].sort());
    expect(byName.database!.tools.find((t) => t.name === 'query')!.rule).toBe('admin,developer,viewer | db:read');
    expect(byName.database!.tools.find((t) => t.name === 'drop_table')!.rule).toBe('denied');
    // The real filesystem server, started for the listing: its tools, named rules and the default (deny) for the rest.
    expect(byName.files!.health).toBe('up');
    const files = Object.fromEntries(byName.files!.tools.map((t) => [t.name, t]));
    expect(files.read_text_file).toMatchObject({ listed: true, rule: 'admin,developer,viewer | files:read' });
    expect(files.write_file).toMatchObject({ listed: true, rule: 'admin,developer | files:write | 30/min' });
    expect(files.list_directory).toMatchObject({ listed: true, rule: 'denied' });
    // The HTTP fixture got the secret from the store; the output shows neither it nor the header.
    expect(byName.fixture!.health).toBe('up');
    expect(byName.fixture!.upstream).toMatch(/^http http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(byName.fixture!.tools.find((t) => t.name === 'echo')).toMatchObject({ listed: true, rule: 'admin,developer | demo:use' });
    expect(fx.lines.some((l) => l.includes(`"authorization":"Bearer ${SECRET}"`))).toBe(true);
    expect(r.stdout).not.toContain(SECRET);
    // A reference to a secret that is not set is named, and that server is not contacted.
    expect(byName.missing!.health).toBe('not started: not set: ${secret:NOT_SET}');
  });

  it('[GW-SERVERS-LIST] [GW-RESOURCE-RULES] [GW-PROMPT-RULES] shows each server\'s resource and prompt rules, with the default for what the file does not name', async () => {
    const r = await cli(['list', '--no-connect', '--json']);
    const byName = Object.fromEntries((JSON.parse(r.stdout) as { name: string; resources: unknown[]; prompts: unknown[] }[]).map((s) => [s.name, s]));
    expect(byName.fixture!.resources).toEqual([
      { uri: 'demo://readme', rule: 'admin,developer,viewer | files:read' },
      { uri: '(default)', rule: 'denied' },
    ]);
    expect(byName.fixture!.prompts).toEqual([
      { name: 'greet', rule: 'admin | demo:use | 5/min' },
      { name: '(default)', rule: 'admin,developer | demo:use' },
    ]);
    // Nothing named and nothing allowed: nothing to show.
    expect(byName.files!.resources).toEqual([]);
    const table = await cli(['list', '--no-connect']);
    expect(table.stdout).toMatch(/^\s+demo:\/\/readme\s+admin,developer,viewer \| files:read$/m);
    expect(table.stdout).toMatch(/^\s+greet\s+admin \| demo:use \| 5\/min$/m);
  });

  it('[GW-SERVERS-LIST] prints a table, and --no-connect lists only what the file says', async () => {
    const table = await cli(['list']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^files\s+\/mcp\/files\s+stdio \S+\s+up$/m);
    expect(table.stdout).not.toContain(SECRET);
    const offline = await cli(['list', '--no-connect', '--json']);
    const files = (JSON.parse(offline.stdout) as { name: string; health: string; tools: { name: string }[] }[]).find((s) => s.name === 'files')!;
    expect(files.health).toBe('not checked');
    expect(files.tools.map((t) => t.name)).toEqual(['read_text_file', 'write_file']);
  });

  it('[GW-SERVERS-LIST] [GW-PER-SERVER-AUTH] shows what each server accepts: its auth, MCP_AUTH_MODE where it names none, mtls or none for every server', async () => {
    const auth = async (mode?: string) => {
      const saved = env.MCP_AUTH_MODE;
      env.MCP_AUTH_MODE = mode;
      try {
        const r = await cli(['list', '--no-connect', '--json']);
        return Object.fromEntries((JSON.parse(r.stdout) as { name: string; auth: string[]; authFrom: string }[]).map((x) => [x.name, [x.auth.join('+'), x.authFrom]]));
      } finally {
        env.MCP_AUTH_MODE = saved;
      }
    };
    expect(await auth()).toEqual({
      database: ['oauth', 'MCP_AUTH_MODE'], files: ['oauth', 'MCP_AUTH_MODE'], fixture: ['oauth+apikey', 'stack file'], missing: ['apikey', 'stack file'],
    });
    expect((await auth('apikey')).database).toEqual(['apikey', 'MCP_AUTH_MODE']);
    expect(Object.values(await auth('mtls'))).toEqual(Array(4).fill(['mtls', 'MCP_AUTH_MODE']));
    const table = await cli(['list', '--no-connect']);
    expect(table.stdout).toContain('\nfixture (/mcp/fixture), auth: oauth, apikey; dpop: required\n');
    expect(table.stdout).toContain('\nfiles (/mcp/files), auth: oauth (MCP_AUTH_MODE); dpop: allowed\n');
    expect(table.stdout).toContain('\nmissing (/mcp/missing), auth: apikey\n');
    env.MCP_AUTH_MODE = 'kerberos';
    try {
      expect((await cli(['list'])).code).toBe(2);
    } finally {
      delete env.MCP_AUTH_MODE;
    }
  });

  it('[GW-SERVERS-LIST] [RFC9449-RS-REQUIRED] shows each server\'s dpop mode where it takes access tokens, in the table and in --json', async () => {
    const dpop = async (mode?: string) => {
      const saved = env.MCP_AUTH_MODE;
      env.MCP_AUTH_MODE = mode;
      try {
        const r = await cli(['list', '--no-connect', '--json']);
        return Object.fromEntries((JSON.parse(r.stdout) as { name: string; dpop: string | null }[]).map((x) => [x.name, x.dpop]));
      } finally {
        env.MCP_AUTH_MODE = saved;
      }
    };
    // `allowed` is the default; an api-key-only server takes no access token, so DPoP does not apply.
    expect(await dpop()).toEqual({ database: 'allowed', files: 'allowed', fixture: 'required', missing: null });
    // MCP_AUTH_MODE=apikey makes the servers naming no auth api-key servers; mtls, none: no tokens anywhere.
    expect(await dpop('apikey')).toEqual({ database: null, files: null, fixture: 'required', missing: null });
    expect(Object.values(await dpop('mtls'))).toEqual(Array(4).fill(null));
    const table = await cli(['list', '--no-connect']);
    expect(table.stdout).toContain('\ndatabase (/mcp), auth: oauth (MCP_AUTH_MODE); dpop: allowed\n');
    expect(table.stdout).toContain('\nfixture (/mcp/fixture), auth: oauth, apikey; dpop: required\n');
  });

  it('[GW-STACK-VALIDATION] reports every problem of an invalid stack file and exits 1', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'roles: [admin]\nservers:\n  - name: Bad Name\n    path: nope\n');
    const saved = env.STACK_FILE;
    env.STACK_FILE = bad;
    try {
      const r = await cli(['list']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/servers\.0\.name/);
      expect(r.stderr).toMatch(/servers\.0\.path/);
      expect(r.stderr).toMatch(/error: the stack file is invalid \(\d+ problems\)/);
    } finally {
      env.STACK_FILE = saved;
    }
  });

  it('DEMO_TOOL_NAMES names exactly the tools the demo database serves', async () => {
    const demo = createDemoTools({ databasePath: join(dir, 'demo.db'), sqlWorkers: 1 });
    try {
      expect(demo.tools.map((t) => t.name).sort()).toEqual([...DEMO_TOOL_NAMES].sort());
    } finally {
      await demo.close();
    }
  });
});
