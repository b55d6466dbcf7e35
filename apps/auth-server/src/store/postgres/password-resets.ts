import { and, eq, gt, isNotNull, isNull, lt, or } from 'drizzle-orm';
import { pgAuthSchema, type PgAuthDb } from '@stack/db/pg';
import type { PasswordResetRepo } from '../types.ts';
import { endSessions } from './accounts.ts';

const { passwordResets, users } = pgAuthSchema;

export function pgPasswordResets(db: PgAuthDb): PasswordResetRepo {
  const live = (tokenHash: string, now: number) =>
    and(eq(passwordResets.tokenHash, tokenHash), isNull(passwordResets.usedAt), gt(passwordResets.expiresAt, now));
  return {
    async create(row) {
      await db.transaction(async (tx) => {
        // A new link replaces the user's earlier ones; used and expired links of anyone are swept.
        await tx.delete(passwordResets).where(or(eq(passwordResets.userId, row.userId), lt(passwordResets.expiresAt, row.createdAt), isNotNull(passwordResets.usedAt)));
        await tx.insert(passwordResets).values(row);
      });
    },
    async findLive(tokenHash, now) {
      return (await db.select({ userId: passwordResets.userId }).from(passwordResets).where(live(tokenHash, now)).limit(1))[0]?.userId;
    },
    async redeem(tokenHash, passwordHash, now) {
      return db.transaction(async (tx) => {
        // Of concurrent uses of one link, the conditional update lets exactly one through.
        const [used] = await tx.update(passwordResets).set({ usedAt: now }).where(live(tokenHash, now)).returning({ userId: passwordResets.userId });
        if (!used) return undefined;
        await tx.update(users).set({ passwordHash }).where(eq(users.id, used.userId));
        await endSessions(tx, used.userId, undefined);
        return used.userId;
      });
    },
  };
}
