import { and, eq, getTableColumns, isNotNull, isNull, sql, type Placeholder } from 'drizzle-orm';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';
import { authSchema, type AuthDb } from '@stack/db';
import type { NewTokens } from '../types.ts';

const { authorizationCodes, clients, issuedAccessTokens, refreshTokens, users } = authSchema;

const p = (name: string) => sql.placeholder(name);
// update().set() takes SQL, not a bare placeholder.
const setTo = (name: string) => sql`${p(name)}`;

/** One placeholder per column, named after its property: the statement takes a whole row. */
function rowPlaceholders<T extends SQLiteTable>(table: T): Record<keyof T['$inferInsert'], Placeholder> {
  return Object.fromEntries(Object.keys(getTableColumns(table)).map((k) => [k, p(k)])) as Record<keyof T['$inferInsert'], Placeholder>;
}

/**
 * The statements of the token endpoint's hot path (client, user and token lookups, rotation,
 * redemption), built and prepared once per connection instead of on every call (in a CPU profile,
 * drizzle's query building and SQLite's prepare were a quarter of a refresh grant's CPU; see
 * bench/README.md). Same SQL as the
 * query builder produced before; results are mapped to the same records.
 */
export function hotStatements(db: AuthDb) {
  return {
    clientById: db.select().from(clients).where(eq(clients.id, p('id'))).prepare(),
    userById: db.select().from(users).where(eq(users.id, p('id'))).prepare(),
    refreshByHash: db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, p('hash'))).prepare(),
    refreshById: db.select().from(refreshTokens).where(eq(refreshTokens.id, p('id'))).prepare(),
    codeByHash: db.select().from(authorizationCodes).where(eq(authorizationCodes.codeHash, p('hash'))).prepare(),
    markRotated: db.update(refreshTokens).set({ rotatedAt: setTo('now'), successorId: setTo('successorId'), successorSealed: setTo('sealed') })
      .where(and(eq(refreshTokens.id, p('id')), isNull(refreshTokens.rotatedAt), isNull(refreshTokens.revokedAt))).prepare(),
    dropOlderSeals: db.update(refreshTokens).set({ successorSealed: null })
      .where(and(eq(refreshTokens.familyId, p('familyId')), eq(refreshTokens.successorId, p('oldId')), isNotNull(refreshTokens.successorSealed))).prepare(),
    consumeCode: db.update(authorizationCodes).set({ consumedAt: setTo('now') })
      .where(and(eq(authorizationCodes.codeHash, p('hash')), isNull(authorizationCodes.consumedAt))).prepare(),
    insertRefresh: db.insert(refreshTokens).values(rowPlaceholders(refreshTokens)).prepare(),
    insertIssued: db.insert(issuedAccessTokens).values(rowPlaceholders(issuedAccessTokens)).prepare(),
  };
}

export type HotStatements = ReturnType<typeof hotStatements>;

/** Stores the tokens of a grant (inside the caller's transaction). */
export function storeTokensPrepared(s: HotStatements, t: NewTokens): void {
  if (t.refresh) s.insertRefresh.run(t.refresh);
  s.insertIssued.run(t.access);
}
