import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PageError, sendPage } from '../views/render.ts';
import { auditFlow, signedInUser } from './authorization-flow.ts';
import { sendRecoveryCodes, totpSetup } from './mfa-pages.ts';
import { registrationOptions } from './passkeys.ts';
import { enrolledFactors, hasSecondFactor, mfaRequiredFor, recoveryCodesForFirstFactor, type FactorMethod } from './second-factor.ts';
import type { UserRecord } from './users.ts';

// /account/security and its forms: a signed-in person's authenticator app, passkeys and recovery codes.

/** The signed-in person, or a page saying to sign in first (every change here needs the current session). */
export async function requireAccountUser(app: FastifyInstance, request: FastifyRequest): Promise<UserRecord> {
  const user = await signedInUser(app, request);
  if (!user) {
    throw new PageError(401, 'Sign in first', 'This page is for a signed-in person. Sign in through an application, then open it again.');
  }
  return user;
}

const day = (t: number) => new Date(t).toISOString().slice(0, 10);

export async function sendSecurityPage(
  app: FastifyInstance, reply: FastifyReply, user: UserRecord, o: { notice?: string; error?: string; status?: number } = {},
): Promise<FastifyReply> {
  const csrf = reply.generateCsrf();
  const factors = await enrolledFactors(app.ctx, user.id);
  const setup = factors.totp ? undefined : await totpSetup(app, user, 'totp', csrf);
  const passkeyOptions = JSON.stringify(await registrationOptions(app.ctx, user, factors.passkeys));
  return sendPage(reply, 'account-security', {
    title: 'Sign-in security',
    scripts: true,
    email: user.email,
    signedIn: user.email,
    notice: o.notice,
    error: o.error,
    required: mfaRequiredFor(app.ctx, user.role),
    totp: factors.totp,
    totpSetup: setup,
    passkeys: factors.passkeys.map((p) => ({ id: p.id, name: p.name, added: day(p.createdAt), lastUsed: p.lastUsedAt === null ? undefined : day(p.lastUsedAt) })),
    passkeyOptions,
    hasFactor: hasSecondFactor(factors),
    recoveryCodes: factors.recoveryCodes,
    csrf,
  }, { status: o.status ?? 200, scripts: true });
}

/** A factor was added from the account page: the first one's recovery codes are shown once, else the page says so. */
export async function afterAccountEnrollment(
  app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, user: UserRecord, method: FactorMethod, hadFactor: boolean,
): Promise<FastifyReply> {
  auditFlow(app, request, 'mfa.enrolled', { user: user.id, method, decision: 'allow' });
  const codes = await recoveryCodesForFirstFactor(app.ctx, user.id, hadFactor);
  if (codes) return sendRecoveryCodes(reply, codes);
  return sendSecurityPage(app, reply, user, { notice: method === 'totp' ? 'The authenticator app is on.' : 'The passkey was added.' });
}
