import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { cspOrigin, PageError, sendMessage, sendPage } from '../views/render.ts';
import { auditFlow, pendingRequest } from './authorization-flow.ts';
import { halfSignIn, holdHalfSignIn, type HalfSignIn } from './half-sign-in.ts';
import { authenticationOptions, registrationOptions } from './passkeys.ts';
import { issueRecoveryCodes } from './recovery-codes.ts';
import { enrolledFactors, enrollmentSecret, hasSecondFactor, type FactorMethod } from './second-factor.ts';
import { halfSignInUser } from './sign-in.ts';
import { qrSvg, totpUri } from './totp.ts';
import type { UserRecord } from './users.ts';

// What the second-factor pages (/login/mfa, /login/enroll, /account/security) share: the half sign-in
// they need, the TOTP set-up block, passkey names and the lockout page.

/** This browser's half sign-in, or a page saying to start again. */
export function requireHalfSignIn(app: FastifyInstance, request: FastifyRequest): HalfSignIn {
  const half = halfSignIn(app, request);
  if (!half) {
    throw new PageError(400, 'This sign-in has expired',
      'The second step must follow the password within 5 minutes. Go back to the application and sign in again.');
  }
  return half;
}

/** The form-action origin a page needs when its form may end at the client (remembered consent). */
async function clientOrigins(app: FastifyInstance, request: FastifyRequest, half: HalfSignIn): Promise<string[]> {
  if (!half.pendingId) return [];
  const { request: req } = await pendingRequest(app, request, half.pendingId);
  const origin = cspOrigin(req.redirectUri);
  return origin ? [origin] : [];
}

/** The TOTP set-up block (totp-setup.eta): QR code, key and confirmation form; undefined when TOTP is on already. */
export async function totpSetup(app: FastifyInstance, user: UserRecord, action: string, csrf: string): Promise<Record<string, unknown> | undefined> {
  const secret = await enrollmentSecret(app.ctx, user.id);
  if (!secret) return undefined;
  const uri = totpUri(new URL(app.ctx.config.issuer).host, user.email, secret);
  return { qrSvg: qrSvg(uri), uri, secretGroups: secret.replace(/(.{4})/g, '$1 ').trim(), action, csrf };
}

/** The second-factor form of a half sign-in: a TOTP code, a passkey, or a recovery code. */
export async function sendMfaPage(
  app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, half: HalfSignIn, user: UserRecord, error?: string,
): Promise<FastifyReply> {
  const factors = await enrolledFactors(app.ctx, user.id);
  const passkeyOptions = factors.passkeys.length ? JSON.stringify(await authenticationOptions(app.ctx, user.id, factors.passkeys)) : undefined;
  const scripts = passkeyOptions !== undefined;
  return sendPage(reply, 'mfa', {
    title: 'Two-step verification', scripts, email: user.email, totp: factors.totp, passkeyOptions, csrf: reply.generateCsrf(), error,
  }, { formOrigins: await clientOrigins(app, request, half), scripts });
}

/** The enrollment a role that requires a second factor must go through: an authenticator app or a passkey. */
export async function sendEnrollPage(
  app: FastifyInstance, reply: FastifyReply, user: UserRecord, error?: string,
): Promise<FastifyReply> {
  const csrf = reply.generateCsrf();
  const setup = await totpSetup(app, user, 'enroll', csrf);
  const passkeyOptions = JSON.stringify(await registrationOptions(app.ctx, user, []));
  return sendPage(reply, 'enroll', { title: 'Set up two-step verification', scripts: true, email: user.email, totpSetup: setup, passkeyOptions, csrf, error }, { scripts: true });
}

/** Recovery codes, shown once; during a sign-in with the form that goes on. */
export function sendRecoveryCodes(reply: FastifyReply, codes: readonly string[], continueAction?: string): FastifyReply {
  return sendPage(reply, 'recovery-codes', { title: 'Save your recovery codes', codes, continueAction, csrf: continueAction ? reply.generateCsrf() : undefined });
}

/** The second factor is locked after too many wrong attempts: how long to wait (Retry-After, RFC 6585 §4). */
export function sendMfaLocked(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, userId: string, retryAfter: number): FastifyReply {
  auditFlow(app, request, 'mfa.rate_limited', { user: userId, decision: 'deny', reason: 'too many failed second-factor attempts' });
  const minutes = Math.max(1, Math.ceil(retryAfter / 60));
  reply.header('retry-after', String(retryAfter));
  return sendMessage(reply, 429, {
    title: 'Too many attempts',
    message: `Too many wrong codes or passkey attempts for this account. Wait ${minutes} minute${minutes === 1 ? '' : 's'}, then sign in again.`,
  });
}

/** A passkey's label as typed (at most 64 characters, no control characters), or one naming the date. */
export function passkeyName(app: FastifyInstance, raw: string | undefined): string {
  // eslint-disable-next-line no-control-regex -- control characters are what this removes
  const name = (raw ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 64);
  return name || `Passkey added ${new Date(app.ctx.now()).toISOString().slice(0, 10)}`;
}

/**
 * The half sign-in of a person who must enroll: one with no second factor yet. Whoever has a factor
 * passes it at /login/mfa; enrolling another here would skip it.
 */
export async function requireEnrollment(app: FastifyInstance, request: FastifyRequest): Promise<{ half: HalfSignIn; user: UserRecord }> {
  const half = requireHalfSignIn(app, request);
  const user = await halfSignInUser(app, half);
  if (half.passed !== undefined || hasSecondFactor(await enrolledFactors(app.ctx, user.id))) {
    throw new PageError(400, 'Two-step verification is set up', 'This account has a second step already. Go back to the application and sign in again to use it.');
  }
  return { half, user };
}

/** A factor was enrolled during a sign-in: the second step is passed; its recovery codes are shown before the sign-in goes on. */
export async function afterSignInEnrollment(
  app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, half: HalfSignIn, user: UserRecord, method: FactorMethod,
): Promise<FastifyReply> {
  auditFlow(app, request, 'mfa.enrolled', { user: user.id, method, decision: 'allow' });
  const codes = await issueRecoveryCodes(app.ctx, user.id);
  holdHalfSignIn(app, reply, { userId: half.userId, method: half.method, deviceAccount: half.deviceAccount, pendingId: half.pendingId, passed: method });
  return sendRecoveryCodes(reply, codes, 'continue');
}
