import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserRecord } from '../src/services/users.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, PASSWORD, hidden, seedUser } from './authorize-flow.ts';
import { HOUR, testClock, times, toolCall, writeAuditLines } from './audit-fixtures.ts';

async function signedIn(s: TestAuthServer, email: string, next = '/admin'): Promise<Browser> {
  const b = new Browser(s.url);
  const html = await (await b.get(`/login?next=${encodeURIComponent(next)}`)).text();
  const res = await b.post('/login', { _csrf: hidden(html, '_csrf'), next: hidden(html, 'next'), email, password: PASSWORD });
  expect(res.status).toBe(303);
  return b;
}

const hourOf = (ms: number) => `${new Date(ms).toISOString().slice(11, 13)}:00`;
/** The numbers table's row for an hour. */
const hourRow = (html: string, chart: string, ms: number) => {
  const table = html.slice(html.indexOf(`<title id="${chart}-title">`));
  const m = new RegExp(`<tr><th scope="row">${hourOf(ms)}</th>((?:<td>\\d+</td>)+)</tr>`).exec(table);
  return m ? [...m[1]!.matchAll(/<td>(\d+)<\/td>/g)].map((x) => Number(x[1])) : undefined;
};
const lineCount = (html: string) => html.match(/<li>\s*<strong>/g)?.length ?? 0;

