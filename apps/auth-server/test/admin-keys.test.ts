import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLISH_LEAD_MS } from '../src/services/keys.ts';
import type { UserRecord } from '../src/services/users.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { seedUser } from './authorize-flow.ts';
import { adminPage, badCsrfForms, entryOf, signedInBrowser } from './admin-fixtures.ts';
import { testClock } from './token-fixtures.ts';

const jwksKids = async (s: TestAuthServer) => ((await (await fetch(`${s.url}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

describe('admin console: signing keys', () => {
  const clock = testClock(Date.UTC(2026, 0, 10, 12, 0));
  let s: TestAuthServer;
  let admin: UserRecord;
  let developer: UserRecord;

  beforeAll(async () => {
    s = await startAuthServer({ LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' }, { now: clock.now });
    admin = await seedUser(s, 'admin');
    developer = await seedUser(s, 'developer');
  });
  afterAll(async () => { await s.close(); });

  it('[ADMIN-KEYS-1] lists each key with kid, state, created, signs from, retires and published, and the scheduled rotation', async () => {
    const [current] = await s.app.ctx.keys.list();
    const b = await signedInBrowser(s, admin.email);
    const { status, html } = await adminPage(b, '/admin/keys');
    expect(status).toBe(200);
    expect(html).toContain('<a href="../admin/keys" aria-current="page">Signing keys</a>');
    const entry = entryOf(html, current!.kid);
    expect(entry).toContain('<span class="tag">current</span>');
    expect(entry).toContain('<dt>Created</dt><dd>2026-01-10 12:00 UTC</dd>');
    expect(entry).toContain('<dt>Signs from</dt><dd>now</dd>');
    expect(entry).toContain('<dt>Retires</dt><dd>when a next key takes over</dd>');
    expect(entry).toContain('<dt>Published</dt><dd>yes</dd>');
    // The default period, 90 days from the newest key.
    expect(html).toContain('Scheduled rotation: every 90 days (SIGNING_KEY_ROTATION_DAYS). A running server adds the next key at 2026-04-10 12:00 UTC');
    // Never key material.
    expect(html).not.toMatch(/"(d|p|q|n|e)":|privateKey|envelope/i);
  });

  it('[ADMIN-KEYS-2] Rotate publishes the next key at once, which signs after the lead time; audited admin.key_rotated with the acting admin; a second rotation waits', async () => {
    const [current] = await s.app.ctx.keys.list();
    const b = await signedInBrowser(s, admin.email);
    const { html, csrf } = await adminPage(b, '/admin/keys');
    expect(html).toContain(`It starts signing in ${PUBLISH_LEAD_MS / 1000} seconds`);
    const res = await b.post('/admin/keys', { _csrf: csrf, action: 'rotate' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('../admin/keys?done=rotated');
    const keys = await s.app.ctx.keys.list();
    const next = keys.find((k) => k.state === 'next')!;
    expect(next).toMatchObject({ published: true, signsFrom: clock.now() + PUBLISH_LEAD_MS });
    expect(keys.find((k) => k.kid === current!.kid)).toMatchObject({ state: 'current', retiredAt: clock.now() + PUBLISH_LEAD_MS });
    expect(await jwksKids(s)).toEqual(expect.arrayContaining([current!.kid, next.kid]));
    expect(s.auditEvents().find((e) => e.event === 'admin.key_rotated')).toMatchObject({ kid: next.kid, previous_kid: current!.kid, by: admin.id, decision: 'allow' });
    const after = (await adminPage(b, '/admin/keys?done=rotated')).html;
    expect(after).toContain('The next signing key is published');
    expect(entryOf(after, next.kid)).toContain('<span class="tag">next</span>');
    expect(entryOf(after, next.kid)).toContain('<dt>Signs from</dt><dd>2026-01-10 12:02 UTC</dd>');
    expect(after).not.toContain('value="rotate"');
    // Rotating again while the next key waits is refused and adds nothing.
    expect((await b.post('/admin/keys', { _csrf: csrf, action: 'rotate' })).status).toBe(409);
    expect(await s.app.ctx.keys.list()).toHaveLength(2);
    // Once it has taken over, the page offers Rotate again.
    clock.advance(PUBLISH_LEAD_MS + 1);
    expect((await adminPage(b, '/admin/keys')).html).toContain('value="rotate"');
  });

  it('[ADMIN-KEYS-3] no immediate rotation from the browser: the page offers none and the form takes only rotate; refused to a developer and without the CSRF token', async () => {
    const b = await signedInBrowser(s, admin.email);
    const { html, csrf } = await adminPage(b, '/admin/keys');
    expect(html.match(/<form method="post" action="..\/admin\/keys">/g)).toHaveLength(1);
    expect(html).toContain('keys rotate --now');
    const before = await jwksKids(s);
    for (const action of ['rotate-now', 'now', '']) expect((await b.post('/admin/keys', { _csrf: csrf, action, now: 'true' })).status).toBe(400);
    for (const form of badCsrfForms(csrf)) expect((await b.post('/admin/keys', { ...form, action: 'rotate' })).status).toBe(403);
    const dev = await signedInBrowser(s, developer.email);
    expect((await dev.get('/admin/keys')).status).toBe(403);
    const devCsrf = (await adminPage(dev, '/account')).csrf;
    expect((await dev.post('/admin/keys', { _csrf: devCsrf, action: 'rotate' })).status).toBe(403);
    expect(await jwksKids(s)).toEqual(before);
    expect(s.auditEvents().filter((e) => e.event === 'admin.key_rotated')).toHaveLength(1);
  });
});

describe('admin console: signing keys without scheduled rotation', () => {
  it('[ADMIN-KEYS-1] says scheduled rotation is off when SIGNING_KEY_ROTATION_DAYS=0', async () => {
    await using s = await startAuthServer({ SIGNING_KEY_ROTATION_DAYS: '0' });
    const admin = await seedUser(s, 'admin');
    const html = (await adminPage(await signedInBrowser(s, admin.email), '/admin/keys')).html;
    expect(html).toContain('Scheduled rotation is off (SIGNING_KEY_ROTATION_DAYS=0)');
  });
});
