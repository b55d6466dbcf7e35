import Database from 'better-sqlite3';

// SQLite result codes whose messages describe the caller's SQL (syntax, constraints, types)
// rather than the host; everything else (I/O, CANTOPEN, CORRUPT, NOMEM…) becomes a generic message.
const CALLER_CODES = /^SQLITE_(ERROR|CONSTRAINT|READONLY|MISMATCH|RANGE|TOOBIG|AUTH)/;
// Argument and statement-shape errors raised by better-sqlite3 itself before SQLite runs.
const DRIVER_MESSAGES = /statement|parameter|bind|named|anonymous/i;
const ABSOLUTE_PATH = /(?:[A-Za-z]:)?[\\/](?:[^\s\\/'"]+[\\/])+[^\s'"]*/g;

function clean(message: string): string {
  return message.replace(ABSOLUTE_PATH, '<path>').slice(0, 500);
}

/** A one-line, host-free description of a database failure that is safe to return to a caller. */
export function describeDbError(err: unknown): string {
  if (err instanceof Database.SqliteError) {
    if (err.code === 'SQLITE_BUSY' || err.code === 'SQLITE_LOCKED') return 'the database is busy, try again';
    if (CALLER_CODES.test(err.code)) return `database error: ${clean(err.message)}`;
    return 'database error';
  }
  if ((err instanceof RangeError || err instanceof TypeError) && DRIVER_MESSAGES.test(err.message)) {
    return `invalid statement: ${clean(err.message)}`;
  }
  return 'internal error';
}
