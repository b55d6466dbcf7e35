import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AuditChainError } from '@stack/audit';
import { buildApp } from '../src/app.ts';
import { fixtureTools, listTools, startMcpServer } from './helpers.ts';

const rpcHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

describe('audit log of the MCP server', () => {
  it('[HARD-AUDIT-AGGREGATE-FAILURES] 1000 requests without a valid token from one address: a bounded number of lines', async () => {
    const s = await startMcpServer({ AUTH_ISSUER: 'http://127.0.0.1:9' });
    try {
      for (let i = 0; i < 1000; i++) {
        const headers = i % 2 ? { ...rpcHeaders, authorization: 'Bearer not-a-token' } : rpcHeaders;
        expect((await s.app.inject({ method: 'POST', url: '/mcp', headers, payload: listTools() })).statusCode).toBe(401);
      }
      expect(s.audit().filter((e) => e.decision === 'AUTH_FAILED')).toHaveLength(10);
      await s.app.close(); // the counted failures are written as one summary
      const summaries = s.audit().filter((e) => e.event === 'audit.failures_summarized');
      expect(summaries).toEqual([expect.objectContaining({ address: '127.0.0.1', count: 990, kinds: ['mcp.AUTH_FAILED=990'] })]);
      expect(s.audit()).toHaveLength(11);
    } finally {
      await s.close();
    }
  });

  it('[HARD-AUDIT-RESUME-REFUSED] refuses to start from a log whose last line was rewritten, or that was replaced by an empty file', async () => {
    const s = await startMcpServer({ AUTH_ISSUER: 'http://127.0.0.1:9', AUDIT_ON_BROKEN_CHAIN: 'refuse' }, { audit: undefined });
    try {
      for (let i = 0; i < 3; i++) await s.app.inject({ method: 'POST', url: '/mcp', headers: rpcHeaders, payload: listTools() });
      await s.app.close();
      const lines = readFileSync(s.auditFile, 'utf8').trimEnd().split('\n');
      expect(lines).toHaveLength(4);
      const tampered = [...lines];
      tampered[3] = tampered[3]!.replace('AUTH_FAILED', 'ALLOWED');
      writeFileSync(s.auditFile, `${tampered.join('\n')}\n`);
      await expect(buildApp(s.config, { tools: fixtureTools(), logger: false })).rejects.toThrow(/its last line \(seq 3\) does not match its MAC/);
      writeFileSync(s.auditFile, '');
      await expect(buildApp(s.config, { tools: fixtureTools(), logger: false })).rejects.toThrow(AuditChainError);
      await expect(buildApp(s.config, { tools: fixtureTools(), logger: false })).rejects.toThrow(/the file is empty, but the database anchored seq 3 of chain/);
    } finally {
      await s.close();
    }
  });
});
