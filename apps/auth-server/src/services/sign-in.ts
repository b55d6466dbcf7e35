import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { auditFlow, continueAuthorization, type Pending } from './authorization-flow.ts';
import { sessionId, setDeviceCookie, setSessionCookie } from './page-cookies.ts';
import { createSession, deleteSession } from './sessions.ts';
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

/** Signs `user` in and continues the pending authorization request. */
export async function completeSignIn(
  app: FastifyInstance, request: FastifyRequest, reply: FastifyReply,
  user: UserRecord, proof: SignInProof, pending: Pending,
): Promise<FastifyReply> {
  await startSession(app, request, reply, user, proof);
  auditFlow(app, request, 'login.succeeded', { user: user.id, client: pending.request.clientId, decision: 'allow', method: proof.method });
  return continueAuthorization(app, request, reply, pending.request, user, { pendingId: pending.id, afterForm: true });
}
