import { and, asc, count, eq, gt, isNull, lt, or } from 'drizzle-orm';
import { pgAuthSchema, type PgAuthDb } from '@stack/db/pg';
import type { MfaRepo } from '../types.ts';

const { totpFactors, recoveryCodes, passkeys, webauthnChallenges } = pgAuthSchema;

export function pgMfa(db: PgAuthDb): MfaRepo {
  return {
    async totp(userId) {
      return (await db.select().from(totpFactors).where(eq(totpFactors.userId, userId)).limit(1))[0];
    },
    async startTotp(row) {
      return db.transaction(async (tx) => {
        await tx.delete(totpFactors).where(and(eq(totpFactors.userId, row.userId), isNull(totpFactors.confirmedAt)));
        return (await tx.insert(totpFactors).values(row).onConflictDoNothing()).rowCount === 1;
      });
    },
    async confirmTotp(userId, step, now) {
      return (await db.update(totpFactors).set({ confirmedAt: now, lastStep: step })
        .where(and(eq(totpFactors.userId, userId), isNull(totpFactors.confirmedAt)))).rowCount === 1;
    },
    async useTotpStep(userId, step) {
      return (await db.update(totpFactors).set({ lastStep: step })
        .where(and(eq(totpFactors.userId, userId), or(isNull(totpFactors.lastStep), lt(totpFactors.lastStep, step))))).rowCount === 1;
    },
    async deleteTotp(userId) {
      return (await db.delete(totpFactors).where(eq(totpFactors.userId, userId))).rowCount === 1;
    },
    async totpEnvelopes() {
      return db.select({ userId: totpFactors.userId, secretEnvelope: totpFactors.secretEnvelope }).from(totpFactors);
    },
    async setTotpEnvelopes(updates) {
      await db.transaction(async (tx) => {
        for (const u of updates) await tx.update(totpFactors).set({ secretEnvelope: u.secretEnvelope }).where(eq(totpFactors.userId, u.userId));
      });
    },
    async replaceRecoveryCodes(userId, hashes, now) {
      await db.transaction(async (tx) => {
        await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
        if (hashes.length) await tx.insert(recoveryCodes).values(hashes.map((codeHash) => ({ userId, codeHash, createdAt: now, usedAt: null })));
      });
    },
    async useRecoveryCode(userId, hash, now) {
      return (await db.update(recoveryCodes).set({ usedAt: now })
        .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeHash, hash), isNull(recoveryCodes.usedAt)))).rowCount === 1;
    },
    async unusedRecoveryCodes(userId) {
      return (await db.select({ n: count() }).from(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt))))[0]?.n ?? 0;
    },
    async deleteRecoveryCodes(userId) {
      await db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
    },
    async passkeys(userId) {
      return db.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(asc(passkeys.createdAt), asc(passkeys.id));
    },
    async findPasskey(id) {
      return (await db.select().from(passkeys).where(eq(passkeys.id, id)).limit(1))[0];
    },
    async addPasskey(row) {
      return (await db.insert(passkeys).values(row).onConflictDoNothing()).rowCount === 1;
    },
    async usePasskey(id, from, counter, now) {
      return (await db.update(passkeys).set({ counter, lastUsedAt: now }).where(and(eq(passkeys.id, id), eq(passkeys.counter, from)))).rowCount === 1;
    },
    async deletePasskey(userId, id) {
      return (await db.delete(passkeys).where(and(eq(passkeys.userId, userId), eq(passkeys.id, id)))).rowCount === 1;
    },
    async addChallenge(row, now) {
      await db.transaction(async (tx) => {
        await tx.delete(webauthnChallenges).where(lt(webauthnChallenges.expiresAt, now));
        await tx.insert(webauthnChallenges).values(row);
      });
    },
    async takeChallenge(challenge, userId, purpose, now) {
      return (await db.delete(webauthnChallenges).where(and(
        eq(webauthnChallenges.challenge, challenge), eq(webauthnChallenges.userId, userId),
        eq(webauthnChallenges.purpose, purpose), gt(webauthnChallenges.expiresAt, now),
      ))).rowCount === 1;
    },
  };
}
