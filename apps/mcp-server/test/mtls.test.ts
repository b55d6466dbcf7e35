import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callTool, listTools, startMcpServer, type TestMcpServer } from './helpers.ts';

/** A throwaway CA, a server certificate for 127.0.0.1, and client certificates (one from another CA). */
function makePki(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (name: string) => ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '1', '-subj', `/CN=${name}`);
  const leaf = (name: string, cn: string, caName: string, ext?: string) => {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '1',
      ...(ext ? ['-extfile', ext] : []));
  };
  ca('ca');
  ca('rogue-ca');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  leaf('server', '127.0.0.1', 'ca', 'server.ext');
  leaf('admin', 'ops-admin', 'ca');
  leaf('viewer', 'reporting', 'ca');
  leaf('unmapped', 'stranger', 'ca');
  leaf('rogue', 'ops-admin', 'rogue-ca');
}

interface Res { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function post(s: TestMcpServer, dir: string, client: string | undefined, body: unknown): Promise<Res> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(s.url, {
      method: 'POST',
      ca: readFileSync(join(dir, 'ca.crt')),
      ...(client ? { cert: readFileSync(join(dir, `${client}.crt`)), key: readFileSync(join(dir, `${client}.key`)) } : {}),
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': Buffer.byteLength(payload) },
    }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('mTLS mode', () => {
  let dir: string;
  let s: TestMcpServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-pki-'));
    makePki(dir);
    s = await startMcpServer({
      MCP_AUTH_MODE: 'mtls',
      MCP_TLS_CERT: join(dir, 'server.crt'),
      MCP_TLS_KEY: join(dir, 'server.key'),
      MCP_TLS_CA: join(dir, 'ca.crt'),
      MCP_MTLS_ROLE_MAP: 'ops-admin=admin,reporting=viewer',
    }, {}, 'https');
  }, 60_000);
  afterAll(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes the identity and role from a client certificate signed by the configured CA', async () => {
    let res = await post(s, dir, 'admin', listTools());
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).result.tools).toHaveLength(6);
    expect(res.headers['strict-transport-security']).toMatch(/max-age=/);
    res = await post(s, dir, 'viewer', callTool('drop_table', { table: 'users' }));
    expect(JSON.parse(res.body).result.content[0].text).toBe('ACCESS DENIED\nTool: drop_table\nRequired role: admin\nYour role: viewer');
    expect(s.audit().at(-1)).toMatchObject({ decision: 'DENIED', auth_kind: 'certificate', identity: 'certificate:reporting' });
  });

  it('answers 401 without a certificate, with a certificate from another CA, and with an unmapped one', async () => {
    for (const client of [undefined, 'rogue', 'unmapped']) {
      const res = await post(s, dir, client, listTools());
      expect(res.status).toBe(401);
    }
    expect(s.audit().slice(-3).map((l) => l.reason)).toEqual([
      'no client certificate was sent', 'client certificate is not trusted', 'client certificate is not mapped to a role',
    ]);
  });
});
