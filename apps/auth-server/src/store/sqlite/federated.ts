import { and, eq } from 'drizzle-orm';
import { authSchema, type AuthDb } from '@stack/db';
import type { FederatedIdentityRepo } from '../types.ts';

const { users, federatedIdentities } = authSchema;

/** Thrown inside a transaction to undo it: the identity was linked meanwhile. */
class Taken extends Error {}

export function sqliteFederatedIdentities(db: AuthDb): FederatedIdentityRepo {
  return {
    async findUserId(provider, subject) {
      return db.select({ userId: federatedIdentities.userId }).from(federatedIdentities)
        .where(and(eq(federatedIdentities.provider, provider), eq(federatedIdentities.subject, subject))).get()?.userId;
    },
    async link(row) {
      return db.insert(federatedIdentities).values(row).onConflictDoNothing().run().changes === 1;
    },
    async provision(user, identity) {
      try {
        return db.transaction((tx) => {
          if (tx.insert(users).values(user).onConflictDoNothing().run().changes !== 1) return false;
          if (tx.insert(federatedIdentities).values(identity).onConflictDoNothing().run().changes !== 1) throw new Taken();
          return true;
        });
      } catch (err) {
        if (err instanceof Taken) return false;
        throw err;
      }
    },
  };
}
