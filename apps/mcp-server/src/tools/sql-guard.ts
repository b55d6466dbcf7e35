import { ToolError } from './tool-result.ts';
import { DENIED_FUNCTIONS, functionRefusal, tableFunctionRefusal } from './sql-allowlist.ts';
import { isCreateTrigger, nameAt, qualifiedNameAt, statements, tokenize, type Token } from './sql-tokens.ts';

// Statements that could reach another file or change connection state for later calls:
// ATTACH/DETACH and VACUUM INTO open other files, PRAGMA can turn off query_only or foreign keys,
// load_extension loads code. Matched as whole tokens, so they can hide neither in strings nor in
// quoted identifiers (which are not words) nor behind comments (which split tokens, as in SQLite).
const FORBIDDEN_WORDS = new Set(['ATTACH', 'DETACH', 'PRAGMA', 'VACUUM', 'LOAD_EXTENSION']);
// A transaction left open would hold the write lock for every later call.
const TRANSACTION_WORDS = new Set(['BEGIN', 'COMMIT', 'END', 'ROLLBACK', 'SAVEPOINT', 'RELEASE']);
// The table only the admin-only delete_users tool may delete rows from.
const PROTECTED_TABLE = 'users';

/**
 * Refuses functions and table-valued functions outside the allowlists (sql-allowlist.ts). A
 * pragma_* or dbstat name is refused wherever a name can stand (SQLite also takes a quoted
 * identifier or a '…' string as a table name, and comments split nothing), as a call or bare.
 * A denied function is refused where it is called: its name, bare or quoted, before "(".
 */
function checkFunctions(stmt: Token[]): void {
  stmt.forEach((t, i) => {
    const name = nameAt(stmt, i);
    if (name === undefined) return;
    const table = tableFunctionRefusal(name);
    if (table) throw new ToolError(`invalid argument 'sql': ${table}`);
    if (t.kind !== 'string' && stmt[i + 1]?.text === '(' && DENIED_FUNCTIONS.has(name)) {
      throw new ToolError(`invalid argument 'sql': ${functionRefusal(name)}`);
    }
  });
}

/**
 * Checks SQL text before it reaches SQLite: exactly one statement, no statement that could touch
 * another file or the connection's settings, no transaction control, only allowed functions. SQLite (through
 * better-sqlite3's prepare and the read-only connection) remains the final judge; this is the
 * independent first line, so a gap in one is covered by the other.
 */
export function checkSql(sql: string): Token[] {
  const stmts = statements(tokenize(sql));
  if (stmts.length === 0) throw new ToolError("invalid argument 'sql': contains no statement");
  if (stmts.length > 1) throw new ToolError("invalid argument 'sql': exactly one statement is allowed");
  const stmt = stmts[0]!;
  const forbidden = stmt.find((t) => t.kind === 'word' && FORBIDDEN_WORDS.has(t.text));
  if (forbidden) throw new ToolError(`invalid argument 'sql': ${forbidden.text} statements are not allowed`);
  const first = stmt[0]!;
  if (first.kind === 'word' && TRANSACTION_WORDS.has(first.text)) {
    throw new ToolError("invalid argument 'sql': transaction control statements are not allowed (each call runs on its own)");
  }
  checkFunctions(stmt);
  return stmt;
}

const isWord = (t: Token | undefined, text: string) => t?.kind === 'word' && t.text === text;

/**
 * checkSql plus what execute_sql must not do because an admin-only tool exists for it, or because
 * it would outlive the call: DROP of any kind (drop_table), deleting rows of users, REPLACE into
 * users (a conflict deletes the other row) and ALTER TABLE users (delete_users), virtual tables
 * (their modules are not on the allowlist), triggers
 * (code that would later run inside other callers' statements) and temporary objects (the
 * connection is shared, so a TEMP VIEW users would shadow the real table for everyone).
 * better-sqlite3 has no authorizer callback; the SQL worker re-checks the effect after the
 * statement (schema diff, a guard trigger on users) as the backstop.
 */
export function checkWriteSql(sql: string): void {
  const stmt = checkSql(sql);
  const refuse = (message: string): never => {
    throw new ToolError(`invalid argument 'sql': ${message}`);
  };
  const isProtected = (i: number) => qualifiedNameAt(stmt, i)?.name === PROTECTED_TABLE;
  if (stmt.some((t) => isWord(t, 'DROP'))) refuse('DROP statements are not allowed in execute_sql (an admin can drop a table with drop_table)');
  if (isCreateTrigger(stmt)) refuse('CREATE TRIGGER is not allowed in execute_sql');
  // Every module but the JSON ones is refused (sql-allowlist.ts); say so before the worker does.
  if (isWord(stmt[0], 'CREATE') && isWord(stmt[1], 'VIRTUAL')) refuse('CREATE VIRTUAL TABLE is not allowed in execute_sql');
  if (isWord(stmt[0], 'CREATE')) {
    const temp = isWord(stmt[1], 'TEMP') || isWord(stmt[1], 'TEMPORARY') ||
      stmt.some((_, i) => ['temp', 'temporary'].includes(qualifiedNameAt(stmt, i)?.schema ?? ''));
    if (temp) refuse('temporary tables, views and triggers are not allowed in execute_sql (the connection is shared between callers)');
  }
  if (isWord(stmt[0], 'ALTER') && isWord(stmt[1], 'TABLE') && isProtected(2)) refuse(`ALTER TABLE ${PROTECTED_TABLE} is not allowed in execute_sql`);
  stmt.forEach((t, i) => {
    if (isWord(t, 'DELETE') && isWord(stmt[i + 1], 'FROM') && isProtected(i + 2)) {
      refuse(`deleting from ${PROTECTED_TABLE} is not allowed in execute_sql (an admin can delete users with delete_users)`);
    }
    // REPLACE INTO, INSERT OR REPLACE INTO, UPDATE OR REPLACE: a conflict deletes the existing row.
    if (isWord(t, 'REPLACE') && stmt[i + 1]?.text !== '(') {
      const target = isWord(stmt[i + 1], 'INTO') ? i + 2 : i + 1;
      if (isProtected(target)) refuse(`REPLACE on ${PROTECTED_TABLE} is not allowed in execute_sql (a conflict would delete a user)`);
    }
  });
}
