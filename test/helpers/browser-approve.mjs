#!/usr/bin/env node
// A `BROWSER=` stand-in for MCP clients (mcp-remote, the Inspector): opens the authorization URL in
// real headless Chromium (Debian's, through playwright-core), signs in, presses Allow or Deny, and
// waits until the browser reaches the client's own callback. Plain .mjs so a client can spawn it
// with any Node (it is exec'd by `open`, which knows nothing of tsx).
//
// Usage: browser-approve.mjs <authorization-url>
// Env:   E2E_EMAIL, E2E_PASSWORD       the account to sign in with (required)
//        E2E_DECISION=allow|deny       which consent button to press (default allow)
//        E2E_WRONG_PASSWORD=1          first submit a wrong password and expect the error, then the right one
//        E2E_BROWSER_LOG=<file>        append one JSON line per run: pages seen, final URL, errors
//        E2E_SCREENSHOTS=<dir>         save login/consent/callback screenshots there, prefixed by E2E_SCREENSHOT_PREFIX
//        CHROMIUM_PATH                 default /usr/bin/chromium
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const url = process.argv.slice(2).find((a) => /^https?:\/\//.test(a));
const env = process.env;
const log = { at: new Date().toISOString(), url, pages: [], final: undefined, error: undefined };

function record() {
  if (env.E2E_BROWSER_LOG) appendFileSync(env.E2E_BROWSER_LOG, `${JSON.stringify(log)}\n`);
}

async function shot(page, name) {
  if (!env.E2E_SCREENSHOTS) return;
  mkdirSync(env.E2E_SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(env.E2E_SCREENSHOTS, `${env.E2E_SCREENSHOT_PREFIX ?? 'client'}-${name}.png`), fullPage: true });
}

async function run() {
  if (!url) throw new Error('usage: browser-approve.mjs <authorization-url>');
  if (!env.E2E_EMAIL || !env.E2E_PASSWORD) throw new Error('E2E_EMAIL and E2E_PASSWORD must be set');
  const asOrigin = new URL(url).origin;
  const browser = await chromium.launch({
    executablePath: env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    page.on('load', () => log.pages.push(page.url()));
    // Leaving the authorization server's origin means the browser was sent to the client.
    const atClient = () => page.waitForURL((u) => u.origin !== asOrigin, { waitUntil: 'load', timeout: 15_000 });

    await page.goto(url, { waitUntil: 'load' });
    if (new URL(page.url()).pathname === '/login') {
      await shot(page, 'login');
      if (env.E2E_WRONG_PASSWORD === '1') {
        await signIn(page, `${env.E2E_PASSWORD}-wrong`);
        const alert = (await page.getByRole('alert').textContent())?.trim();
        log.wrongPassword = { path: new URL(page.url()).pathname, alert };
        await shot(page, 'login-error');
      }
      await signIn(page, env.E2E_PASSWORD);
    }
    if (new URL(page.url()).pathname === '/consent') {
      await shot(page, 'consent');
      log.consentHeading = (await page.getByRole('heading', { level: 1 }).textContent())?.trim();
      // What the user is asked to allow: the service (resource) and one line per scope.
      log.consentService = (await page.locator('dt:has-text("Service it will access") + dd').textContent())?.trim();
      log.consentScopes = (await page.locator('ul.scopes li').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
      const arrived = atClient();
      await page.getByRole('button', { name: env.E2E_DECISION === 'deny' ? 'Deny' : 'Allow' }).click();
      await arrived;
    } else if (new URL(page.url()).origin === asOrigin) {
      throw new Error(`stuck on ${page.url()}: ${(await page.textContent('body'))?.replace(/\s+/g, ' ').slice(0, 300)}`);
    }
    log.final = page.url();
    await shot(page, 'callback');
  } finally {
    await browser.close();
  }
}

async function signIn(page, password) {
  await page.getByLabel('Email').fill(env.E2E_EMAIL);
  await page.getByLabel('Password').fill(password);
  await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Sign in' }).click()]);
}

try {
  await run();
  record();
} catch (err) {
  log.error = err instanceof Error ? err.message : String(err);
  record();
  console.error(`[browser-approve] ${log.error}`);
  process.exitCode = 1;
}
