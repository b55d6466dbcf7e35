import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addMachineClient } from '../src/services/client-admin.ts';
import { configWarnings, loadAuthConfig } from '../src/config.ts';
import { promtoolCheck, seriesValue } from '../../../packages/metrics/test/promtool.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { RESOURCE, basicHeader, postForm } from './token-fixtures.ts';

describe('authorization server metrics', () => {
  let s: TestAuthServer;
  beforeEach(async () => { s = await startAuthServer(); });
  afterEach(async () => { await s.close(); });
  const scrape = async () => (await s.app.ctx.metrics.app.render()).body;

  it('[OPS-METRICS-AUTH-COUNTERS] [OPS-METRICS-FORMAT] a token, a failed client authentication and requests move their counters; promtool accepts the exposition', async () => {
    const c = await addMachineClient(s.app.ctx.store, s.app.ctx.stack.current(), { name: 'ci job', role: 'developer', authMethod: 'client_secret_basic' }, Date.now());
    const ok = await postForm(`${s.url}/token`, { grant_type: 'client_credentials', resource: RESOURCE }, { authorization: basicHeader(c.clientId, c.secret!) });
    expect(ok.status).toBe(200);
    const bad = await postForm(`${s.url}/token`, { grant_type: 'client_credentials', resource: RESOURCE }, { authorization: basicHeader(c.clientId, 'wrong') });
    expect(bad.status).toBe(401);

    const text = await scrape();
    expect(seriesValue(text, 'auth_tokens_issued_total', { grant: 'client_credentials', client_type: 'confidential', registration: 'admin', token_type: 'Bearer' })).toBe(1);
    expect(seriesValue(text, 'auth_audit_events_total', { event: 'token.issued', decision: 'allow' })).toBe(1);
    expect(seriesValue(text, 'auth_audit_events_total', { event: 'client.auth_failed' })).toBe(1);
    expect(seriesValue(text, 'http_requests_total', { route: '/token', method: 'POST', status: '200', app: 'auth-server' })).toBe(1);
    expect(seriesValue(text, 'http_requests_total', { route: '/token', method: 'POST', status: '401' })).toBe(1);
    expect(seriesValue(text, 'auth_database_up')).toBe(1);
    expect(seriesValue(text, 'auth_argon2_queue_depth')).toBe(0);
    const check = promtoolCheck(text);
    if (check) expect(check.ok, check.output).toBe(true);
  });

  it('[OPS-METRICS-LABELS-BOUNDED] a request no route matches is counted under one value, never its path; no client or user id is a label', async () => {
    for (const p of ['/no-such-path-1234', '/another-made-up/path', '/.env']) expect((await fetch(`${s.url}${p}`)).status).toBe(404);
    const c = await addMachineClient(s.app.ctx.store, s.app.ctx.stack.current(), { name: 'ci job', role: 'developer', authMethod: 'client_secret_basic' }, Date.now());
    await postForm(`${s.url}/token`, { grant_type: 'client_credentials', resource: RESOURCE }, { authorization: basicHeader(c.clientId, c.secret!) });
    const text = await scrape();
    expect(seriesValue(text, 'http_requests_total', { route: '(unmatched)', method: 'GET', status: '404' })).toBe(3);
    for (const leaked of ['no-such-path', 'made-up', '.env', c.clientId]) expect(text).not.toContain(leaked);
  });
});

describe('metrics settings', () => {
  const base = { NODE_ENV: 'test', DATA_DIR: '/tmp/metrics-config-test' };
  it('[OPS-METRICS-LISTENER] loopback on 9464 by default, off when asked, and a public address is warned about', () => {
    expect(loadAuthConfig(base).metrics).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(loadAuthConfig({ ...base, AUTH_METRICS_PORT: 'off' }).metrics).toBeUndefined();
    expect(() => loadAuthConfig({ ...base, AUTH_METRICS_PORT: 'nine' })).toThrow(/AUTH_METRICS_PORT/);
    const open = loadAuthConfig({ ...base, METRICS_HOST: '0.0.0.0' });
    expect(configWarnings(open).join('\n')).toMatch(/METRICS_HOST=0\.0\.0\.0: \/metrics \(on AUTH_METRICS_PORT\) is served without authentication/);
    expect(configWarnings(loadAuthConfig(base)).join('\n')).not.toMatch(/METRICS_HOST/);
  });
});
