import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startAuthServer, type TestAuthServer } from '../../apps/auth-server/test/helpers.ts';
import { seedUser } from '../../apps/auth-server/test/authorize-flow.ts';
import { HOUR, testClock, times, toolCall, writeAuditLines } from '../../apps/auth-server/test/audit-fixtures.ts';
import type { UserRecord } from '../../apps/auth-server/src/services/users.ts';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { expectReadable } from './page-audit.ts';
import { atBothWidths } from './admin-pages.ts';

/**
 * The admin console's overview (charts as inline SVG) and audit page in Chromium, from seeded audit
 * logs: at 375 px and at desktop width, no CSP violation (no inline style or script in the SVG), no
 * horizontal scroll, labelled filters, the numbers table opening, and "Verify now" showing the
 * chain's status. Screenshots land in test-output/screenshots/.
 */

describe('admin overview and audit page in Chromium', () => {
  const clock = testClock();
  let dir: string;
  let browser: Browser;
  let s: TestAuthServer;
  let admin: UserRecord;

  beforeAll(async () => {
    browser = await launchChromium();
    dir = mkdtempSync(join(tmpdir(), 'admin-overview-'));
    const authLog = join(dir, 'auth-audit.log');
    const mcpLog = join(dir, 'mcp-audit.log');
    s = await startAuthServer({ AUDIT_LOG: authLog, ADMIN_MCP_AUDIT_LOG: mcpLog }, { now: clock.now });
    admin = await seedUser(s, 'admin', 'admin@example.com');
    const now = clock.at;
    await writeAuditLines(s, authLog, 'auth-server', Array.from({ length: 24 }, (_, h) => [
      ...times(h % 5, { at: now - h * HOUR, event: 'login.succeeded', user: admin.id, decision: 'allow' }),
      ...times(h % 3, { at: now - h * HOUR, event: 'login.failed', decision: 'deny', reason: 'wrong password', email: `someone-with-a-long-address-${h}@subdomain.example.com` }),
    ]).reverse().flat());
    await writeAuditLines(s, mcpLog, 'mcp-server', Array.from({ length: 24 }, (_, h) => [
      ...times(h * 3, toolCall(now - h * HOUR, 'ALLOWED', 'sql_query')),
      ...times(h % 4, toolCall(now - h * HOUR, 'DENIED', h % 2 ? 'drop_table' : 'a_tool_with_a_very_long_name_that_must_wrap_somewhere')),
      ...times(h % 2, toolCall(now - h * HOUR, 'RATE_LIMITED', 'sql_query')),
    ]).reverse().flat());
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('[ADMIN-OVERVIEW-6] [ADMIN-OVERVIEW-4] the overview\'s charts and the audit page at 375 px and at desktop width: no CSP violation, no horizontal scroll', async () => {
    await atBothWidths(browser, s.url, admin.email, async (page, options, suffix) => {
      // Both charts drawn, named by their titles, scaled to the page's width.
      for (const name of ['Sign-ins, last 24 hours', 'Tool calls, last 24 hours']) {
        const chart = page.getByRole('img', { name });
        expect(await chart.count()).toBe(1);
        const box = (await chart.boundingBox())!;
        expect(box.width).toBeLessThanOrEqual(options.viewport!.width);
        expect(box.height).toBeGreaterThan(100 * (box.width / 720));
      }
      expect(await page.locator('svg.chart-svg rect').count()).toBeGreaterThan(40);
      await expectReadable(page, `overview (${suffix})`);
      await screenshot(page, `admin-overview-charts-${suffix}`);
      await page.getByText('Numbers: Tool calls, per hour (UTC)').click();
      expect(await page.getByRole('table', { name: 'Tool calls, per hour (UTC)' }).isVisible()).toBe(true);
      await expectReadable(page, `overview with its numbers open (${suffix})`);

      await page.getByRole('navigation', { name: 'Admin console' }).getByRole('link', { name: 'Audit log' }).click();
      await page.waitForLoadState('load');
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Audit log');
      await page.getByRole('button', { name: 'Verify now' }).click();
      await page.waitForLoadState('load');
      expect(await page.locator('.chain-status strong').textContent()).toMatch(/^OK: \d+ lines, every MAC valid, matching the anchors in the database\.$/);
      await expectReadable(page, `audit page (${suffix})`);
      await screenshot(page, `admin-audit-${suffix}`);
      await page.getByRole('link', { name: 'MCP decisions' }).click();
      await page.getByLabel('Tool', { exact: true }).fill('drop');
      await page.getByLabel('Decision', { exact: true }).selectOption('deny');
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.waitForLoadState('load');
      const url = new URL(page.url());
      expect(url.searchParams.get('source')).toBe('mcp');
      expect(url.searchParams.get('tool')).toBe('drop');
      expect(await page.locator('.audit-lines > li').count()).toBeGreaterThan(0);
      expect(await page.locator('.audit-lines > li', { hasNotText: 'drop_table' }).count()).toBe(0);
      await expectReadable(page, `filtered audit page (${suffix})`);
      await screenshot(page, `admin-audit-filtered-${suffix}`);
    });
  });
});
