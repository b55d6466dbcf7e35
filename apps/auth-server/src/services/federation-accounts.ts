import { randomUUID } from 'node:crypto';
import type { IdentityProvider } from '@stack/stack-config';
import type { AppContext } from '../context.ts';
import type { RevokedGrants } from '../store/index.ts';
import { setUserRole } from './user-admin.ts';
import { findUserByEmail, findUserById, normaliseEmail, type UserRecord } from './users.ts';

/**
 * The local account an upstream sign-in is for: the one linked to (provider, subject); else, for a
 * verified email, an existing account with that email (linked now) or a new one (just-in-time).
 * An unverified email never links to nor creates an account: whoever controls it at the provider
 * would otherwise get in as its owner here. The role the rules gave is set at every sign-in; a
 * lowered role ends the account's sessions and tokens, as `users set-role` does.
 */

/** Who the provider says signed in. */
export interface UpstreamIdentity {
  subject: string;
  email: string | undefined;
  emailVerified: boolean;
}

/** A password hash no password matches: accounts made by a provider sign in through it only. */
export const NO_PASSWORD = '';

export type FederatedAccount =
  | { ok: true; user: UserRecord; how: 'linked' | 'email-linked' | 'created'; previousRole?: string | undefined; revoked?: RevokedGrants | undefined }
  | { ok: false; reason: string; user?: string | undefined; title: string; message: string };

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

export async function federatedAccount(ctx: AppContext, provider: IdentityProvider, who: UpstreamIdentity, role: string, retried = false): Promise<FederatedAccount> {
  const linkedId = await ctx.store.federatedIdentities.findUserId(provider.slug, who.subject);
  let user = linkedId === undefined ? undefined : await findUserById(ctx.store, linkedId);
  let how: 'linked' | 'email-linked' | 'created' = 'linked';
  const email = who.email === undefined ? undefined : normaliseEmail(who.email);
  if (!user) {
    if (email === undefined || !EMAIL.test(email)) {
      return { ok: false, reason: 'no email from the provider', title: 'Your account has no email address', message: `${provider.name} did not share an email address for your account, so no account can be made for you here. Ask your administrator.` };
    }
    const existing = await findUserByEmail(ctx.store, email);
    if (!who.emailVerified) {
      return existing
        ? { ok: false, reason: 'unverified email matches a local account', user: existing.id, title: 'Your email address is not verified', message: `An account with this email address already exists here, but ${provider.name} has not verified that the address is yours, so it cannot be used to sign in to it. Verify the address at ${provider.name}, or sign in another way.` }
        : { ok: false, reason: 'unverified email', title: 'Your email address is not verified', message: `${provider.name} has not verified your email address, so no account can be made for you here. Verify the address at ${provider.name} and try again.` };
    }
    const now = ctx.now();
    if (existing) {
      // Linked once; later sign-ins find the account by the subject, whatever the email becomes.
      await ctx.store.federatedIdentities.link({ provider: provider.slug, subject: who.subject, userId: existing.id, createdAt: now });
      user = existing;
      how = 'email-linked';
    } else {
      const row: UserRecord = { id: randomUUID(), email, passwordHash: NO_PASSWORD, role, createdAt: now, disabledAt: null };
      if (await ctx.store.federatedIdentities.provision(row, { provider: provider.slug, subject: who.subject, userId: row.id, createdAt: now })) {
        return { ok: true, user: row, how: 'created' };
      }
      // Made by a sign-in running at the same moment: that account is the one (looked up once more).
      if (!retried) return federatedAccount(ctx, provider, who, role, true);
      return { ok: false, reason: 'account could not be created', title: 'Your account could not be created', message: 'Try again in a moment.' };
    }
  }
  if (user.disabledAt !== null) {
    return { ok: false, reason: 'user disabled', user: user.id, title: 'Your account is disabled', message: 'This account has been disabled. Ask your administrator.' };
  }
  if (user.role === role) return { ok: true, user, how };
  const changed = await setUserRole(ctx.store, ctx.stack.current(), user.email, role, ctx.now());
  return { ok: true, user: { ...user, role }, how, previousRole: user.role, revoked: changed?.revoked };
}
