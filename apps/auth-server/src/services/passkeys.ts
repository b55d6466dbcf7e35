import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type AuthenticatorTransport, type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON, type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { AppContext } from '../context.ts';
import type { PasskeyRecord } from '../store/index.ts';
import type { UserRecord } from './users.ts';

// Passkeys (WebAuthn Level 3, relying party operations §7.1 and §7.2) through @simplewebauthn/server.
// The relying party is the issuer: its host is the RP ID, its origin the only origin accepted.
// Challenges are random, kept server-side for CHALLENGE_SECONDS and spent by their first use.

/** How long a registration or sign-in ceremony may take. */
export const CHALLENGE_SECONDS = 5 * 60;
/** Passkeys one person may register. */
export const MAX_PASSKEYS = 20;
/** A response larger than this is not a passkey's (the form body limit applies first). */
const MAX_RESPONSE_CHARS = 64 * 1024;
const RP_NAME = 'Secure sign-in';

function relyingParty(ctx: AppContext): { rpID: string; origin: string } {
  const issuer = new URL(ctx.config.issuer);
  return { rpID: issuer.hostname, origin: issuer.origin };
}

async function keepChallenge(ctx: AppContext, challenge: string, userId: string, purpose: 'register' | 'authenticate'): Promise<void> {
  const t = ctx.now();
  await ctx.store.mfa.addChallenge({ challenge, userId, purpose, expiresAt: t + CHALLENGE_SECONDS * 1000 }, t);
}

/** The browser's JSON answer, or undefined when it is not one. */
function parseResponse<T>(json: string): T | undefined {
  if (!json || json.length > MAX_RESPONSE_CHARS) return undefined;
  try {
    const v = JSON.parse(json) as unknown;
    return v && typeof v === 'object' && typeof (v as { id?: unknown }).id === 'string' && typeof (v as { response?: unknown }).response === 'object' ? (v as T) : undefined;
  } catch {
    return undefined;
  }
}

/** Options for navigator.credentials.create(): user verification required, the person's passkeys excluded (§7.1). */
export async function registrationOptions(ctx: AppContext, user: UserRecord, existing: readonly PasskeyRecord[]): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const options = await generateRegistrationOptions({
    rpName: RP_NAME,
    rpID: relyingParty(ctx).rpID,
    userName: user.email,
    userID: new TextEncoder().encode(user.id),
    attestationType: 'none',
    excludeCredentials: existing.map((p) => ({ id: p.id, transports: p.transports as AuthenticatorTransport[] })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
    timeout: CHALLENGE_SECONDS * 1000,
  });
  await keepChallenge(ctx, options.challenge, user.id, 'register');
  return options;
}

export type PasskeyResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Verifies a registration (§7.1: the challenge this server issued to this person, unused and
 * unexpired; the origin and RP ID hash; user presence and verification; an acceptable algorithm)
 * and stores the credential, unless its id is registered already.
 */
export async function registerPasskey(ctx: AppContext, user: UserRecord, json: string, name: string): Promise<PasskeyResult<PasskeyRecord>> {
  const response = parseResponse<RegistrationResponseJSON>(json);
  if (!response) return { ok: false, reason: 'no passkey response' };
  if ((await ctx.store.mfa.passkeys(user.id)).length >= MAX_PASSKEYS) return { ok: false, reason: 'too many passkeys' };
  const { rpID, origin } = relyingParty(ctx);
  let info;
  try {
    const v = await verifyRegistrationResponse({
      response,
      expectedChallenge: (c) => ctx.store.mfa.takeChallenge(c, user.id, 'register', ctx.now()),
      expectedOrigin: origin,
      expectedRPID: rpID,
      requireUserVerification: true,
    });
    if (!v.verified) return { ok: false, reason: 'registration not verified' };
    info = v.registrationInfo;
  } catch (err) {
    return { ok: false, reason: (err as Error).message.slice(0, 200) };
  }
  const row: PasskeyRecord = {
    id: info.credential.id,
    userId: user.id,
    publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
    counter: info.credential.counter,
    transports: info.credential.transports ?? [],
    name,
    createdAt: ctx.now(),
    lastUsedAt: null,
  };
  // §7.1 step 26: a credential id registered already (to this person or another) is refused.
  if (!(await ctx.store.mfa.addPasskey(row))) return { ok: false, reason: 'credential already registered' };
  return { ok: true, value: row };
}

/** Options for navigator.credentials.get(): only this person's passkeys, user verification required (§7.2). */
export async function authenticationOptions(ctx: AppContext, userId: string, passkeys: readonly PasskeyRecord[]): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const options = await generateAuthenticationOptions({
    rpID: relyingParty(ctx).rpID,
    allowCredentials: passkeys.map((p) => ({ id: p.id, transports: p.transports as AuthenticatorTransport[] })),
    userVerification: 'required',
    timeout: CHALLENGE_SECONDS * 1000,
  });
  await keepChallenge(ctx, options.challenge, userId, 'authenticate');
  return options;
}

/**
 * Verifies a passkey sign-in (§7.2): the credential is one of this person's, the challenge is one
 * this server issued to them (unused, unexpired), origin, RP ID hash, user presence and
 * verification, the signature over authenticatorData and the client data hash, and the signature
 * counter: a counter that did not grow (when the authenticator keeps one) signals a cloned
 * authenticator and is refused. The new counter is stored only if no other use came first.
 */
export async function verifyPasskey(ctx: AppContext, userId: string, json: string): Promise<PasskeyResult<PasskeyRecord>> {
  const response = parseResponse<AuthenticationResponseJSON>(json);
  if (!response) return { ok: false, reason: 'no passkey response' };
  const passkey = await ctx.store.mfa.findPasskey(response.id);
  // §7.2 steps 5-6: the credential must be one of the person's (allowCredentials, userHandle).
  if (passkey?.userId !== userId) return { ok: false, reason: 'unknown passkey' };
  const { rpID, origin } = relyingParty(ctx);
  let newCounter: number;
  try {
    const v = await verifyAuthenticationResponse({
      response,
      expectedChallenge: (c) => ctx.store.mfa.takeChallenge(c, userId, 'authenticate', ctx.now()),
      expectedOrigin: origin,
      expectedRPID: rpID,
      credential: { id: passkey.id, publicKey: Buffer.from(passkey.publicKey, 'base64url'), counter: passkey.counter, transports: passkey.transports },
      requireUserVerification: true,
    });
    if (!v.verified) return { ok: false, reason: 'signature not verified' };
    newCounter = v.authenticationInfo.newCounter;
  } catch (err) {
    return { ok: false, reason: (err as Error).message.slice(0, 200) };
  }
  if (!(await ctx.store.mfa.usePasskey(passkey.id, passkey.counter, newCounter, ctx.now()))) return { ok: false, reason: 'passkey used concurrently' };
  return { ok: true, value: passkey };
}
