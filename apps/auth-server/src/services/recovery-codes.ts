import { randomInt } from 'node:crypto';
import { tokenHash } from '@stack/crypto';
import type { AppContext } from '../context.ts';

/** How many one-time recovery codes a person gets at a time. */
export const RECOVERY_CODE_COUNT = 10;
// 16 characters of a 32-letter alphabet without look-alikes (0/o, 1/l/i): 80 bits each, so their
// SHA-256 alone protects them at rest (no dictionary to try); read and typed as 4 groups of 4.
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const GROUPS = 4;
const GROUP_LENGTH = 4;

const normalise = (code: string) => code.toLowerCase().replace(/[\s-]/g, '');
const hashOf = (userId: string, code: string) => tokenHash(`recovery-code:${userId}:${normalise(code)}`);

function newCode(): string {
  const groups = Array.from({ length: GROUPS }, () => Array.from({ length: GROUP_LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join(''));
  return groups.join('-');
}

/** Replaces the user's recovery codes with new ones and returns them: shown once, only their hashes are kept. */
export async function issueRecoveryCodes(ctx: AppContext, userId: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newCode);
  await ctx.store.mfa.replaceRecoveryCodes(userId, codes.map((c) => hashOf(userId, c)), ctx.now());
  return codes;
}

/** Spends one unused recovery code of the user: true once per code (the store's conditional update). */
export function spendRecoveryCode(ctx: AppContext, userId: string, code: string): Promise<boolean> {
  const n = normalise(code);
  if (n.length !== GROUPS * GROUP_LENGTH || [...n].some((c) => !ALPHABET.includes(c))) return Promise.resolve(false);
  return ctx.store.mfa.useRecoveryCode(userId, hashOf(userId, n), ctx.now());
}
