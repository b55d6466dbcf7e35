import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { FastifyReply } from 'fastify';

const VIEWS = dirname(fileURLToPath(import.meta.url));

// autoEscape HTML-escapes every `<%= %>`; only the layout's `<%~ it.body %>` is raw.
const eta = new Eta({ views: VIEWS, autoEscape: true, cache: true });

/** Templates in this folder. */
export type Template = 'login' | 'consent' | 'message';

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

function pageCsp(formOrigins: readonly string[]): string {
  const formAction = ["'self'", ...formOrigins].join(' ');
  return `default-src 'none'; style-src 'self'; img-src 'self'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`;
}

export interface PageOptions {
  status?: number;
  /** Origins (besides 'self') this page's forms may end up at, through redirects. */
  formOrigins?: readonly string[];
}

/** Renders a template as a no-store HTML page with the pages' CSP (RFC 9700 §4.16: never framed). */
export function sendPage(reply: FastifyReply, template: Template, data: Record<string, unknown>, opts: PageOptions = {}): FastifyReply {
  const html = eta.render(`./${template}`, data);
  return reply
    .status(opts.status ?? 200)
    .header('content-security-policy', pageCsp(opts.formOrigins ?? []))
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
