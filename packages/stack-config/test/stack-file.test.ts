import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseStackFile, StackFileError, type StackConfig, type StackEnv } from '@stack/stack-config';

// The issue's example, as operators will copy it.
const EXAMPLE = `
roles: [admin, developer, viewer]
scopes:
  files:read:  { description: "Read files in the shared folder", roles: [admin, developer, viewer] }
  files:write: { description: "Create and change files in the shared folder", roles: [admin, developer] }
  demo:use:    { description: "Use the protocol demo tools", roles: [admin, developer] }
servers:
  - name: files
    path: /mcp/files
    upstream: { command: npx, args: ["-y", "@modelcontextprotocol/server-filesystem", "/srv/shared"] }
    auth: [oauth, apikey]
    tools:
      read_text_file: { roles: [admin, developer, viewer], scopes: ["files:read"] }
      write_file:     { roles: [admin, developer], scopes: ["files:write"], rate_limit_per_minute: 30 }
    default: deny
  - name: everything
    path: /mcp/everything
    upstream: { url: "http://127.0.0.1:3001/mcp", headers: { Authorization: "Bearer \${secret:EVERYTHING_TOKEN}" } }
    default: { roles: [admin, developer], scopes: ["demo:use"] }
`;

const SCOPES = `
roles: [admin, developer, viewer]
scopes:
  "a:read":  { description: "Read", roles: [admin, developer, viewer] }
  "a:write": { description: "Write", roles: [admin, developer] }
`;

/** A valid file around one server whose lines are given (indented under `- `). */
const withServer = (server: string, head = SCOPES) => `${head}servers:\n  - ${server.trim().split('\n').join('\n    ')}\n`;
const BASIC = `name: s\npath: /mcp/s\nupstream: { builtin: database }\ntools:\n  t: { roles: [viewer], scopes: ["a:read"] }`;

function problems(text: string, env: StackEnv = 'test', format?: 'json'): string[] {
  try {
    parseStackFile(text, { env, format });
  } catch (err) {
    expect(err).toBeInstanceOf(StackFileError);
    return (err as StackFileError).problems;
  }
  throw new Error('the file was accepted');
}

