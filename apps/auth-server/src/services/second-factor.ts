import type { AppContext } from '../context.ts';
import type { PasskeyRecord } from '../store/index.ts';
import { issueRecoveryCodes, spendRecoveryCode } from './recovery-codes.ts';
import { matchingStep, newTotpSecret, openTotpSecret, sealTotpSecret } from './totp.ts';
import type { UserRecord } from './users.ts';

// Which second factor a sign-in needs, and the checks of TOTP codes and recovery codes (passkeys
// are in passkeys.ts). Pages call these; the limits on attempts are the caller's (mfa-limiter.ts).

export type FactorMethod = 'totp' | 'passkey' | 'recovery_code';

export interface EnrolledFactors {
  /** A confirmed TOTP authenticator. */
  totp: boolean;
  passkeys: PasskeyRecord[];
  /** Recovery codes not yet used. */
  recoveryCodes: number;
}

export async function enrolledFactors(ctx: AppContext, userId: string): Promise<EnrolledFactors> {
  const [totp, passkeys, recoveryCodes] = await Promise.all([ctx.store.mfa.totp(userId), ctx.store.mfa.passkeys(userId), ctx.store.mfa.unusedRecoveryCodes(userId)]);
  return { totp: totp?.confirmedAt != null, passkeys, recoveryCodes };
}

/** Recovery codes only stand in for a factor: a person has a second factor with TOTP or a passkey. */
export const hasSecondFactor = (f: EnrolledFactors): boolean => f.totp || f.passkeys.length > 0;

/** Whether the stack file (mfa.required_roles) requires a second factor of this role. */
export const mfaRequiredFor = (ctx: AppContext, role: string): boolean => ctx.stack.current().mfa.requiredRoles.includes(role);

/** Whether an upstream provider's `amr` holds a value the stack file trusts as a second factor (mfa.trust_federated_amr). */
export function upstreamMfaTrusted(ctx: AppContext, amr: readonly string[] | undefined): boolean {
  const trusted = ctx.stack.current().mfa.trustFederatedAmr;
  return amr !== undefined && amr.some((v) => trusted.includes(v));
}

/**
 * After the first factor: 'none' (sign in now: no factor enrolled and none required, or the upstream
 * provider did the second factor), 'verify' (a factor is enrolled: it must be passed) or 'enroll'
 * (the role requires one and there is none: enroll before going on).
 */
export async function secondFactorStep(ctx: AppContext, user: UserRecord, amr: readonly string[] | undefined): Promise<'none' | 'verify' | 'enroll'> {
  if (upstreamMfaTrusted(ctx, amr)) return 'none';
  if (hasSecondFactor(await enrolledFactors(ctx, user.id))) return 'verify';
  return mfaRequiredFor(ctx, user.role) ? 'enroll' : 'none';
}

export type CodeCheck = 'ok' | 'wrong' | 'replayed';

/**
 * Checks a TOTP code: it must be the code of a step within ±1 of now (RFC 6238 §5.2), and a step
 * later than the last one accepted, so a code (or an older one) is accepted once only.
 */
export async function checkTotp(ctx: AppContext, userId: string, code: string): Promise<CodeCheck> {
  const row = await ctx.store.mfa.totp(userId);
  if (row?.confirmedAt == null) return 'wrong';
  const step = matchingStep(openTotpSecret(ctx, userId, row.secretEnvelope), code.trim(), ctx.now());
  if (step === undefined) return 'wrong';
  return (await ctx.store.mfa.useTotpStep(userId, step)) ? 'ok' : 'replayed';
}

export async function checkRecoveryCode(ctx: AppContext, userId: string, code: string): Promise<CodeCheck> {
  return (await spendRecoveryCode(ctx, userId, code)) ? 'ok' : 'wrong';
}

/**
 * The secret of the TOTP enrollment under way (the same one while it waits for its first code, so a
 * reloaded page shows what the app already holds), or a new one. Undefined when TOTP is already set up.
 */
export async function enrollmentSecret(ctx: AppContext, userId: string): Promise<string | undefined> {
  const row = await ctx.store.mfa.totp(userId);
  if (row?.confirmedAt != null) return undefined;
  if (row) return openTotpSecret(ctx, userId, row.secretEnvelope);
  const secret = newTotpSecret();
  const t = ctx.now();
  return (await ctx.store.mfa.startTotp({ userId, secretEnvelope: sealTotpSecret(ctx, userId, secret), createdAt: t, confirmedAt: null, lastStep: null })) ? secret : undefined;
}

/** Confirms the TOTP enrollment under way with its first valid code; false for a wrong code or none under way. */
export async function confirmTotp(ctx: AppContext, userId: string, code: string): Promise<boolean> {
  const row = await ctx.store.mfa.totp(userId);
  if (!row || row.confirmedAt !== null) return false;
  const step = matchingStep(openTotpSecret(ctx, userId, row.secretEnvelope), code.trim(), ctx.now());
  return step !== undefined && ctx.store.mfa.confirmTotp(userId, step, ctx.now());
}

/**
 * After a factor was added: the first one comes with new recovery codes (returned to be shown once);
 * a person who already had a factor keeps theirs (undefined).
 */
export function recoveryCodesForFirstFactor(ctx: AppContext, userId: string, hadFactor: boolean): Promise<string[] | undefined> {
  return hadFactor ? Promise.resolve(undefined) : issueRecoveryCodes(ctx, userId);
}

/**
 * Whether one factor may be removed: not the last one of a person whose role requires a second
 * factor. With the last one gone the recovery codes go too (they stand in for a factor only).
 */
export function mayRemoveFactor(ctx: AppContext, user: UserRecord, f: EnrolledFactors): boolean {
  const remaining = Number(f.totp) + f.passkeys.length - 1;
  return remaining > 0 || !mfaRequiredFor(ctx, user.role);
}

/** After a removal: no factor left, no recovery codes either. */
export async function dropRecoveryCodesIfNoFactor(ctx: AppContext, userId: string): Promise<void> {
  if (!hasSecondFactor(await enrolledFactors(ctx, userId))) await ctx.store.mfa.deleteRecoveryCodes(userId);
}
