import { and, eq } from 'drizzle-orm';
import { pgAuthSchema, type PgAuthDb } from '@stack/db/pg';
import type { FederatedIdentityRepo } from '../types.ts';

const { users, federatedIdentities } = pgAuthSchema;

/** Thrown inside a transaction to undo it: the identity was linked meanwhile. */
class Taken extends Error {}

export function pgFederatedIdentities(db: PgAuthDb): FederatedIdentityRepo {
  return {
    async findUserId(provider, subject) {
      return (await db.select({ userId: federatedIdentities.userId }).from(federatedIdentities)
        .where(and(eq(federatedIdentities.provider, provider), eq(federatedIdentities.subject, subject))).limit(1))[0]?.userId;
    },
    async link(row) {
      return (await db.insert(federatedIdentities).values(row).onConflictDoNothing()).rowCount === 1;
    },
    async provision(user, identity) {
      try {
        return await db.transaction(async (tx) => {
          if ((await tx.insert(users).values(user).onConflictDoNothing()).rowCount !== 1) return false;
          if ((await tx.insert(federatedIdentities).values(identity).onConflictDoNothing()).rowCount !== 1) throw new Taken();
          return true;
        });
      } catch (err) {
        if (err instanceof Taken) return false;
        throw err;
      }
    },
  };
}
