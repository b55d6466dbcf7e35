import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PageError } from '../views/render.ts';
import { nextPath, redirectToOwnPage } from '../views/pages.ts';
import { auditFlow, continueAuthorization, pendingRequest, type Pending } from './authorization-flow.ts';
import { clearHalfSignIn, holdHalfSignIn, type HalfSignIn } from './half-sign-in.ts';
import { sessionId, setDeviceCookie, setSessionCookie } from './page-cookies.ts';
import { secondFactorStep, upstreamMfaTrusted } from './second-factor.ts';
import { createSession, deleteSession } from './sessions.ts';
import type { UserRecord } from './users.ts';

// The one place a person becomes signed in, whatever proved who they are (a password, an upstream
// identity provider). Every way in ends in the same session, the same audit line and the same
// continuation of the authorization request. Between the first factor and the session sits the
// second factor when the person has one or their role requires one.

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
async function startSession(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, user: UserRecord, proof: SignInProof, secondFactor: string | undefined): Promise<void> {
  if (proof.deviceAccount) setDeviceCookie(app, reply, proof.deviceAccount);
  await deleteSession(app.ctx, sessionId(app, request));
  const session = await createSession(app.ctx, user.id, secondFactor);
  setSessionCookie(app, reply, session.id);
}

/** Where the person goes once signed in: on with a pending authorization request, or to one of our pages (a standalone sign-in). */
export type AfterSignIn = Pending | StandaloneSignIn;

/** A sign-in without an authorization request (GET /login alone): `next` is a path views/pages.ts nextPath() validated. */
export interface StandaloneSignIn {
  next: string;
}

async function signedIn(
  app: FastifyInstance, request: FastifyRequest, reply: FastifyReply,
  user: UserRecord, proof: SignInProof, then: AfterSignIn, secondFactor: string | undefined,
): Promise<FastifyReply> {
  await startSession(app, request, reply, user, proof, secondFactor);
  const pending = 'request' in then ? then : undefined;
  auditFlow(app, request, 'login.succeeded', { user: user.id, client: pending?.request.clientId, decision: 'allow', method: proof.method, mfa: secondFactor });
  if (!pending) return redirectToOwnPage(request, reply, (then as StandaloneSignIn).next);
  return continueAuthorization(app, request, reply, pending.request, user, { pendingId: pending.id, afterForm: true });
}

/**
 * Signs `user` in and continues the pending authorization request, or goes to `next` for a
 * standalone sign-in; or, when a second factor is needed, holds a half sign-in in this browser (no
 * session yet) and sends it to /login/mfa, or to /login/enroll when the role requires a factor the
 * person has not set up.
 */
export async function completeSignIn(
  app: FastifyInstance, request: FastifyRequest, reply: FastifyReply,
  user: UserRecord, proof: SignInProof, then: AfterSignIn,
): Promise<FastifyReply> {
  const step = await secondFactorStep(app.ctx, user, proof.amr);
  // A second factor the upstream provider did (a trusted amr value) is recorded as such in the audit line.
  if (step === 'none') return signedIn(app, request, reply, user, proof, then, upstreamMfaTrusted(app.ctx, proof.amr) ? 'federated_amr' : undefined);
  const pending = 'request' in then ? then : undefined;
  holdHalfSignIn(app, reply, { userId: user.id, method: proof.method, deviceAccount: proof.deviceAccount, pendingId: pending?.id, next: pending ? undefined : (then as StandaloneSignIn).next });
  auditFlow(app, request, 'login.second_factor_needed', { user: user.id, client: pending?.request.clientId, method: proof.method, step });
  return redirectToOwnPage(request, reply, step === 'enroll' ? '/login/enroll' : '/login/mfa');
}

/** The person of a half sign-in, or a page saying to start again (disabled since the first factor, or gone). */
export async function halfSignInUser(app: FastifyInstance, half: HalfSignIn): Promise<UserRecord> {
  const user = await app.ctx.store.users.findById(half.userId);
  if (!user || user.disabledAt !== null) throw new PageError(403, 'You cannot sign in', 'This account cannot sign in. Contact your administrator.');
  return user;
}

/** The second factor of a half sign-in passed (`method`): the session starts and the sign-in goes on where it was headed. */
export async function completeSecondFactor(
  app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, half: HalfSignIn, method: string,
): Promise<FastifyReply> {
  const user = await halfSignInUser(app, half);
  const then: AfterSignIn = half.pendingId ? await pendingRequest(app, request, half.pendingId) : { next: half.next ?? '/account' };
  clearHalfSignIn(app, reply);
  return signedIn(app, request, reply, user, { method: half.method, deviceAccount: half.deviceAccount }, then, method);
}

/** The pending request a login form or link names, or, without one, a standalone sign-in going to `next`. */
export async function signInTarget(app: FastifyInstance, request: FastifyRequest, params: Record<string, unknown>): Promise<AfterSignIn> {
  if (params.request === undefined) return { next: nextPath(params.next) };
  return pendingRequest(app, request, params.request);
}
