import { eq, type SQL } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import type { PgColumn } from 'drizzle-orm/pg-core';

/** Whose grants a revocation takes: one user's, one client's, or one client's for one user. */
export type GrantOwner = { userId: string; clientId?: string } | { clientId: string; userId?: string };

/** The conditions on a token table's userId and clientId columns for `by` (never empty: the type needs one). */
export function ownedBy(by: GrantOwner, t: { userId: SQLiteColumn | PgColumn; clientId: SQLiteColumn | PgColumn }): SQL[] {
  const out: SQL[] = [];
  if (by.userId !== undefined) out.push(eq(t.userId, by.userId));
  if (by.clientId !== undefined) out.push(eq(t.clientId, by.clientId));
  return out;
}