describe('admin console: overview charts and the audit page', () => {
  const clock = testClock();
  let dir: string;
  let authLog: string;
  let mcpLog: string;
  let s: TestAuthServer;
  let admin: UserRecord;
  let developer: UserRecord;
  let b: Browser;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'admin-audit-'));
    authLog = join(dir, 'auth-audit.log');
    mcpLog = join(dir, 'mcp-audit.log');
    s = await startAuthServer({ AUDIT_LOG: authLog, ADMIN_MCP_AUDIT_LOG: mcpLog, LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' }, { now: clock.now });
    admin = await seedUser(s, 'admin');
    developer = await seedUser(s, 'developer');
    b = await signedIn(s, admin.email);
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('[ADMIN-OVERVIEW-3] a log that cannot be read is named as such, never shown as zeros', async () => {
    const html = await (await b.get('/admin')).text();
    expect(html).toContain(`The MCP server&#39;s audit log ${mcpLog} cannot be read from this server: there is no such file.`);
    expect(html).toContain(`The audit log ${authLog} cannot be read from this server`);
    expect(html).not.toContain('<svg class="chart-svg"');
  });

  it('[ADMIN-OVERVIEW-1] [ADMIN-OVERVIEW-2] [ADMIN-OVERVIEW-4] the overview draws sign-ins and tool calls per hour from the audit logs, with titles and the numbers as tables', async () => {
    const now = clock.at;
    await writeAuditLines(s, authLog, 'auth-server', [
      { at: now - 30 * HOUR, event: 'login.succeeded', user: admin.id, decision: 'allow' },
      ...times(3, { at: now - 2 * HOUR, event: 'login.succeeded', user: admin.id, decision: 'allow' }),
      ...times(2, { at: now - 2 * HOUR, event: 'login.failed', decision: 'deny', reason: 'wrong password' }),
      { at: now - HOUR, event: 'mfa.failed', user: admin.id, decision: 'deny' },
      { at: now - HOUR, event: 'consent.granted', user: admin.id, decision: 'allow' },
      { at: now, event: 'login.succeeded', user: developer.id, decision: 'allow' },
    ]);
    await writeAuditLines(s, mcpLog, 'mcp-server', [
      toolCall(now - 25 * HOUR, 'DENIED', 'old_tool'),
      ...times(2, toolCall(now - 3 * HOUR, 'ALLOWED', 'sql_query')),
      toolCall(now - 3 * HOUR, 'DENIED', 'drop_table'),
      toolCall(now - 3 * HOUR, 'RATE_LIMITED', 'sql_query'),
      toolCall(now, 'DENIED', 'drop_table'),
      toolCall(now, 'DENIED', '<img src=x onerror=alert(1)>'),
      { at: now, event: 'mcp.decision', decision: 'ALLOWED', method: 'tools/list', identity: 'user-1' },
    ]);
    clock.set(now + 31_000);
    const res = await b.get('/admin');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(hourRow(html, 'sign-ins', now - 2 * HOUR)).toEqual([3, 2]);
    expect(hourRow(html, 'sign-ins', now - HOUR)).toEqual([0, 1]);
    expect(hourRow(html, 'sign-ins', now)).toEqual([1, 0]);
    expect(hourRow(html, 'tool-calls', now - 3 * HOUR)).toEqual([2, 1, 1]);
    expect(hourRow(html, 'tool-calls', now)).toEqual([0, 2, 0]);
    // 24 rows per chart; lines older than 24 h are not counted.
    expect(html.match(/<tr><th scope="row">\d\d:00<\/th>/g)).toHaveLength(48);
    expect(html).toContain('Per hour over the last 24 hours (UTC): 4 successes, 3 failures in total');
    expect(html).toContain('2 allowed, 3 denied, 1 rate-limited in total');
    expect(html).not.toContain('old_tool');
    // Top denied tools: most first; a hostile tool name is escaped.
    expect(html).toMatch(/<th scope="row">drop_table<\/th><td>2<\/td>[\s\S]*<th scope="row">&lt;img src=x onerror=alert\(1\)&gt;<\/th><td>1<\/td>/);
    expect(html).not.toContain('<img src=x');
    // Accessible SVG: named by its title and description; no inline style (the CSP forbids it), no script.
    expect(html).toContain('<svg class="chart-svg" viewBox="0 0 720 260" role="img" aria-labelledby="sign-ins-title sign-ins-desc">');
    expect(html).toContain('<title id="tool-calls-title">Tool calls, last 24 hours</title>');
    expect(html).toContain('<summary>Numbers: Sign-ins, per hour (UTC)</summary>');
    expect(html).not.toMatch(/ style=|<script/);
    expect(res.headers.get('content-security-policy')).not.toContain('unsafe-inline');
  });

  it('[ADMIN-OVERVIEW-5] the overview is counted at most every 30 s: a reload within that reads nothing again', async () => {
    const before = await (await b.get('/admin')).text();
    await writeAuditLines(s, mcpLog, 'mcp-server', [toolCall(clock.at, 'DENIED', 'drop_table')]);
    const cached = await (await b.get('/admin')).text();
    expect(hourRow(cached, 'tool-calls', clock.at)).toEqual(hourRow(before, 'tool-calls', clock.at));
    clock.set(clock.at + 31_000);
    const fresh = await (await b.get('/admin')).text();
    expect(hourRow(fresh, 'tool-calls', clock.at)![1]).toBe(hourRow(before, 'tool-calls', clock.at)![1]! + 1);
  });

  it('[ADMIN-AUDIT-1] the audit page lists a log newest first and filters by who (email or id), tool, decision and time', async () => {
    const page = async (q: string) => {
      const res = await b.get(`/admin/audit${q}`);
      expect(res.status, q).toBe(200);
      return res.text();
    };
    const all = await page('');
    expect(all).toContain('<a href="../admin/audit" aria-current="page">Audit log</a>');
    expect(all.indexOf(developer.id)).toBeLessThan(all.indexOf('wrong password'));
    const denied = await page('?decision=deny');
    expect(lineCount(denied)).toBe(3);
    expect(denied).not.toContain('login.succeeded');
    const byEmail = await page(`?who=${encodeURIComponent(developer.email)}`);
    expect(lineCount(byEmail)).toBe(1);
    expect(byEmail).toContain(developer.id);
    const hour = new Date(clock.at - 2 * HOUR).toISOString().slice(0, 13);
    const window = await page(`?from=${hour}:00&to=${hour}:59`);
    expect(lineCount(window)).toBe(5);
    const mcp = await page('?source=mcp&tool=DROP&decision=deny');
    expect(lineCount(mcp)).toBe(3);
    expect(mcp).toContain('<a href="../admin/audit?source=mcp" aria-current="page">MCP decisions</a>');
    expect(lineCount(await page('?source=mcp&decision=rate_limited'))).toBe(1);
  });

  it('[ADMIN-AUDIT-2] hostile or malformed filters are refused (400) or shown escaped', async () => {
    const hostile = await b.get(`/admin/audit?who=${encodeURIComponent('"><script>alert(1)</script>')}`);
    expect(hostile.status).toBe(200);
    const html = await hostile.text();
    expect(html).toContain('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"');
    expect(html).not.toContain('<script>');
    expect(html).toContain('No line matches.');
    for (const q of ['?who=' + 'x'.repeat(300), '?tool=' + 't'.repeat(65), '?decision=maybe', '?source=other', '?from=yesterday', '?to=2026-13-45T99:99',
      '?before=-1', '?before=1e9', '?who=a&who=b', '?unknown=1']) {
      const res = await b.get(`/admin/audit${q}`);
      expect(res.status, q).toBe(400);
      expect(await res.text(), q).toContain('Invalid');
    }
    const mcp = await (await b.get('/admin/audit?source=mcp&decision=deny')).text();
    expect(mcp).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(mcp).not.toContain('<img src=x');
  });

  it('[ADMIN-AUDIT-3] pages hold 50 lines, newest first; the next page continues below the last seq shown', async () => {
    await writeAuditLines(s, mcpLog, 'mcp-server', Array.from({ length: 60 }, (_, i) => toolCall(clock.at, 'ALLOWED', `bulk_${String(i).padStart(2, '0')}`)));
    const first = await (await b.get('/admin/audit?source=mcp&tool=bulk_')).text();
    expect(lineCount(first)).toBe(50);
    expect(first.indexOf('bulk_59')).toBeLessThan(first.indexOf('bulk_58'));
    const next = /href="(\.\.\/admin\/audit\?[^"]*before=\d+)" rel="next"/.exec(first)?.[1]?.replaceAll('&amp;', '&');
    expect(next).toContain('tool=bulk_');
    const second = await (await b.get(next!.slice(2))).text();
    expect(lineCount(second)).toBe(10);
    expect(second).toContain('bulk_00');
    expect(second).not.toContain('bulk_10');
    expect(second).not.toContain('rel="next"');
  });

  it('[ADMIN-AUDIT-4] the chain is verified on "Verify now" (CSRF), and the result is kept with its time', async () => {
    const before = await (await b.get('/admin/audit')).text();
    expect(before).toContain('Not checked since this server started.');
    expect((await b.post('/admin/audit/verify', { source: 'auth' })).status).toBe(403);
    const res = await b.post('/admin/audit/verify', { _csrf: hidden(before, '_csrf'), source: 'auth' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('../../admin/audit?source=auth&done=verified');
    const after = await (await b.get('/admin/audit?source=auth&done=verified')).text();
    expect(after).toMatch(/<p class="notice chain-status"><strong>OK: \d+ lines, every MAC valid, matching the anchors in the database\.<\/strong>/);
    expect(after).toContain(`Checked ${new Date(clock.at).toISOString().slice(0, 16).replace('T', ' ')} UTC`);
    expect(s.auditEvents().some((e) => e.event === 'admin.audit_verified' && e.by === admin.id && e.result === 'ok')).toBe(true);
    // The MCP server's log: its MACs and order, without its anchors (in its own database).
    await b.post('/admin/audit/verify', { _csrf: hidden(after, '_csrf'), source: 'mcp' });
    const mcp = await (await b.get('/admin/audit?source=mcp')).text();
    expect(mcp).toMatch(/<strong>OK: \d+ lines, every MAC valid\.<\/strong>/);
  });

  it('[ADMIN-AUDIT-5] an edited line shows the chain broken at its line; cut-off lines show the anchors do not match', async () => {
    const original = readFileSync(authLog, 'utf8');
    const lines = original.split('\n');
    const at = lines.findIndex((l) => l.includes('wrong password'));
    lines[at] = lines[at]!.replace('wrong password', 'right password');
    writeFileSync(authLog, lines.join('\n'));
    const html = await (await b.get('/admin/audit')).text();
    await b.post('/admin/audit/verify', { _csrf: hidden(html, '_csrf'), source: 'auth' });
    const broken = await (await b.get('/admin/audit')).text();
    expect(broken).toContain(`<p class="error chain-status"><strong>Broken at line ${at + 1} of auth-audit.log: 1 problem.</strong>`);
    expect(broken).toContain(`edited: line ${at + 1} of auth-audit.log (seq ${at}) does not match its MAC`);

    writeFileSync(authLog, `${original.split('\n').slice(0, -3).join('\n')}\n`);
    await b.post('/admin/audit/verify', { _csrf: hidden(broken, '_csrf'), source: 'auth' });
    const cut = await (await b.get('/admin/audit')).text();
    expect(cut).toContain('<strong>The log does not match the anchors in the database.</strong>');
    expect(cut).toContain('truncated: ');
    writeFileSync(authLog, original);
  });

  it('[ADMIN-AUDIT-6] a developer gets the 403 page on the audit page and cannot verify', async () => {
    const d = await signedIn(s, developer.email);
    const res = await d.get('/admin/audit');
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('wrong password');
    const html = await (await d.get('/account')).text();
    expect((await d.post('/admin/audit/verify', { _csrf: hidden(html, '_csrf'), source: 'auth' })).status).toBe(403);
    expect(s.auditEvents().filter((e) => e.event === 'admin.refused' && e.user === developer.id).map((e) => e.path)).toEqual(['/admin/audit', '/admin/audit/verify']);
  });
});