describe('stack file', () => {
  it('[GW-STACK-FILE] the issue\'s example validates and is normalized', () => {
    const c = parseStackFile(EXAMPLE, { env: 'production', source: 'example.yaml' });
    expect(c.source).toBe('example.yaml');
    expect(c.roles).toEqual(['admin', 'developer', 'viewer']);
    expect(c.scopes['files:write']).toEqual({ description: 'Create and change files in the shared folder', roles: ['admin', 'developer'] });
    expect(c.scopesForRole('viewer')).toEqual(['files:read']);
    expect(c.scopesForRole('developer')).toEqual(['files:read', 'files:write', 'demo:use']);
    expect(c.scopesForRole('nobody')).toEqual([]);

    const [files, everything] = c.servers;
    expect(files!.upstream).toEqual({ kind: 'stdio', command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/srv/shared'], env: {} });
    expect(files!.auth).toEqual(['oauth', 'apikey']);
    expect(files!.tools.rules.write_file).toEqual({ roles: ['admin', 'developer'], scopes: ['files:write'], ratePerMinute: 30 });
    expect(files!.tools.default).toBe('deny');
    expect(files!.ruleFor('tools', 'read_text_file')?.scopes).toEqual(['files:read']);
    expect(files!.ruleFor('tools', 'move_file')).toBeUndefined();
    expect(files!.scopesSupported).toEqual(['files:read', 'files:write']);
    expect(files!.timeoutSeconds).toBe(30);

    // Header values keep their references: resolving them is the gateway's job, at start.
    expect(everything!.upstream).toEqual({ kind: 'http', url: 'http://127.0.0.1:3001/mcp', headers: { Authorization: 'Bearer ${secret:EVERYTHING_TOKEN}' } });
    expect(everything!.auth).toBeUndefined();
    expect(everything!.ruleFor('tools', 'echo')).toEqual({ roles: ['admin', 'developer'], scopes: ['demo:use'], ratePerMinute: undefined });
    expect(everything!.ruleFor('resources', 'demo://x')).toBeUndefined();
    expect(everything!.ruleFor('prompts', 'p')).toBeUndefined();

    expect(c.resourceUrls('https://mcp.example.com/')).toEqual(['https://mcp.example.com/mcp/files', 'https://mcp.example.com/mcp/everything']);
    expect(c.serverByPath('/mcp/everything')).toBe(everything);
    expect(c.serverByPath('/mcp/other')).toBeUndefined();
    expect(Object.isFrozen(c) && Object.isFrozen(c.servers) && Object.isFrozen(files!.tools.rules.write_file!.roles)).toBe(true);
  });

  it('[GW-STACK-FILE] the same file as JSON gives the same config', () => {
    const yaml = parseStackFile(EXAMPLE, { env: 'test' });
    const json = parseStackFile(JSON.stringify({
      roles: yaml.roles,
      scopes: yaml.scopes,
      servers: [
        { name: 'files', path: '/mcp/files', upstream: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/srv/shared'] }, auth: ['oauth', 'apikey'], tools: { read_text_file: { roles: ['admin', 'developer', 'viewer'], scopes: ['files:read'] }, write_file: { roles: ['admin', 'developer'], scopes: ['files:write'], rate_limit_per_minute: 30 } }, default: 'deny' },
        { name: 'everything', path: '/mcp/everything', upstream: { url: 'http://127.0.0.1:3001/mcp', headers: { Authorization: 'Bearer ${secret:EVERYTHING_TOKEN}' } }, default: { roles: ['admin', 'developer'], scopes: ['demo:use'] } },
      ],
    }), { env: 'test', format: 'json' });
    expect(JSON.parse(JSON.stringify(json))).toEqual(JSON.parse(JSON.stringify(yaml)));
    expect(problems('{"roles": [', 'test', 'json')).toEqual([expect.stringMatching(/^\(root\): not valid JSON/)]);
  });

  it('[GW-STACK-FILE] roles default to admin, developer, viewer; resources, prompts, scope_implies, isolation and limits are read', () => {
    const c = parseStackFile(withServer(`
name: s
path: /s
upstream: { command: node, args: [server.js], env: { TOKEN: "\${secret:S_TOKEN}", MODE: plain } }
isolation: per-identity
max_children: 4
timeout_seconds: 10
max_response_bytes: 65536
scope_implies: { "a:write": ["a:read"] }
default_tool_rate_limit_per_minute: 50
tools:
  t: { roles: [developer], scopes: ["a:read", "a:write", "a:read"] }
  u: { roles: [viewer], scopes: ["a:read"], rate_limit_per_minute: 5 }
resources:
  "file:///etc/motd": { roles: [viewer], scopes: ["a:read"] }
  default: { roles: [admin], scopes: ["a:write"] }
prompts:
  summarize: { roles: [developer], scopes: ["a:write"] }
`, SCOPES.replace('roles: [admin, developer, viewer]\n', '')), { env: 'test' });
    expect(c.roles).toEqual(['admin', 'developer', 'viewer']);
    const s = c.servers[0]!;
    expect(s.upstream).toEqual({ kind: 'stdio', command: 'node', args: ['server.js'], env: { TOKEN: '${secret:S_TOKEN}', MODE: 'plain' }, isolation: { mode: 'per-identity', maxChildren: 4, idleTimeoutSeconds: 300 } });
    expect(s.tools.rules.t).toEqual({ roles: ['developer'], scopes: ['a:read', 'a:write'], ratePerMinute: 50 });
    expect(s.tools.rules.u!.ratePerMinute).toBe(5);
    expect(s.ruleFor('resources', 'file:///etc/motd')!.roles).toEqual(['viewer']);
    expect(s.ruleFor('resources', 'file:///etc/passwd')!.roles).toEqual(['admin']);
    expect(s.resources.default).toEqual({ roles: ['admin'], scopes: ['a:write'], ratePerMinute: undefined });
    expect(s.ruleFor('prompts', 'summarize')!.scopes).toEqual(['a:write']);
    expect(s.ruleFor('prompts', 'other')).toBeUndefined();
    expect(s.ruleFor('tools', 'toString')).toBeUndefined();
    expect([...s.expand(['a:write'])].sort()).toEqual(['a:read', 'a:write']);
    expect([...s.expand(['a:read'])]).toEqual(['a:read']);
    expect(s.timeoutSeconds).toBe(10);
    expect(s.maxResponseBytes).toBe(65536);
  });
});

describe('stack file validation', () => {
  it('[GW-STACK-VALIDATION] a file with several mistakes reports all of them at once, each with its path', () => {
    const text = `
roles: [admin, developer, viewer]
scopes:
  "a:read":  { description: "Read", roles: [admin, developer, viewer, guest] }
  offline_access: { description: "Refresh", roles: [admin] }
servers:
  - name: Bad Name
    path: /mcp/x
    upstream: { builtin: database }
    tools:
      t: { roles: [owner], scopes: ["a:read"] }
      u: { roles: [viewer], scopes: ["b:read"] }
      v: { roles: [viewer], scopes: ["a:read"], rate_limit_per_minute: -1 }
  - name: two
    path: /mcp/x
    upstream: { url: "http://upstream.internal/mcp", command: "x" }
    colour: blue
`;
    let err: unknown;
    try {
      parseStackFile(text, { env: 'production', source: 'stack.yaml' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StackFileError);
    const e = err as StackFileError;
    expect(e.problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^scopes\.a:read\.roles\.3: role 'guest' is not in roles$/),
      expect.stringMatching(/^scopes\.offline_access: .*not a resource scope/),
      expect.stringMatching(/^servers\.0\.name: must be a slug/),
      expect.stringMatching(/^servers\.0\.tools\.v\.rate_limit_per_minute: /),
      expect.stringMatching(/^servers\.0\.tools\.t\.roles\.0: role 'owner' is not in roles$/),
      expect.stringMatching(/^servers\.0\.tools\.u\.scopes\.0: scope 'b:read' is not in scopes$/),
      expect.stringMatching(/^servers\.1\.path: '\/mcp\/x' is already the path of servers\.0$/),
      expect.stringMatching(/^servers\.1\.upstream: must have exactly one of builtin, url or command \(found url, command\)$/),
      expect.stringMatching(/^servers\.1: Unrecognized key: "colour"$/),
    ]));
    expect(e.problems).toHaveLength(9);
    expect(e.message).toMatch(/^invalid stack file stack\.yaml:\n {2}- /);
    for (const p of e.problems) expect(e.message).toContain(p);
  });

  it('[GW-STACK-VALIDATION] every role and scope a rule names must be declared', () => {
    expect(problems(withServer(`${BASIC}\ndefault: { roles: [root], scopes: ["a:read", "z:z"] }\nresources:\n  "x://y": { roles: [viewer], scopes: ["q:q"] }\nprompts:\n  default: { roles: [ghost], scopes: ["a:read"] }\nscope_implies: { "a:write": ["a:nope"] }`))).toEqual([
      'servers.0.scope_implies.a:write.0: scope \'a:nope\' is not in scopes',
      'servers.0.default.roles.0: role \'root\' is not in roles',
      'servers.0.default.scopes.1: scope \'z:z\' is not in scopes',
      'servers.0.resources.x://y.scopes.0: scope \'q:q\' is not in scopes',
      'servers.0.prompts.default.roles.0: role \'ghost\' is not in roles',
    ]);
  });

  it('[GW-STACK-VALIDATION] a rule whose role may never be granted a scope it needs is refused; scope_implies can make it reachable', () => {
    const rule = 'name: s\npath: /s\nupstream: { builtin: database }\ntools:\n  w: { roles: [developer, viewer], scopes: ["a:write"] }';
    expect(problems(withServer(rule))).toEqual([
      'servers.0.tools.w.roles.1: role \'viewer\' may never be granted a:write, so the rule can never be satisfied for it',
    ]);
    // viewer may be granted a:write? No; but a role holding a:write satisfies a rule needing a:read through scope_implies.
    const head = `scopes:\n  "a:read":  { description: "Read", roles: [admin] }\n  "a:write": { description: "Write", roles: [admin, developer] }\n`;
    const reads = 'name: s\npath: /s\nupstream: { builtin: database }\ntools:\n  r: { roles: [developer], scopes: ["a:read"] }';
    expect(problems(withServer(reads, head))).toEqual([
      'servers.0.tools.r.roles.0: role \'developer\' may never be granted a:read, so the rule can never be satisfied for it',
    ]);
    expect(parseStackFile(withServer(`${reads}\nscope_implies: { "a:write": ["a:read"] }`, head), { env: 'test' }).servers[0]!.tools.rules.r!.roles).toEqual(['developer']);
  });

  it('[GW-STACK-VALIDATION] server names are unique slugs; paths are unique, absolute, plain and away from the app\'s own routes', () => {
    const server = (name: string, path: string) => `name: ${name}\n    path: "${path}"\n    upstream: { builtin: database }`;
    const text = `${SCOPES}servers:\n${[
      server('a', '/mcp'), server('a', '/MCP'), server('-b', '/c/../d'), server('c', 'mcp'), server('d', '/m?x=1'), server('e', '/.well-known/x'),
      server('f', '/health'), server('g', '/mcp/'), server('h', '/m#f'), server('i', '/'), server('j', '/m p'),
    ].map((s) => `  - ${s}`).join('\n')}\n`;
    expect(problems(text)).toEqual([
      expect.stringMatching(/^servers\.2\.name: must be a slug/),
      'servers.2.path: must not contain . or .. segments',
      'servers.3.path: must start with /',
      'servers.4.path: must not contain a query or fragment',
      'servers.5.path: must not be under /.well-known (the app serves it)',
      'servers.6.path: must not be under /health (the app serves it)',
      'servers.7.path: must not be / alone, end with / or contain //',
      'servers.8.path: must not contain a query or fragment',
      'servers.9.path: must not be / alone, end with / or contain //',
      'servers.10.path: may contain only letters, digits and . _ ~ - /',
      'servers.1.name: \'a\' is already the name of servers.0',
      'servers.1.path: \'/MCP\' is already the path of servers.0',
    ]);
  });

  it('[GW-STACK-VALIDATION] an upstream is exactly one of builtin, url or command, and its fields fit its kind', () => {
    const up = (u: string, extra = '') => withServer(`name: s\npath: /s\nupstream: ${u}${extra}`);
    expect(problems(up('{}'))).toEqual(['servers.0.upstream: must have exactly one of builtin, url or command (found none)']);
    expect(problems(up('{ builtin: database, command: x }'))).toEqual(['servers.0.upstream: must have exactly one of builtin, url or command (found builtin, command)']);
    expect(problems(up('{ builtin: files }'))).toEqual(['servers.0.upstream.builtin: the only builtin is database']);
    expect(problems(up('{ command: x, headers: { A: b } }'))).toEqual(['servers.0.upstream.headers: is only for url upstreams']);
    expect(problems(up('{ url: "https://h/mcp", env: { A: b } }'))).toEqual(['servers.0.upstream.env: is only for command (stdio) upstreams']);
    expect(problems(up('{ url: "ftp://h/x" }'))).toEqual(['servers.0.upstream.url: must be an http or https URL']);
    expect(problems(up('{ url: "https://u:p@h/x" }'))).toEqual([expect.stringMatching(/^servers\.0\.upstream\.url: must not contain credentials/)]);
    expect(problems(up('{ url: "https://h/x", headers: { Host: h, "mcp-session-id": x } }'))).toEqual([
      'servers.0.upstream.headers.Host: is set by the gateway and cannot be configured',
      'servers.0.upstream.headers.mcp-session-id: is set by the gateway and cannot be configured',
    ]);
    expect(problems(up('{ url: "https://h/x", headers: { "X-A": "a\\nInjected: yes" } }'))).toEqual(['servers.0.upstream.headers.X-A: must not contain control characters']);
    expect(problems(up('{ builtin: database }', '\nisolation: per-identity\nmax_children: 2'))).toEqual(['servers.0.isolation: is only for command (stdio) upstreams']);
    expect(problems(up('{ command: x }', '\nmax_children: 2'))).toEqual(['servers.0.max_children: needs isolation: per-identity']);
    expect(problems(up('{ builtin: database }', '\nauth: [oauth, oauth]'))).toEqual(['servers.0.auth: must not repeat a method']);
    expect(problems(up('{ builtin: database }', '\nauth: [mtls]'))).toEqual([expect.stringMatching(/^servers\.0\.auth\.0: /)]);
  });

  it('[GW-STACK-VALIDATION] [RFC9449-RS-REQUIRED] dpop is required or allowed (default allowed), and required needs oauth among the auth methods', () => {
    const dpop = (extra: string) => withServer(`${BASIC}${extra}`);
    const servers = (text: string) => parseStackFile(text, { env: 'test' }).servers;
    expect(servers(dpop(''))[0]!.dpop).toBe('allowed');
    expect(servers(dpop('\ndpop: required'))[0]!.dpop).toBe('required');
    expect(servers(dpop('\ndpop: required\nauth: [oauth, apikey]'))[0]!.dpop).toBe('required');
    expect(problems(dpop('\ndpop: always'))).toEqual(['servers.0.dpop: must be required or allowed']);
    expect(problems(dpop('\ndpop: required\nauth: [apikey]'))).toEqual(["servers.0.dpop: 'required' needs oauth in auth (DPoP binds access tokens, not API keys)"]);
  });

  it('[GW-STACK-VALIDATION] plain http to an upstream off loopback is refused in production only', () => {
    const file = (url: string) => withServer(`name: s\npath: /s\nupstream: { url: "${url}" }`);
    expect(problems(file('http://upstream.internal:3001/mcp'), 'production')).toEqual([
      'servers.0.upstream.url: must be https in production (plain http only to a loopback host: localhost, 127.0.0.1, [::1])',
    ]);
    for (const url of ['http://127.0.0.1:3001/mcp', 'http://localhost/mcp', 'http://[::1]:8080/mcp', 'https://upstream.internal/mcp']) {
      expect(parseStackFile(file(url), { env: 'production' }).servers[0]!.upstream).toMatchObject({ kind: 'http', url });
    }
    expect(parseStackFile(file('http://upstream.internal:3001/mcp'), { env: 'development' }).servers).toHaveLength(1);
  });

  it('[GW-STACK-VALIDATION] offline_access is never a rule\'s scope, and references are refused outside header and env values', () => {
    const head = `${SCOPES}`;
    expect(problems(withServer(`${BASIC}\ndefault: { roles: [admin], scopes: ["offline_access"] }`, head))).toEqual([
      'servers.0.default.scopes.0: offline_access is not a tool scope',
    ]);
    expect(problems(withServer('name: s\npath: /s\nupstream: { command: "${secret:CMD}", args: ["--token=${env:TOKEN}"] }'))).toEqual([
      'servers.0.upstream.command: may not hold ${secret:…} or ${env:…}: references are allowed only in upstream header values, stdio env values and identity provider client secrets',
      'servers.0.upstream.args.0: may not hold ${secret:…} or ${env:…}: references are allowed only in upstream header values, stdio env values and identity provider client secrets',
    ]);
    expect(problems(withServer('name: s\npath: /s\nupstream: { url: "https://h/${env:PATH_PART}" }'))).toEqual([
      'servers.0.upstream.url: may not hold ${secret:…} or ${env:…}: references are allowed only in upstream header values, stdio env values and identity provider client secrets',
    ]);
    expect(problems(withServer('name: s\npath: /s\nupstream: { url: "https://h/x", headers: { A: "${secret:has space}", B: "${secret:OK} ${env:UNCLOSED", C: "${secret:github.token-2}" } }'))).toEqual([
      'servers.0.upstream.headers.A: a reference must be ${secret:NAME} or ${env:NAME}, NAME of 1-64 letters, digits, _ . or -',
      'servers.0.upstream.headers.B: a reference must be ${secret:NAME} or ${env:NAME}, NAME of 1-64 letters, digits, _ . or -',
    ]);
    expect(problems(withServer(`name: s\npath: /s\nupstream: { command: x, env: { A: "\${secret:${'X'.repeat(65)}}" } }`))).toHaveLength(1);
  });

  it('[GW-STACK-VALIDATION] sizes are capped: the file, the servers, the rules per server, strings and nesting', () => {
    expect(problems(`# ${'x'.repeat(1024 * 1024)}\n`)).toEqual([expect.stringMatching(/^\(root\): is 1048579 bytes, more than the limit of 1048576/)]);
    const servers = Array.from({ length: 65 }, (_, i) => `  - { name: s${i}, path: /s${i}, upstream: { builtin: database } }`).join('\n');
    expect(problems(`${SCOPES}servers:\n${servers}\n`)).toEqual(['servers: must list at most 64 servers']);
    const tools = Array.from({ length: 1001 }, (_, i) => `  t${i}: { roles: [viewer], scopes: ["a:read"] }`).join('\n');
    expect(problems(withServer(`name: s\npath: /s\nupstream: { builtin: database }\ntools:\n${tools}`))).toEqual(['servers.0.tools: must have at most 1000 rules']);
    expect(problems(withServer(BASIC, SCOPES.replace('"Read"', `"${'r'.repeat(301)}"`)))).toEqual(['scopes.a:read.description: must be at most 300 characters']);
    expect(problems(withServer(`${BASIC}\ntimeout_seconds: 301\nmax_response_bytes: 99999999999`))).toEqual([
      expect.stringMatching(/^servers\.0\.timeout_seconds: /),
      expect.stringMatching(/^servers\.0\.max_response_bytes: /),
    ]);
    expect(problems(`${SCOPES}servers: ${'['.repeat(40)}${']'.repeat(40)}\n`)).toContain('servers.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0: is nested too deeply');
    // YAML aliases cannot expand a small file into a huge document.
    const laughs = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`)].join('\n');
    expect(problems(laughs)).toEqual([expect.stringMatching(/^\(root\): not valid YAML/)]);
  });

  it('[GW-STACK-VALIDATION] problems never quote a header or env value', () => {
    const secret = 'sk-live-0123456789';
    const text = withServer(`name: s\npath: /s\nupstream: { url: "ftp://h", headers: { Authorization: "Bearer ${secret}\\u0000" } }`);
    expect(() => parseStackFile(text, { env: 'test' })).toThrow(StackFileError);
    expect(problems(text).join('\n')).not.toContain(secret);
    expect(problems(`{"a": "${secret}" x}`, 'test', 'json').join('\n')).not.toContain(secret);
    expect(problems(`a: "${secret}\nb: [`).join('\n')).not.toContain(secret);
  });

  it('[EXT-CC-DCR-GATED] registration.client_credentials_role is off by default and must name a declared role', () => {
    expect(parseStackFile(withServer(BASIC), { env: 'test' }).registration).toEqual({ clientCredentialsRole: undefined });
    const on = parseStackFile(`${withServer(BASIC)}registration:\n  client_credentials_role: viewer\n`, { env: 'test' });
    expect(on.registration.clientCredentialsRole).toBe('viewer');
    expect(problems(`${withServer(BASIC)}registration:\n  client_credentials_role: robot\n`)).toEqual(["registration.client_credentials_role: role 'robot' is not in roles"]);
    expect(problems(`${withServer(BASIC)}registration:\n  client_credentials: true\n`)).toEqual([expect.stringMatching(/^registration: Unrecognized key/)]);
  });

  it('[EMA-CONFIG] [WIF-CONFIG] enterprise_idps and workload_issuers: parsed with defaults, roles declared, https keys in production, every problem at once', () => {
    const idps = `enterprise_idps:
  - issuer: https://idp.example.com
    jwks_uri: https://idp.example.com/jwks
    clients: [agent-1]
    roles: { engineering: developer, everyone: viewer }
workload_issuers:
  - issuer: https://token.actions.githubusercontent.com
    jwks_uri: https://token.actions.githubusercontent.com/.well-known/jwks
    subject_pattern: "repo:acme/[a-z-]+:ref:refs/heads/main"
    client_id: ci-runner
    role: developer
`;
    const c = parseStackFile(`${withServer(BASIC)}${idps}`, { env: 'production' });
    expect(c.enterpriseIdps).toEqual([{ issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks', clients: ['agent-1'], roleClaim: 'groups', roles: { engineering: 'developer', everyone: 'viewer' }, defaultRole: undefined }]);
    expect(c.workloadIssuers[0]).toMatchObject({ clientId: 'ci-runner', role: 'developer', jti: 'required', audience: undefined });
    expect(parseStackFile(withServer(BASIC), { env: 'test' }).enterpriseIdps).toEqual([]);

    const bad = `enterprise_idps:
  - issuer: https://idp.example.com
    jwks_uri: http://idp.example.com/jwks
    clients: [agent-1]
    roles: { engineering: robot }
  - issuer: https://other.example.com
    jwks_uri: http://127.0.0.1:9000/jwks
    clients: []
workload_issuers:
  - issuer: https://k8s.example.com
    jwks_uri: "ftp://k8s.example.com/jwks"
    subject_pattern: "(["
    client_id: ci
    role: operator
`;
    expect(problems(`${withServer(BASIC)}${bad}`, 'development')).toEqual(expect.arrayContaining([
      'enterprise_idps.0.jwks_uri: must be https (plain http only to a loopback host: localhost, 127.0.0.1, [::1])',
      "enterprise_idps.0.roles.engineering: role 'robot' is not in roles",
      'enterprise_idps.1.clients: must list at least one client',
      'enterprise_idps.1: must map at least one claim value in roles, or set default_role',
      'workload_issuers.0.jwks_uri: must be an https URL',
      'workload_issuers.0.subject_pattern: must be a valid regular expression',
    ]));
    expect(problems(`${withServer(BASIC)}${bad}`, 'production')).toContain('enterprise_idps.1.jwks_uri: must be https in production');
    const twice = `workload_issuers:\n  - { issuer: a, jwks_uri: "https://a.example/j", client_id: c, role: viewer }\n  - { issuer: a, jwks_uri: "https://a.example/j", client_id: c, role: operator }\n`;
    expect(problems(`${withServer(BASIC)}${twice}`)).toEqual(['workload_issuers: must not list an issuer twice', "workload_issuers.1.role: role 'operator' is not in roles"]);
  });

  it('[MFA-CONFIG] mfa: required_roles and trust_federated_amr default to none, roles declared, every problem at once', () => {
    expect(parseStackFile(withServer(BASIC), { env: 'test' }).mfa).toEqual({ requiredRoles: [], trustFederatedAmr: [] });
    const on = parseStackFile(`${withServer(BASIC)}mfa:\n  required_roles: [admin]\n  trust_federated_amr: [mfa, hwk]\n`, { env: 'test' });
    expect(on.mfa).toEqual({ requiredRoles: ['admin'], trustFederatedAmr: ['mfa', 'hwk'] });
    expect(problems(`${withServer(BASIC)}mfa:\n  required_roles: [admin, robot, admin]\n  trust_federated_amr: ["a b"]\n  required: true\n`)).toEqual(expect.arrayContaining([
      'mfa.required_roles: must not repeat a role',
      'mfa.trust_federated_amr.0: must be an amr value: 1-64 letters, digits or _ . : -',
      expect.stringMatching(/^mfa: Unrecognized key/),
    ]));
    expect(problems(`${withServer(BASIC)}mfa:\n  required_roles: [robot]\n`)).toEqual(["mfa.required_roles.0: role 'robot' is not in roles"]);
  });

  it('[FED-CONFIG] identity_providers and password_login: the issue\'s example, the GitHub preset, and every problem at once', () => {
    const example = `identity_providers:
  - name: Corporate SSO          # the button reads "Continue with Corporate SSO"
    issuer: https://idp.example.com
    client_id: mcp-stack
    client_secret: \${secret:CORP_SSO_SECRET}   # or \${env:NAME}
    scopes: [openid, email, profile, groups]
    role_rules:                  # first match wins; no match = sign-in refused
      - { claim: groups, contains: mcp-admins, role: admin }
      - { claim: email, ends_with: "@example.com", role: viewer }
  - name: GitHub
    preset: github
    client_id: Iv1.abc
    client_secret: \${env:GITHUB_SECRET}
    role_rules:
      - { claim: login, equals: octocat, role: developer }
password_login: true             # false: providers only
`;
    const c = parseStackFile(`${withServer(BASIC)}${example}`, { env: 'production' });
    expect(c.passwordLogin).toBe(true);
    expect(c.identityProviders).toEqual([
      {
        name: 'Corporate SSO', slug: 'corporate-sso', kind: 'oidc', issuer: 'https://idp.example.com', clientId: 'mcp-stack',
        clientSecret: '${secret:CORP_SSO_SECRET}', scopes: ['openid', 'email', 'profile', 'groups'],
        roleRules: [{ claim: 'groups', test: 'contains', value: 'mcp-admins', role: 'admin' }, { claim: 'email', test: 'ends_with', value: '@example.com', role: 'viewer' }],
      },
      {
        name: 'GitHub', slug: 'github', kind: 'github', issuer: 'https://github.com', clientId: 'Iv1.abc', clientSecret: '${env:GITHUB_SECRET}',
        scopes: ['read:user', 'user:email'], roleRules: [{ claim: 'login', test: 'equals', value: 'octocat', role: 'developer' }],
      },
    ]);
    const none = parseStackFile(withServer(BASIC), { env: 'test' });
    expect(none.identityProviders).toEqual([]);
    expect(none.passwordLogin).toBe(true);

    const bad = `identity_providers:
  - name: Corp SSO
    issuer: http://idp.example.com
    client_id: a
    scopes: [email]
    role_rules:
      - { claim: groups, contains: x, equals: y, role: admin }
      - { claim: groups, contains: x, role: auditor }
  - name: corp-sso
    client_id: b
    client_secret: "\${secret:}"
    role_rules: []
  - name: "!!!"
    preset: gitlab
    issuer: http://127.0.0.1:9000
    client_id: c
    role_rules: [{ claim: email, role: viewer }]
password_login: false
`;
    expect(problems(`${withServer(BASIC)}${bad}`, 'development')).toEqual(expect.arrayContaining([
      'identity_providers.0.scopes: must include openid (an OpenID Connect sign-in needs an ID token)',
      'identity_providers.0.role_rules.0: must have exactly one of contains, equals or ends_with (found contains, equals)',
      'identity_providers.0.issuer: must be https (plain http only to a loopback host: localhost, 127.0.0.1, [::1])',
      "identity_providers.0.role_rules.1.role: role 'auditor' is not in roles",
      "identity_providers.1.name: its URL name 'corp-sso' is already that of identity_providers.0",
      'identity_providers.1.issuer: is required (the provider\'s OpenID Connect issuer URL) unless preset is github',
      'identity_providers.1.role_rules: must have at least one rule (no match refuses the sign-in)',
      expect.stringMatching(/^identity_providers\.1\.client_secret: a reference must be/),
      'identity_providers.2.name: must contain a letter or digit (its slug names its URLs)',
      'identity_providers.2.preset: the only preset is github',
      'identity_providers.2.role_rules.0: must have exactly one of contains, equals or ends_with (found none)',
    ]));
    expect(problems(`${withServer(BASIC)}${bad}`, 'production')).toContain('identity_providers.2.issuer: must be https in production');
    expect(problems(`${withServer(BASIC)}password_login: false\n`)).toEqual(['password_login: false needs at least one entry in identity_providers (nobody could sign in)']);
    // References are allowed in client_secret and nowhere else of a provider.
    expect(problems(`${withServer(BASIC)}identity_providers:\n  - { name: X, issuer: "https://x.example", client_id: "\${env:ID}", role_rules: [{ claim: sub, equals: a, role: viewer }] }\n`))
      .toEqual([expect.stringMatching(/^identity_providers\.0\.client_id: may not hold/)]);
  });

  it('[FED-CONFIG] the README\'s identity provider example validates as operators will paste it', () => {
    const readme = readFileSync(resolve(import.meta.dirname, '../../../README.md'), 'utf8');
    const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.startsWith('identity_providers:'));
    expect(block).toBeDefined();
    const c = parseStackFile(`${withServer(BASIC)}${block}`, { env: 'production' });
    expect(c.identityProviders.map((p) => [p.slug, p.kind])).toEqual([['corporate-sso', 'oidc'], ['github', 'github']]);
  });
});

export type { StackConfig };
