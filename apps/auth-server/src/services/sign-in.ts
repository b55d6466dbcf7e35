import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { auditFlow, continueAuthorization, type Pending } from './authorization-flow.ts';
import { sessionId, setDeviceCookie, setSessionCookie } from './page-cookies.ts';
import { createSession, deleteSession } from './sessions.ts';
import { redirectToOwnPage } from '../views/pages.ts';
import type { UserRecord } from './users.ts';

// The one place a person becomes signed in, whatever proved who they are (a password today; an
// upstream identity provider or a second factor join here). Every way in ends in the same session,
// the same audit line and the same continuation of the authorization request.

/** How the person proved who they are, for the audit line. */
export interface SignInProof {
  /** 'password', or another method's name. */
  method: string;
  /** The account name a device cookie is kept for (the email for a password sign-in). */
  deviceAccount?: string | undefined;
  /**
   * Authentication methods an upstream identity provider asserted (its ID token's `amr`, OpenID
   * Connect Core section 2); a configured value there counts as the second factor.
   */
  amr?: string[] | undefined;
}

/** A device cookie for the account, and a fresh session id at every sign-in with the old one ended (session fixation). */
async function startSession(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, user: UserRecord, proof: SignInProof): Promise<void> {
  if (proof.deviceAccount) setDeviceCookie(app, reply, proof.deviceAccount);
  await deleteSession(app.ctx, sessionId(app, request));
  const session = await createSession(app.ctx, user.id);
  setSessionCookie(app, reply, session.id);
}

/** Where the person goes once signed in: on with a pending authorization request, or to one of our pages (a standalone sign-in). */
export type AfterSignIn = Pending | StandaloneSignIn;

/** A sign-in without an authorization request (GET /login alone): `next` is a path views/pages.ts nextPath() validated. */
export interface StandaloneSignIn {
  next: string;
}

/** Signs `user` in and continues the pending authorization request, or goes to `next` for a standalone sign-in. */
export async function completeSignIn(
  app: FastifyInstance, request: FastifyRequest, reply: FastifyReply,
  user: UserRecord, proof: SignInProof, then: AfterSignIn,
): Promise<FastifyReply> {
  await startSession(app, request, reply, user, proof);
  const pending = 'request' in then ? then : undefined;
  auditFlow(app, request, 'login.succeeded', { user: user.id, client: pending?.request.clientId, decision: 'allow', method: proof.method });
  if (!pending) return redirectToOwnPage(request, reply, (then as StandaloneSignIn).next);
  return continueAuthorization(app, request, reply, pending.request, user, { pendingId: pending.id, afterForm: true });
}
