import type { Role } from '@stack/oauth';
import type { StackConfig } from '@stack/stack-config';
import type { AuthStore, DeletedUser, RevokedGrants, UserSummary } from '../store/index.ts';
import { createResetLink } from './password-resets.ts';
import { findUserByEmail, setPassword, type PasswordContext } from './users.ts';

export type { DeletedUser, RevokedGrants, UserSummary };

function summary(user: UserSummary & { passwordHash?: string }): UserSummary {
  const { passwordHash: _, ...rest } = user;
  return rest;
}

/** All users, oldest first, without password hashes. */
export function listUsers(store: AuthStore): Promise<UserSummary[]> {
  return store.users.list();
}

/** The new role may be granted less than the old one (an old role the file no longer declares counts as a loss: its scopes are unknown). */
function isDowngrade(stack: StackConfig, from: Role, to: Role): boolean {
  if (!stack.roles.includes(from)) return true;
  const allowed = stack.scopesForRole(to);
  return stack.scopesForRole(from).some((s) => !allowed.includes(s));
}

/**
 * Changes a user's role (one the stack file declares: the caller checks). When the new role loses
 * scopes, the user's sessions and tokens are revoked in the same step, because tokens already
 * issued carry scopes the role no longer allows. Returns undefined if no such user.
 */
export async function setUserRole(store: AuthStore, stack: StackConfig, email: string, role: Role, now = Date.now()): Promise<{ user: UserSummary; previous: Role; revoked?: RevokedGrants } | undefined> {
  const user = await findUserByEmail(store, email);
  if (!user) return undefined;
  const previous = user.role;
  const revoked = await store.users.setRole(user.id, role, isDowngrade(stack, previous, role) ? now : undefined);
  const { passwordHash: _, ...rest } = user;
  return { user: { ...rest, role }, previous, ...(revoked ? { revoked } : {}) };
}

/**
 * Disables a user: they can no longer sign in (verifyPassword refuses them), and their sessions,
 * refresh tokens and unexpired access tokens are revoked. Returns undefined if no such user.
 */
export async function disableUser(store: AuthStore, email: string, now = Date.now()): Promise<{ user: UserSummary; alreadyDisabled: boolean; revoked: RevokedGrants } | undefined> {
  const user = await findUserByEmail(store, email);
  if (!user) return undefined;
  const disabledAt = user.disabledAt ?? now;
  // Revoke even when already disabled: tokens could have been issued by a race with the first disable.
  const revoked = await store.users.disable(user.id, disabledAt, now);
  const { passwordHash: _, ...rest } = user;
  return { user: { ...rest, disabledAt }, alreadyDisabled: user.disabledAt !== null, revoked };
}

/** Re-enables a disabled user (revoked tokens stay revoked). Returns undefined if no such user. */
export async function enableUser(store: AuthStore, email: string): Promise<{ user: UserSummary; wasDisabled: boolean } | undefined> {
  const user = await findUserByEmail(store, email);
  if (!user) return undefined;
  await store.users.enable(user.id);
  const { passwordHash: _, ...rest } = user;
  return { user: { ...rest, disabledAt: null }, wasDisabled: user.disabledAt !== null };
}

/** Sets a user's password (the same rules as `users add`; throws TypeError) and ends all their sessions. Undefined if no such user. */
export async function setUserPassword(ctx: PasswordContext, email: string, password: string): Promise<{ user: UserSummary; sessions: number } | undefined> {
  const user = await findUserByEmail(ctx.store, email);
  if (!user) return undefined;
  return { user: summary(user), sessions: await setPassword(ctx, user.id, password) };
}

/** A single-use reset link for the user, valid for 30 minutes (password-resets.ts). Undefined if no such user. */
export async function userResetLink(store: AuthStore, issuer: string, email: string, now = Date.now()): Promise<{ user: UserSummary; url: string; expiresAt: number } | undefined> {
  const user = await findUserByEmail(store, email);
  if (!user) return undefined;
  return { user: summary(user), ...(await createResetLink(store, issuer, user.id, now)) };
}

/** Deletes a user with everything that is theirs; their tokens are revoked. Undefined if no such user. */
export async function deleteUser(store: AuthStore, email: string, now = Date.now()): Promise<{ user: UserSummary; deleted: DeletedUser } | undefined> {
  const user = await findUserByEmail(store, email);
  if (!user) return undefined;
  return { user: summary(user), deleted: await store.users.delete(user.id, now) };
}
