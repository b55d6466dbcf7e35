import { randomBytes } from 'node:crypto';
// docker-compose.yml checked against the apps' real configuration: Docker cannot run here, so every
// name, port, URL and health check in the file is compared with what the apps actually read and serve.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp as buildAuthApp } from '../../apps/auth-server/src/app.ts';
import { authSettingNames, loadAuthConfig } from '../../apps/auth-server/src/config.ts';
import { buildApp as buildMcpApp } from '../../apps/mcp-server/src/app.ts';
import { loadMcpConfig, mcpSettingNames } from '../../apps/mcp-server/src/config.ts';
import { loadStackFile } from '@stack/stack-config';
import { appOf, containerEnv, containerPorts, interpolate, loadCompose, parseEnvFile, read, references, type Service } from './deploy-files.ts';

const compose = loadCompose();
// The template as an operator fills it in (the compose file's header says to set the key first).
const template = { ...Object.fromEntries(parseEnvFile(read('docker/compose.env.example'))), KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
const settings = { auth: new Set(authSettingNames), mcp: new Set(mcpSettingNames) };
const appServices = Object.entries(compose.services).filter(([, s]) => appOf(s));
const isScale = (s: Service) => (s.profiles ?? []).includes('scale');
// Read by Compose itself (interpolation for the postgres service), never by the apps.
const COMPOSE_ONLY = ['POSTGRES_PASSWORD', 'GRAFANA_ADMIN_PASSWORD'];
const SECRET_NAME = /KEY_ENCRYPTION_KEY|PASSWORD|SECRET|API_KEY|PRIVATE|TOKEN$/;

const allStrings = (v: unknown): string[] =>
  typeof v === 'string' ? [v] : v && typeof v === 'object' ? Object.values(v).flatMap(allStrings) : [];

const dirs: string[] = [];
const tempDir = () => { const d = mkdtempSync(join(tmpdir(), 'compose-')); dirs.push(d); return d; };
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** Runs a service's app in-process with the container's environment (loopback, free port, temp data). */
async function startService(s: Service) {
  const env = { ...containerEnv(s, template), DATA_DIR: tempDir(), LOG_LEVEL: 'silent' };
  if (appOf(s) === 'auth') {
    const app = await buildAuthApp(loadAuthConfig({ ...env, AUTH_HOST: '127.0.0.1', AUTH_PORT: '0', AUDIT_LOG: 'off' }), { logger: false });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return app;
  }
  const app = await buildMcpApp(loadMcpConfig({ ...env, MCP_HOST: '127.0.0.1', MCP_PORT: '0', MCP_AUDIT_LOG: 'off', REVOCATION_POLL_SECONDS: '0' }), { logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
}
const baseOf = (app: Awaited<ReturnType<typeof startService>>) => `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

describe('docker-compose.yml', () => {
  it('[DEPLOY-COMPOSE] runs one service per app from the Dockerfile, with a named data volume and secrets from .env', () => {
    for (const name of ['auth-server', 'mcp-server']) {
      const s = compose.services[name]!;
      expect(s, name).toBeDefined();
      expect(s.profiles, `${name} starts without a profile`).toBeUndefined();
      expect(s.build).toBe('.');
      expect(s.command).toEqual([name]);
      expect(s.env_file).toBe('.env');
      const volume = s.volumes?.find((v) => v.endsWith(':/data'))?.split(':')[0];
      expect(volume, `${name} mounts a named volume at /data`).toBeDefined();
      expect(Object.keys(compose.volumes ?? {})).toContain(volume);
      expect(containerEnv(s, {}).DATA_DIR).toBe('/data');
      // Hardening that the image supports: read-only root, no capabilities, a reaping init.
      expect(s).toMatchObject({ read_only: true, init: true, cap_drop: ['ALL'] });
    }
    // An app container must never run with a shared dev KEK file: each app has its own volume.
    expect(compose.services['auth-server']!.volumes).not.toEqual(compose.services['mcp-server']!.volumes);
  });

  it('[DEPLOY-COMPOSE] every environment name of an app service is a setting its config schema reads', () => {
    for (const [name, s] of appServices) {
      const app = appOf(s)!;
      const unknown = Object.keys(s.environment ?? {}).filter((k) => !settings[app].has(k));
      expect(unknown, `${name}: not read by apps/${app === 'auth' ? 'auth' : 'mcp'}-server/src/config.ts`).toEqual([]);
    }
  });

  it('[DEPLOY-COMPOSE] every service environment, with the env-file template, passes the real config validation', () => {
    for (const [name, s] of appServices) {
      const env = containerEnv(s, template);
      const load = appOf(s) === 'auth' ? () => loadAuthConfig(env) : () => loadMcpConfig(env);
      expect(load, name).not.toThrow();
    }
    const auth = loadAuthConfig(containerEnv(compose.services['auth-server']!, template));
    const mcp = loadMcpConfig(containerEnv(compose.services['mcp-server']!, template));
    expect([auth.host, mcp.host]).toEqual(['0.0.0.0', '0.0.0.0']);
    expect([auth.dataDir, mcp.dataDir]).toEqual(['/data', '/data']);
  });

  it('[DEPLOY-COMPOSE] published ports are the ports the apps listen on (the defaults 4000 and 4001)', () => {
    expect(loadAuthConfig({}).port).toBe(4000);
    expect(loadMcpConfig({}).port).toBe(4001);
    for (const [name, s] of appServices) {
      const env = containerEnv(s, template);
      const port = appOf(s) === 'auth' ? loadAuthConfig(env).port : loadMcpConfig(env).port;
      if (!isScale(s)) expect(s.ports, name).toEqual([`${port}:${port}`]);
      else expect(s.ports, `${name}: replicas publish nothing, the proxy does`).toBeUndefined();
    }
    expect(containerPorts(compose.services['auth-server']!)).toEqual([4000]);
    expect(containerPorts(compose.services['mcp-server']!)).toEqual([4001]);
  });

  it('[DEPLOY-COMPOSE] the MCP server trusts the issuer clients see, but fetches keys and revocations from the internal host', () => {
    for (const [authName, mcpName] of [['auth-server', 'mcp-server'], ['auth-server-scale', 'mcp-server-scale']] as const) {
      const auth = loadAuthConfig(containerEnv(compose.services[authName]!, template));
      const mcp = loadMcpConfig(containerEnv(compose.services[mcpName]!, template));
      // Token iss is the auth server's AUTH_ISSUER; the MCP server refuses any other.
      expect(mcp.issuer, mcpName).toBe(auth.issuer);
      expect(loadStackFile(auth.stackFile, { env: auth.env }).resourceUrls(auth.mcpPublicOrigin), authName).toContain(mcp.publicUrl);
      expect(new URL(mcp.jwksUrl)).toMatchObject({ hostname: authName, port: String(auth.port), pathname: '/jwks' });
      expect(new URL(mcp.revocationsUrl)).toMatchObject({ hostname: authName, port: String(auth.port), pathname: '/revocations' });
      expect(compose.services[mcpName]!.depends_on?.[authName]).toEqual({ condition: 'service_healthy' });
    }
  });

  it('[DEPLOY-COMPOSE] [DEPLOY-HEALTH] health checks call the healthcheck script on the service port, and the apps answer 200 there', async () => {
    for (const [name, s] of appServices) {
      const test = s.healthcheck?.test ?? [];
      expect(test.slice(0, 3), name).toEqual(['CMD', 'node', '/app/docker/healthcheck.mjs']);
      const url = new URL(test[3]!);
      const env = containerEnv(s, template);
      expect(url.hostname).toBe('127.0.0.1');
      expect(Number(url.port)).toBe(appOf(s) === 'auth' ? loadAuthConfig(env).port : loadMcpConfig(env).port);
      expect(url.pathname).toMatch(/^\/(health|ready)$/);
    }
    // Start the single-instance services in-process with their compose environment and GET the
    // paths the health checks (and the MCP server's internal URLs) use.
    const auth = await startService(compose.services['auth-server']!);
    const mcp = await startService(compose.services['mcp-server']!);
    try {
      const mcpEnv = loadMcpConfig(containerEnv(compose.services['mcp-server']!, template));
      for (const [app, s] of [[auth, 'auth-server'], [mcp, 'mcp-server']] as const) {
        const path = new URL(compose.services[s]!.healthcheck!.test[3]!).pathname;
        const res = await fetch(`${baseOf(app)}${path}`);
        expect(res.status, `${s} ${path}`).toBe(200);
        expect((await res.json()).status).toMatch(/^(ok|ready)$/);
      }
      for (const u of [mcpEnv.jwksUrl, mcpEnv.revocationsUrl]) {
        expect((await fetch(`${baseOf(auth)}${new URL(u).pathname}`)).status, u).toBe(200);
      }
    } finally {
      await mcp.close();
      await auth.close();
    }
  });

  it('[DEPLOY-COMPOSE] no secret is written in the file: secret settings come only from .env or a ${…} reference', () => {
    const text = read('docker-compose.yml');
    for (const [name, s] of Object.entries(compose.services)) {
      expect(Object.keys(s.environment ?? {}), `${name}: the KEK comes from env_file only`).not.toContain('KEY_ENCRYPTION_KEY');
      for (const [k, v] of Object.entries(s.environment ?? {})) {
        const value = String(v ?? '');
        if (SECRET_NAME.test(k)) expect(value, `${name}.${k}`).toMatch(/^\$\{[A-Z_]+:?-?\}$/);
        // Credentials inside URLs are references too (postgres://user:${PASSWORD}@host).
        const cred = /^[a-z]+:\/\/[^:/@]*:([^@]*)@/.exec(value);
        if (cred) expect(cred[1], `${name}.${k}`).toMatch(/^\$\{[A-Z_]+:?-?\}$/);
      }
    }
    // Nothing that looks like a generated key or token anywhere (base64/hex runs of 24+ characters;
    // paths, image names and upper-case variable names are not).
    expect(text.match(/[A-Za-z0-9+/=_-]{24,}/g)?.filter((t) => !/^[a-z0-9._/-]+$/.test(t) && !/^[A-Z_][A-Z0-9_]+$/.test(t)) ?? []).toEqual([]);
    // The variables the file interpolates (in values, not comments) are documented in the env-file template.
    const refs = new Set(allStrings(compose).flatMap(references));
    expect([...refs].filter((r) => !(r in template))).toEqual([]);
  });

  it('[DEPLOY-COMPOSE] the env-file template names only app settings (or Compose-only variables) and holds no secret value', () => {
    for (const [k, v] of parseEnvFile(read('docker/compose.env.example'))) {
      if (COMPOSE_ONLY.includes(k)) expect(allStrings(compose).flatMap(references), k).toContain(k);
      else expect(settings.auth.has(k) || settings.mcp.has(k), `${k} is read by neither config schema`).toBe(true);
      if (SECRET_NAME.test(k)) expect(v, `${k} must be empty in the template`).toBe('');
    }
    expect(Object.fromEntries(parseEnvFile(read('docker/compose.env.example')))).toHaveProperty('KEY_ENCRYPTION_KEY', '');
    // .env (where the real values go) is never committed nor sent to the image build.
    expect(read('.gitignore').split('\n')).toContain('.env');
    expect(read('.dockerignore').split('\n')).toEqual(expect.arrayContaining(['.env', '**/node_modules', 'data']));
  });
});

describe('docker-compose.yml profile `scale`', () => {
  it('[DEPLOY-SCALE-PROFILE] adds postgres, redis and two replicas of each app wired to them, behind one proxy', () => {
    const scale = Object.entries(compose.services).filter(([, s]) => isScale(s)).map(([n]) => n).sort();
    expect(scale).toEqual(['auth-server-scale', 'mcp-server-scale', 'postgres', 'redis', 'scale-proxy']);
    const auth = compose.services['auth-server-scale']!;
    const mcp = compose.services['mcp-server-scale']!;
    expect([auth.deploy?.replicas, mcp.deploy?.replicas]).toEqual([2, 2]);
    expect([auth.command, mcp.command]).toEqual([['auth-server'], ['mcp-server']]);
    const authEnv = containerEnv(auth, { ...template, POSTGRES_PASSWORD: 'p' });
    expect(new URL(authEnv.DATABASE_URL!)).toMatchObject({ protocol: 'postgres:', hostname: 'postgres', port: '5432' });
    // The MCP replicas keep their API keys, secrets and anchors in the same database, their own schema.
    const mcpEnv = containerEnv(mcp, { ...template, POSTGRES_PASSWORD: 'p' });
    expect(mcpEnv.DATABASE_URL).toBe(authEnv.DATABASE_URL);
    expect(loadMcpConfig(mcpEnv).postgres).toMatchObject({ schema: 'mcp' });
    expect(mcp.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
    for (const env of [authEnv, containerEnv(mcp, template)]) {
      expect(new URL(env.REDIS_URL!)).toMatchObject({ protocol: 'redis:', hostname: 'redis', port: '6379' });
      expect(env.REDIS_KEY_PREFIX).toBeTruthy();
    }
    // Postgres holds everything: the auth replicas share no volume; one file audit chain per
    // replica would be lost, so both apps audit to the log stream.
    expect(auth.volumes).toBeUndefined();
    expect([authEnv.AUDIT_LOG, authEnv.AUDIT_STDOUT]).toEqual(['off', 'true']);
    expect(containerEnv(mcp, template)).toMatchObject({ MCP_AUDIT_LOG: 'off', MCP_AUDIT_STDOUT: 'true' });
    expect(auth.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    expect(interpolate(String(compose.services.postgres!.environment!.POSTGRES_PASSWORD), { POSTGRES_PASSWORD: 'x' })).toBe('x');
  });

  it('[DEPLOY-SCALE-PROFILE] the proxy publishes the ports of the scaled issuer and resource URLs and forwards to the replicas', () => {
    const proxy = compose.services['scale-proxy']!;
    const conf = read('docker/scale-proxy.conf');
    const auth = loadAuthConfig(containerEnv(compose.services['auth-server-scale']!, template));
    const mcp = loadMcpConfig(containerEnv(compose.services['mcp-server-scale']!, template));
    const published = (proxy.ports ?? []).map((p) => p.split(':')[0]);
    expect(published).toEqual([new URL(auth.issuer).port, new URL(mcp.publicUrl).port]);
    expect([...conf.matchAll(/listen (\d+);/g)].map((m) => m[1])).toEqual(published);
    expect(conf).toContain(`server auth-server-scale:${auth.port} resolve;`);
    expect(conf).toContain(`server mcp-server-scale:${mcp.port} resolve;`);
    // Behind the proxy the auth server must read the client address from X-Forwarded-For.
    // One hop: the entry the proxy adds, never one the client wrote (Fastify's `true` takes the leftmost).
    expect(auth.trustProxy).toBe(1);
    expect(conf).toContain('proxy_set_header X-Forwarded-For $remote_addr;');
    expect(proxy.volumes).toEqual(['./docker/scale-proxy.conf:/etc/nginx/conf.d/default.conf:ro']);
  });
});
