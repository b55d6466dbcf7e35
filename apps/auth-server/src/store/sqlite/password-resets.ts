import { and, eq, gt, isNull, lt, or, isNotNull } from 'drizzle-orm';
import { authSchema, type AuthDb } from '@stack/db';
import type { PasswordResetRepo } from '../types.ts';
import { endSessions } from './accounts.ts';

const { passwordResets, users } = authSchema;

export function sqlitePasswordResets(db: AuthDb): PasswordResetRepo {
  const live = (tokenHash: string, now: number) =>
    and(eq(passwordResets.tokenHash, tokenHash), isNull(passwordResets.usedAt), gt(passwordResets.expiresAt, now));
  return {
    async create(row) {
      db.transaction((tx) => {
        // A new link replaces the user's earlier ones; used and expired links of anyone are swept.
        tx.delete(passwordResets).where(or(eq(passwordResets.userId, row.userId), lt(passwordResets.expiresAt, row.createdAt), isNotNull(passwordResets.usedAt))).run();
        tx.insert(passwordResets).values(row).run();
      });
    },
    async findLive(tokenHash, now) {
      return db.select({ userId: passwordResets.userId }).from(passwordResets).where(live(tokenHash, now)).get()?.userId;
    },
    async redeem(tokenHash, passwordHash, now) {
      return db.transaction((tx) => {
        const used = tx.update(passwordResets).set({ usedAt: now }).where(live(tokenHash, now)).returning({ userId: passwordResets.userId }).get();
        if (!used) return undefined;
        tx.update(users).set({ passwordHash }).where(eq(users.id, used.userId)).run();
        endSessions(tx, used.userId, undefined);
        return used.userId;
      });
    },
  };
}
