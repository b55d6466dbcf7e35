import { loadKeks } from '@stack/crypto';
import { findSecretRefs } from '@stack/stack-config';
import type { McpConfig } from '../config.ts';
import { LIST_TTL_MS, VERSION, type Runtime } from '../runtime.ts';
import { createSecretStore } from '../secrets/store.ts';
import { createGatewayEndpoint, type GatewayEndpoint } from './upstream-endpoint.ts';

/**
 * The `${secret:NAME}` values the gateway servers refer to, read from the encrypted secret store
 * (SQLite, or PostgreSQL shared by every instance) once, at start; a name not set is absent.
 */
async function referencedSecrets(config: McpConfig, runtime: Runtime, servers: readonly string[]): Promise<Map<string, string>> {
  const names = [...new Set(findSecretRefs(runtime.stack()).filter((r) => servers.includes(r.server)).map((r) => r.name))];
  const values = new Map<string, string>();
  if (names.length === 0) return values;
  const store = createSecretStore((await runtime.store()).secrets, loadKeks({
    key: config.keyEncryptionKey,
    previous: config.previousKeyEncryptionKeys,
    dataDir: config.dataDir,
    production: config.env === 'production',
  }));
  for (const name of names) {
    const value = await store.get(name);
    if (value !== undefined) values.set(name, value);
  }
  return values;
}

/**
 * The stack file's servers whose tools live upstream, each at its own path on this app. Their
 * `${secret:NAME}` references are resolved from the encrypted secret store once, here: a
 * reference to a secret that is not set stops the start, naming it (never a value).
 */
export async function gatewayEndpoints(config: McpConfig, runtime: Runtime, environment: Readonly<Record<string, string | undefined>>, onerror: (err: Error) => void): Promise<GatewayEndpoint[]> {
  // stdio serves one caller on standard input; a gateway is an HTTP service.
  if (config.transport !== 'http') return [];
  const servers = runtime.stack().servers.filter((s) => s.upstream.kind !== 'builtin');
  if (servers.length === 0) return [];
  const secrets = await referencedSecrets(config, runtime, servers.map((s) => s.name));
  const origin = new URL(config.publicUrl).origin;
  const made: GatewayEndpoint[] = [];
  try {
    for (const server of servers) {
      made.push(createGatewayEndpoint(server, {
        origin,
        authenticatorFor: runtime.authenticatorFor,
        audit: runtime.audit,
        tracer: runtime.tracer,
        limits: runtime.gate.limits,
        lookup: { secret: (name) => secrets.get(name), env: (name) => environment[name] },
        version: VERSION,
        listTtlMs: LIST_TTL_MS,
        onerror,
      }));
    }
  } catch (err) {
    for (const m of made) void m.close();
    throw err;
  }
  return made;
}
