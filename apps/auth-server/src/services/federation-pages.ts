import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IdentityProvider } from '@stack/stack-config';
import { PageError, sendMessage } from '../views/render.ts';
import { auditFlow } from './authorization-flow.ts';
import type { AfterSignIn } from './sign-in.ts';

// What /federation/<slug>/start and /federation/<slug>/callback share: finding the provider, and
// refusing a sign-in with a page that says why and an audit line that records it.

/** The provider named in the path, from the current stack file; a page (404) for any other name. */
export function providerBySlug(app: FastifyInstance, slug: string): IdentityProvider {
  const found = app.ctx.stack.current().identityProviders.find((p) => p.slug === slug);
  if (!found) throw new PageError(404, 'Unknown sign-in provider', 'This sign-in provider is not configured here. Go back to the application and start again.');
  return found;
}

/** The login page of a pending request (or of a standalone sign-in), from /federation/<slug>/…: two levels up. */
export const loginLink = (to: AfterSignIn) => `../../login?${'request' in to ? `request=${encodeURIComponent(to.id)}` : `next=${encodeURIComponent(to.next)}`}`;

export interface Refusal {
  status: number;
  title: string;
  message: string;
  /** For the audit line only: why, in words; never a token, code or claim value beyond the user id. */
  reason: string;
  user?: string | undefined;
}

/** One audit line (`federation.refused`, with the provider and the reason) and a page saying why, with a way back to the login page. */
export function refuseSignIn(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, provider: IdentityProvider, to: AfterSignIn | undefined, r: Refusal): FastifyReply {
  const client = to && 'request' in to ? to.request.clientId : undefined;
  auditFlow(app, request, 'federation.refused', { provider: provider.slug, user: r.user, client, decision: 'deny', reason: r.reason });
  return sendMessage(reply, r.status, {
    title: r.title,
    message: r.message,
    ...(to ? { link: { href: loginLink(to), text: 'Back to sign-in' } } : {}),
  });
}
