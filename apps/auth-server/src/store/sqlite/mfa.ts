import { and, asc, count, eq, gt, isNull, lt, or } from 'drizzle-orm';
import { authSchema, type AuthDb } from '@stack/db';
import type { MfaRepo } from '../types.ts';

const { totpFactors, recoveryCodes, passkeys, webauthnChallenges } = authSchema;

export function sqliteMfa(db: AuthDb): MfaRepo {
  return {
    async totp(userId) {
      return db.select().from(totpFactors).where(eq(totpFactors.userId, userId)).get();
    },
    async startTotp(row) {
      return db.transaction((tx) => {
        tx.delete(totpFactors).where(and(eq(totpFactors.userId, row.userId), isNull(totpFactors.confirmedAt))).run();
        return tx.insert(totpFactors).values(row).onConflictDoNothing().run().changes === 1;
      });
    },
    async confirmTotp(userId, step, now) {
      return db.update(totpFactors).set({ confirmedAt: now, lastStep: step })
        .where(and(eq(totpFactors.userId, userId), isNull(totpFactors.confirmedAt))).run().changes === 1;
    },
    async useTotpStep(userId, step) {
      return db.update(totpFactors).set({ lastStep: step })
        .where(and(eq(totpFactors.userId, userId), or(isNull(totpFactors.lastStep), lt(totpFactors.lastStep, step)))).run().changes === 1;
    },
    async deleteTotp(userId) {
      return db.delete(totpFactors).where(eq(totpFactors.userId, userId)).run().changes === 1;
    },
    async totpEnvelopes() {
      return db.select({ userId: totpFactors.userId, secretEnvelope: totpFactors.secretEnvelope }).from(totpFactors).all();
    },
    async setTotpEnvelopes(updates) {
      db.transaction((tx) => {
        for (const u of updates) tx.update(totpFactors).set({ secretEnvelope: u.secretEnvelope }).where(eq(totpFactors.userId, u.userId)).run();
      });
    },
    async replaceRecoveryCodes(userId, hashes, now) {
      db.transaction((tx) => {
        tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId)).run();
        if (hashes.length) tx.insert(recoveryCodes).values(hashes.map((codeHash) => ({ userId, codeHash, createdAt: now, usedAt: null }))).run();
      });
    },
    async useRecoveryCode(userId, hash, now) {
      return db.update(recoveryCodes).set({ usedAt: now })
        .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeHash, hash), isNull(recoveryCodes.usedAt))).run().changes === 1;
    },
    async unusedRecoveryCodes(userId) {
      return db.select({ n: count() }).from(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt))).get()?.n ?? 0;
    },
    async deleteRecoveryCodes(userId) {
      db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId)).run();
    },
    async passkeys(userId) {
      return db.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(asc(passkeys.createdAt), asc(passkeys.id)).all();
    },
    async findPasskey(id) {
      return db.select().from(passkeys).where(eq(passkeys.id, id)).get();
    },
    async addPasskey(row) {
      return db.insert(passkeys).values(row).onConflictDoNothing().run().changes === 1;
    },
    async usePasskey(id, from, counter, now) {
      return db.update(passkeys).set({ counter, lastUsedAt: now }).where(and(eq(passkeys.id, id), eq(passkeys.counter, from))).run().changes === 1;
    },
    async deletePasskey(userId, id) {
      return db.delete(passkeys).where(and(eq(passkeys.userId, userId), eq(passkeys.id, id))).run().changes === 1;
    },
    async addChallenge(row, now) {
      db.transaction((tx) => {
        tx.delete(webauthnChallenges).where(lt(webauthnChallenges.expiresAt, now)).run();
        tx.insert(webauthnChallenges).values(row).run();
      });
    },
    async takeChallenge(challenge, userId, purpose, now) {
      return db.delete(webauthnChallenges).where(and(
        eq(webauthnChallenges.challenge, challenge), eq(webauthnChallenges.userId, userId),
        eq(webauthnChallenges.purpose, purpose), gt(webauthnChallenges.expiresAt, now),
      )).run().changes === 1;
    },
  };
}
