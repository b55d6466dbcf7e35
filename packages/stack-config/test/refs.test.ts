import { describe, expect, it } from 'vitest';
import { findRefs, findSecretRefs, MissingRefError, parseStackFile, resolveRefs } from '@stack/stack-config';

const FILE = `
scopes:
  "x:use": { description: "Use", roles: [admin] }
servers:
  - name: remote
    path: /mcp/remote
    upstream:
      url: "https://upstream.example.com/mcp"
      headers: { Authorization: "Bearer \${secret:REMOTE_TOKEN}", X-Tenant: "\${env:TENANT}-\${secret:TENANT_SUFFIX}" }
    default: { roles: [admin], scopes: ["x:use"] }
  - name: local
    path: /mcp/local
    upstream: { command: node, args: [server.js], env: { API_KEY: "\${secret:LOCAL_KEY}", HOME_DIR: "\${env:HOME_DIR}", PLAIN: "$HOME \${other}" } }
  - name: demo
    path: /mcp
    upstream: { builtin: database }
`;

describe('secret and environment references', () => {
  const config = parseStackFile(FILE, { env: 'production' });

  it('[GW-STACK-SECRETS] every reference is found with its server and place; findSecretRefs lists the secrets', () => {
    expect(findRefs(config)).toEqual([
      { server: 'remote', where: 'upstream.headers.Authorization', kind: 'secret', name: 'REMOTE_TOKEN' },
      { server: 'remote', where: 'upstream.headers.X-Tenant', kind: 'env', name: 'TENANT' },
      { server: 'remote', where: 'upstream.headers.X-Tenant', kind: 'secret', name: 'TENANT_SUFFIX' },
      { server: 'local', where: 'upstream.env.API_KEY', kind: 'secret', name: 'LOCAL_KEY' },
      { server: 'local', where: 'upstream.env.HOME_DIR', kind: 'env', name: 'HOME_DIR' },
    ]);
    expect(findSecretRefs(config).map((r) => r.name)).toEqual(['REMOTE_TOKEN', 'TENANT_SUFFIX', 'LOCAL_KEY']);
  });

  it('[GW-STACK-SECRETS] resolveRefs substitutes once, and a missing reference is named without any value', () => {
    const secrets: Record<string, string> = { REMOTE_TOKEN: 's3cr3t-token', TENANT_SUFFIX: 'eu', LOCAL_KEY: '${env:TENANT}' };
    const env: Record<string, string> = { TENANT: 'acme' };
    const lookup = { secret: (n: string) => secrets[n], env: (n: string) => env[n] };
    const remote = config.servers[0]!.upstream;
    if (remote.kind !== 'http') throw new Error('expected an http upstream');
    expect(resolveRefs(remote.headers.Authorization!, lookup)).toBe('Bearer s3cr3t-token');
    expect(resolveRefs(remote.headers['X-Tenant']!, lookup)).toBe('acme-eu');
    // A substituted value is not searched again, and text that is not a reference stays as it is.
    expect(resolveRefs('${secret:LOCAL_KEY}', lookup)).toBe('${env:TENANT}');
    expect(resolveRefs('$HOME ${other}', lookup)).toBe('$HOME ${other}');

    let err: unknown;
    try {
      resolveRefs('Bearer ${secret:REMOTE_TOKEN} ${secret:MISSING_ONE} ${env:MISSING_TWO} ${secret:MISSING_ONE}', lookup);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingRefError);
    expect((err as MissingRefError).missing).toEqual(['${secret:MISSING_ONE}', '${env:MISSING_TWO}']);
    expect((err as Error).message).toBe('not set: ${secret:MISSING_ONE}, ${env:MISSING_TWO}');
    expect((err as Error).message).not.toContain('s3cr3t');
  });

  it('[GW-STACK-SECRETS] references are refused anywhere but header and env values, even in keys', () => {
    const bad = FILE.replace('path: /mcp/local', 'path: /mcp/local\n    tools: { "${secret:X}": { roles: [admin], scopes: ["x:use"] } }')
      .replace('description: "Use"', 'description: "Use ${env:WHO}"');
    expect(() => parseStackFile(bad, { env: 'test' })).toThrow(/scopes\.x:use\.description: may not hold/);
    expect(() => parseStackFile(bad, { env: 'test' })).toThrow(/servers\.1\.tools\.\$\{secret:X\}: a key may not hold/);
  });
});
