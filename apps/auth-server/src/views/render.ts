import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { FastifyReply } from 'fastify';

const VIEWS = dirname(fileURLToPath(import.meta.url));

// Text others control (a client's name, a host, an email) must not reorder the page around it: a
// client name holding U+202E displays what follows it reversed, so "Acme\u202Eelpmaxe.live" reads
// as a trusted name. Bidirectional-text controls (U+061C, U+200E/F, U+202A-E, U+2066-9), other
// invisible format characters and C0/C1 controls are shown as U+FFFD, visibly, before HTML escaping.
// eslint-disable-next-line no-control-regex -- controls are what this pattern finds
const DISPLAY_UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** The escaping of every `<%= %>`: display-unsafe characters replaced, then HTML-escaped. */
export function escapeForPage(value: unknown): string {
  return String(value).replace(DISPLAY_UNSAFE, '\uFFFD').replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** Templates in this folder. */
export type Template = 'login' | 'consent' | 'message' | 'account' | 'logout' | 'reset-password' | 'mfa' | 'enroll' | 'recovery-codes' | 'account-security'
  | 'admin-overview' | 'admin-users'
  | 'admin-clients' | 'admin-user' | 'admin-keys' | 'admin-servers'
  | 'admin-audit';

/** Renders the templates of this folder; built once per app (app.pages.views), which owns its template cache. */
export interface PageViews {
  render(template: Template, data: Record<string, unknown>): string;
}

export function createPageViews(): PageViews {
  // autoEscape escapes every `<%= %>` with escapeForPage; only the layout's `<%~ it.body %>` is raw.
  const eta = new Eta({ views: VIEWS, autoEscape: true, escapeFunction: escapeForPage, cache: true });
  return { render: (template, data) => eta.render(`./${template}`, data) };
}

/** A page-level failure, rendered as an HTML page by the pages error handler (never a redirect). */
export class PageError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  constructor(status: number, title: string, message: string, detail?: string) {
    super(message);
    this.name = 'PageError';
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

/**
 * The CSP source for a redirect URI's origin, or undefined when CSP cannot express it (IPv6
 * literals are not valid host-sources). Chromium applies form-action to the redirects that follow
 * a form POST, so pages whose form may end in a redirect to the client must allow its origin.
 */
export function cspOrigin(uri: string): string | undefined {
  const u = new URL(uri);
  const origin = `${u.protocol}//${u.host}`;
  return /^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/.test(origin) ? origin : undefined;
}

function pageCsp(formOrigins: readonly string[], scripts: boolean): string {
  const formAction = ["'self'", ...formOrigins].join(' ');
  // Only the passkey pages run script, and only our own files (never inline, never eval).
  const script = scripts ? " script-src 'self';" : '';
  return `default-src 'none';${script} style-src 'self'; img-src 'self'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`;
}

export interface PageOptions {
  status?: number;
  /** Origins (besides 'self') this page's forms may end up at, through redirects. */
  formOrigins?: readonly string[];
  /** Allows the page to load scripts from this origin (script-src 'self'): the passkey pages. */
  scripts?: boolean;
}

/**
 * The relative path from the page at `url` back to the pages' root ('' for /login, '../' for
 * /account/password): links stay relative, so the pages work under any base path a proxy gives them.
 */
export function pageRoot(url: string): string {
  const path = url.split('?')[0]!;
  return '../'.repeat(Math.max(0, path.split('/').length - 2));
}

/**
 * Renders a template as a no-store HTML page with the pages' CSP (RFC 9700 §4.16: never framed).
 * Templates get `root` (pageRoot) for their links; with `signedIn` (the person's email) the layout
 * shows it with the account link and a Sign out form.
 */
export function sendPage(reply: FastifyReply, template: Template, data: Record<string, unknown>, opts: PageOptions = {}): FastifyReply {
  const root = pageRoot(reply.request.url);
  // One CSRF token per page: a second generateCsrf() on a browser without the secret cookie would replace the secret.
  const signOutCsrf = typeof data.signedIn === 'string' ? (data.csrf ?? reply.generateCsrf()) : undefined;
  const html = reply.server.pages.views.render(template, { signedIn: undefined, ...data, root, signOutCsrf });
  return reply
    .status(opts.status ?? 200)
    .header('content-security-policy', pageCsp(opts.formOrigins ?? [], opts.scripts === true))
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .type('text/html; charset=utf-8')
    .send(html);
}

/** A page with a title, a message and optionally a detail line and a link. */
export function sendMessage(
  reply: FastifyReply,
  status: number,
  m: { title: string; message: string; detail?: string | undefined; link?: { href: string; text: string }; alert?: boolean },
): FastifyReply {
  return sendPage(reply, 'message', { detail: undefined, link: undefined, alert: status >= 400, ...m }, { status });
}

/** Absolute path of the stylesheet served at /assets/app.css. */
export const STYLESHEET = `${VIEWS}/app.css`;

/** Absolute path of the page icon served at /assets/icon.svg. */
export const ICON = `${VIEWS}/icon.svg`;

/** Absolute path of the passkey forms' script served at /assets/passkeys.js. */
export const PASSKEYS_SCRIPT = `${VIEWS}/passkeys.js`;
