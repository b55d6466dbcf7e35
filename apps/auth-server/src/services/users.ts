import { randomUUID } from 'node:crypto';
import argon2 from 'argon2';
import type { Role } from '@stack/oauth';
import type { AuthStore, UserRecord } from '../store/index.ts';
import type { Argon2Slots } from './argon2-slots.ts';

export type { UserRecord };

/** What hashing and checking passwords needs: the store and the app's (or CLI command's) argon2 slots. */
export interface PasswordContext {
  store: AuthStore;
  argon2: Argon2Slots;
}

// OWASP password storage cheat sheet minimum for argon2id: m=19 MiB, t=2, p=1 (~44 ms of CPU per
// verification on the bench machine). Kept modest, and argon2-slots.ts bounds how many run at once,
// so a login storm cannot starve libuv's thread pool.
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/**
 * Verified against when the email is unknown, so a miss costs the same time as a wrong password. A
 * constant, made with ARGON2_OPTIONS (a test checks they still match), so even the first miss of a
 * process costs no extra hash. The password it was made from does not matter: the result is ignored.
 */
export const DUMMY_PASSWORD_HASH = '$argon2id$v=19$m=19456,p=1,t=2$VxM3oqZJET31tXYf+zf1CA$HrD4YVL9oyM3xoSV+c1kVEJjJ+kgH0spskXrKCChTsI';

/** Normalises an email for lookup and uniqueness. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Hashes a password with argon2id (server-generated client secrets: client-secrets.ts). */
export function hashSecret(slots: Argon2Slots, secret: string): Promise<string> {
  return slots.run(() => argon2.hash(secret, ARGON2_OPTIONS));
}

/** Number of users (used at start to tell the operator to create the first admin). */
export function countUsers(store: AuthStore): Promise<number> {
  return store.users.count();
}

export function findUserById(store: AuthStore, id: string): Promise<UserRecord | undefined> {
  return store.users.findById(id);
}

export function findUserByEmail(store: AuthStore, email: string): Promise<UserRecord | undefined> {
  return store.users.findByEmail(normaliseEmail(email));
}

/** Why a new password is refused (the same rules for `users add`, the account page and reset links), or undefined. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 12) return 'password must be at least 12 characters';
  if (password.length > 1024) return 'password must be at most 1024 characters';
  return undefined;
}

/** Creates a user; throws if the email is taken or the password is shorter than 12 characters. */
export async function createUser(ctx: PasswordContext, input: { email: string; password: string; role: Role }, now = Date.now()): Promise<UserRecord> {
  const email = normaliseEmail(input.email);
  if (!/^[^\s@]{1,64}@[^\s@]{1,255}$/.test(email)) throw new TypeError('email is not a valid address');
  const problem = passwordProblem(input.password);
  if (problem) throw new TypeError(problem);
  const taken = () => new TypeError(`a user with email ${email} already exists`);
  if (await ctx.store.users.findByEmail(email)) throw taken();
  const row = { id: randomUUID(), email, passwordHash: await hashSecret(ctx.argon2, input.password), role: input.role, createdAt: now, disabledAt: null };
  // The unique index decides a race between two creations of the same email.
  if (!(await ctx.store.users.insert(row))) throw taken();
  return row;
}

/**
 * Checks an email and password. Returns the user only when both match and the user is enabled;
 * an unknown email still costs one argon2 verification, so timing does not reveal which emails exist.
 */
export async function verifyPassword(ctx: PasswordContext, email: string, password: string): Promise<UserRecord | undefined> {
  const user = email.length <= 320 ? await findUserByEmail(ctx.store, email) : undefined;
  if (password.length > 1024) return undefined;
  if (!user) {
    // Only argon2's own errors mean "no match"; a full queue (503) propagates.
    await ctx.argon2.run(() => argon2.verify(DUMMY_PASSWORD_HASH, password).catch(() => false));
    return undefined;
  }
  const ok = await ctx.argon2.run(() => argon2.verify(user.passwordHash, password).catch(() => false));
  return ok && user.disabledAt === null ? user : undefined;
}

/** Checks a user's current password (the account page's password change); false when it is wrong or too long. */
export async function checkCurrentPassword(ctx: PasswordContext, user: UserRecord, password: string): Promise<boolean> {
  if (password.length > 1024) return false;
  return ctx.argon2.run(() => argon2.verify(user.passwordHash, password).catch(() => false));
}

/**
 * Sets a new password (checked by passwordProblem: throws TypeError) and ends the user's sessions
 * except `keepSession` (an id hash); returns how many sessions ended.
 */
export async function setPassword(ctx: PasswordContext, userId: string, password: string, keepSession?: string): Promise<number> {
  const problem = passwordProblem(password);
  if (problem) throw new TypeError(problem);
  return ctx.store.users.setPassword(userId, await hashSecret(ctx.argon2, password), keepSession);
}
