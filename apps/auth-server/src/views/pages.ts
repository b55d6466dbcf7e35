import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '@stack/oauth';
import { StoreUnavailableError } from '@stack/redis';
import { PageError, cspOrigin, pageRoot, sendMessage } from './render.ts';

/** The browser pages a pending request moves through, each named by the request id in its query. */
export type FlowPage = 'login' | 'consent';

/** The link to one of our pages for pending request `id`; relative, since the pages share a base path. */
export function pageLink(page: FlowPage, id: string): string {
  return `${page}?request=${encodeURIComponent(id)}`;
}

/** Sends the browser to one of our pages for pending request `id`, from any depth (/login, /federation/<slug>/callback). */
export function redirectToPage(reply: FastifyReply, page: FlowPage, id: string): FastifyReply {
  return reply.header('cache-control', 'no-store').redirect(`${pageRoot(reply.request.url)}${pageLink(page, id)}`, 303);
}

/** Where a standalone sign-in goes when no (valid) `next` is given. */
export const ACCOUNT_PATH = '/account';

// Our own account and admin pages only: /account or /admin and up to three lowercase segments below
// it. Anything else (another host, `//host`, a backslash, a scheme, dots) falls back to /account: no open redirect.
const NEXT_PATH = /^\/(account|admin)(\/[a-z0-9-]{1,40}){0,3}$/;

/** A validated local path to continue to after signing in (`next`), else /account. */
export function nextPath(value: unknown): string {
  return typeof value === 'string' && NEXT_PATH.test(value) ? value : ACCOUNT_PATH;
}

/** Sends the browser to our own page `path` (a validated absolute path), by a link relative to the request's page. */
export function redirectToOwnPage(request: FastifyRequest, reply: FastifyReply, path: string): FastifyReply {
  return reply.header('cache-control', 'no-store').redirect(pageRoot(request.url) + path.slice(1), 303);
}

/** Sends a person who is not signed in to the login page, to come back to `next` (a validated path) afterwards. */
export function redirectToLogin(request: FastifyRequest, reply: FastifyReply, next: string): FastifyReply {
  return reply.header('cache-control', 'no-store').redirect(`${pageRoot(request.url)}login?next=${encodeURIComponent(next)}`, 303);
}

/**
 * Sends the browser to the client's (verified) redirect URI. After a form POST, Chromium checks
 * form-action on the redirect, which the page allowed through its origin; an origin CSP cannot
 * express (an IPv6 loopback literal) gets a page with a link instead, which is a new navigation.
 */
export function redirectToClient(reply: FastifyReply, url: string, afterForm: boolean): FastifyReply {
  if (!afterForm) return reply.header('cache-control', 'no-store').redirect(url, 302);
  if (cspOrigin(url)) return reply.header('cache-control', 'no-store').redirect(url, 303);
  return sendMessage(reply, 200, {
    title: 'Return to the application',
    message: 'Your decision was recorded. Continue to go back to the application.',
    link: { href: url, text: 'Continue' },
  });
}

/** Error handler for page routes: HTML pages, never JSON and never a redirect. */
export function pageErrorHandler(this: FastifyInstance, err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof PageError) return sendMessage(reply, err.status, { title: err.title, message: err.message, detail: err.detail });
  if (err.code === 'FST_CSRF_MISSING_SECRET' || err.code === 'FST_CSRF_INVALID_TOKEN') {
    request.log.info({ code: err.code }, 'form rejected: csrf');
    return sendMessage(reply, 403, {
      title: 'This form could not be accepted',
      message: 'The form has expired or was not sent from this site. Go back to the application and start again.',
    });
  }
  if ((err instanceof OAuthError && err.code === 'temporarily_unavailable') || err instanceof StoreUnavailableError) {
    // A shared store (Redis, the PostgreSQL database) is down, or the server is busy (a full argon2 queue, a
    // metadata host's fetch budget): refuse the attempt rather than let it through uncounted.
    reply.header('retry-after', String(err.retryAfter ?? 5));
    return sendMessage(reply, 503, { title: 'Temporarily unavailable', message: 'Sign-in is briefly unavailable. Please try again in a few seconds.' });
  }
  if (err instanceof OAuthError && err.code === 'rate_limited') {
    reply.header('retry-after', String(err.retryAfter ?? 60));
    return sendMessage(reply, 429, { title: 'Too many sign-in requests', message: 'Too many sign-in requests came from your network. Wait a minute and try again.' });
  }
  if (err instanceof OAuthError && err.expose) {
    return sendMessage(reply, err.status >= 400 && err.status < 500 ? err.status : 400, { title: 'Invalid request', message: 'The request could not be processed.', detail: err.description });
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return sendMessage(reply, err.statusCode, { title: 'Invalid request', message: 'The request could not be processed.' });
  }
  request.log.error({ err }, 'unexpected error on a page');
  return sendMessage(reply, 500, { title: 'Something went wrong', message: 'The server could not complete this request. Please try again later.' });
}
