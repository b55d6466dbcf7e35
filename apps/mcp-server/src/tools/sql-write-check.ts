import type Database from 'better-sqlite3';

// The SQL worker's backstop behind checkWriteSql (sql-guard.ts): better-sqlite3 offers no
// authorizer callback, so the engine is made to refuse, and the effect is checked, instead.

const GUARD_TRIGGER = 'stack_protect_users';
// recursive_triggers (set on the connection) makes this fire for rows a REPLACE conflict deletes, too.
const PROTECT_USERS =
  `CREATE TEMP TRIGGER IF NOT EXISTS ${GUARD_TRIGGER} BEFORE DELETE ON main.users ` +
  "BEGIN SELECT RAISE(ABORT, 'deleting users is not allowed in execute_sql (an admin can use delete_users)'); END";

/** A statement's effect that execute_sql refuses; the worker rolls the statement back. */
export class WriteRefused extends Error {}

interface SchemaObject { type: string; name: string }

/**
 * Makes SQLite itself refuse deleting rows of main.users on this connection, however the statement
 * spells it. Re-run before every statement: a table dropped and re-created loses its triggers.
 */
export function protectUsers(db: Database.Database): void {
  try {
    db.exec(PROTECT_USERS);
  } catch {
    // There is no users table (an admin dropped it): nothing to protect until one is created.
  }
}

/**
 * The schema objects of main, keyed so that a renamed table or index keeps its key (its root page;
 * VACUUM is refused, and auto_vacuum is off, so root pages do not move) and a dropped one loses it.
 */
export function snapshotSchema(db: Database.Database): Map<string, SchemaObject> {
  const rows = db.prepare('SELECT type, name, rootpage FROM main.sqlite_master').all() as (SchemaObject & { rootpage: number | null })[];
  return new Map(rows.map((r) => [r.rootpage ? `page ${r.rootpage}` : `${r.type} ${r.name}`, { type: r.type, name: r.name }]));
}

/** Throws WriteRefused when the statement dropped anything, renamed users, created a trigger or a temporary object. */
export function checkWriteEffect(db: Database.Database, before: Map<string, SchemaObject>): void {
  const after = snapshotSchema(db);
  for (const [key, was] of before) {
    const now = after.get(key);
    if (!now) throw new WriteRefused(`dropping ${was.type} '${was.name}' is not allowed in execute_sql (an admin can drop a table with drop_table)`);
    if (was.type === 'table' && was.name.toLowerCase() === 'users' && now.name !== was.name) {
      throw new WriteRefused('renaming the users table is not allowed in execute_sql');
    }
  }
  for (const [key, now] of after) {
    if (!before.has(key) && now.type === 'trigger') throw new WriteRefused('creating triggers is not allowed in execute_sql');
  }
  const temp = db.prepare('SELECT count(*) FROM temp.sqlite_master WHERE name <> ?').pluck().get(GUARD_TRIGGER) as number;
  if (temp > 0) {
    throw new WriteRefused('temporary tables, views and triggers are not allowed in execute_sql (the connection is shared between callers)');
  }
}
