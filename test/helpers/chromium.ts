import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Real-browser helpers: Debian's Chromium driven by playwright-core, a loopback "client" that
 * receives the authorization response, and a recorder of everything a page does that a test
 * should fail on (console errors, CSP violations, requests to unexpected origins).
 */

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where screenshots go; test-output/ is git-ignored. */
export const SCREENSHOTS = resolve(import.meta.dirname, '../../test-output/screenshots');

/** Headless Chromium without the background traffic (updates, sync, QUIC probes) that would pollute request logs. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic',
    ],
  });
}

/** Saves a full-page screenshot as test-output/screenshots/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = resolve(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export interface CallbackServer {
  /** Base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Query parameters of every request received, in order. */
  hits: URLSearchParams[];
  close: () => Promise<void>;
}

/** A stand-in for a native client's loopback redirect URI (RFC 8252 §7.3): records the query and answers with a plain page. */
export async function startCallbackServer(): Promise<CallbackServer> {
  const hits: URLSearchParams[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/callback') hits.push(url.searchParams);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><title>Client</title><p>Received.</p></html>');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    hits,
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}

export interface PageWatch {
  /** Every URL the page requested (documents, stylesheets, anything). */
  requests: string[];
  consoleErrors: string[];
  /** CSP violations reported to the page (console) or seen as securitypolicyviolation events. */
  cspViolations: string[];
  /** Requests whose origin is none of `allowed`. */
  foreign: (allowed: readonly string[]) => string[];
}

/**
 * Records a page's requests, console errors and CSP violations. The violation listener is installed
 * before any page script could run; our pages have none, so it is the only script on them.
 */
export async function watchPage(page: Page): Promise<PageWatch> {
  const w: PageWatch = {
    requests: [],
    consoleErrors: [],
    cspViolations: [],
    foreign: (allowed) => w.requests.filter((u) => !allowed.includes(new URL(u).origin)),
  };
  page.on('request', (r) => { w.requests.push(r.url()); });
  page.on('console', (m) => {
    const text = m.text();
    if (/content security policy/i.test(text)) w.cspViolations.push(text);
    else if (m.type() === 'error') w.consoleErrors.push(`${text} (${m.location().url})`);
  });
  page.on('pageerror', (e) => { w.consoleErrors.push(e.message); });
  await page.exposeFunction('__cspViolation', (v: string) => { w.cspViolations.push(v); });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __cspViolation: (v: string) => void }).__cspViolation(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return w;
}
