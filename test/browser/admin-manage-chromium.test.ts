import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startAuthServer, type TestAuthServer } from '../../apps/auth-server/test/helpers.ts';
import { authorizeUrl, seedClient, seedUser, validParams } from '../../apps/auth-server/test/authorize-flow.ts';
import { stackWithExtraServers } from '../../apps/auth-server/test/admin-fixtures.ts';
import { addClient, login, RESOURCE } from '../../apps/auth-server/test/token-fixtures.ts';
import type { UserRecord } from '../../apps/auth-server/src/services/users.ts';
import { launchChromium, screenshot, watchPage } from '../helpers/chromium.ts';
import { DESKTOP, PHONE, readAdminPages, signInAt } from './admin-pages.ts';

/**
 * The admin console's management pages in Chromium, with no JavaScript of ours: clients, a person's
 * grants, signing keys and protected servers at 375 px and at desktop width (labels, one heading,
 * contrast, no horizontal scroll, no CSP violation), and an admin approving a pending client and
 * rotating the signing key through the pages. Screenshots land in test-output/screenshots/.
 */

const REDIRECT = 'http://127.0.0.1:33418/callback';

describe('admin management pages in Chromium', () => {
  let browser: Browser;
  let stack: { file: string; remove: () => void };
  let s: TestAuthServer;
  let admin: UserRecord;
  let person: UserRecord;

  async function register(name: string): Promise<string> {
    const res = await fetch(`${s.url}/register`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: name, redirect_uris: [REDIRECT], application_type: 'native', token_endpoint_auth_method: 'none' }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { client_id: string }).client_id;
  }

  beforeAll(async () => {
    browser = await launchChromium();
    stack = stackWithExtraServers();
    s = await startAuthServer({ STACK_FILE: stack.file, REGISTRATION_MODE: 'approval', REGISTRATION_RATE_LIMIT_PER_HOUR: '1000' });
    admin = await seedUser(s, 'admin', 'admin@example.com');
    person = await seedUser(s, 'developer', 'a-developer-with-a-rather-long-address@subdomain.example.com');
    // Clients of every kind, with long names and ids, and a grant with tokens for the person.
    await register('A command-line tool that registered itself with a rather long name');
    await seedClient(s, { id: 'https://tools.example.com/a/rather/long/path/to/its/client-metadata-document.json', source: 'cimd', name: 'Metadata document tool', redirectUris: ['https://tools.example.com/callback'] });
    const client = await addClient(s);
    await s.app.ctx.store.consents.grant({ userId: person.id, clientId: client.id, resource: RESOURCE }, ['db:read', 'db:write'], s.app.ctx.now());
    await login(s, client, person);
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
    stack?.remove();
  });

  const signIn = (page: Page, next: string) => signInAt(page, s.url, admin.email, next);

  it('[ADMIN-8] [ADMIN-CLIENTS-1] [ADMIN-GRANTS-1] [ADMIN-KEYS-1] [ADMIN-SERVERS-1] each management page at 375 px and at desktop width: no CSP violation, no horizontal scroll, labelled, readable', async () => {
    const pages = [
      ['/admin/clients', 'Clients', 'admin-clients'],
      [`/admin/users/${person.id}`, `Grants of ${person.email}`, 'admin-user-grants'],
      ['/admin/keys', 'Signing keys', 'admin-keys'],
      ['/admin/servers', 'Protected servers', 'admin-servers'],
    ] as const;
    // The disclosures' explanations are part of what must fit.
    await readAdminPages(browser, s.url, admin.email, pages, async (page) => {
      for (const d of await page.locator('details').all()) await d.locator('summary').click();
    });
  });

  it('[ADMIN-8] [ADMIN-CLIENTS-3] an admin approves a pending client from the clients page, and it can start a sign-in', async () => {
    const id = await register('Waiting for the admin');
    const url = authorizeUrl(s, validParams(id, REDIRECT));
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(403);
    const context = await browser.newContext(PHONE);
    context.setDefaultTimeout(5_000);
    try {
      const page = await context.newPage();
      const watch = await watchPage(page);
      await signIn(page, '/admin/clients');
      await page.goto(`${s.url}/admin/clients?status=pending`);
      await page.getByRole('button', { name: 'Approve Waiting for the admin' }).click();
      await page.waitForLoadState('load');
      expect(new URL(page.url()).pathname).toBe('/admin/clients');
      expect(await page.getByRole('status').textContent()).toContain('The client was approved');
      await screenshot(page, 'admin-clients-approved-phone-dark');
      expect(watch.cspViolations, 'CSP violations').toEqual([]);
    } finally {
      await context.close();
    }
    expect((await s.app.ctx.store.clients.find(id))?.pendingApproval).toBe(false);
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(303);
  });

  it('[ADMIN-8] [ADMIN-KEYS-2] an admin rotates the signing key after reading what it does, and sees the next key', async () => {
    const context = await browser.newContext(DESKTOP);
    context.setDefaultTimeout(5_000);
    try {
      const page = await context.newPage();
      const watch = await watchPage(page);
      await signIn(page, '/admin/keys');
      const publish = page.getByRole('button', { name: 'Publish the next key' });
      expect(await publish.isVisible()).toBe(false);
      await page.getByText('Rotate…').click();
      await publish.click();
      await page.waitForLoadState('load');
      expect(await page.getByRole('status').textContent()).toContain('The next signing key is published');
      expect(await page.locator('.tag', { hasText: 'next' }).count()).toBe(1);
      await screenshot(page, 'admin-keys-rotated-desktop');
      expect(watch.cspViolations, 'CSP violations').toEqual([]);
    } finally {
      await context.close();
    }
  });
});
