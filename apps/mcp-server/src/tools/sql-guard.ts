import { ToolError } from './tool-result.ts';

interface Token {
  kind: 'word' | 'semicolon' | 'other';
  /** Upper-cased for words. */
  text: string;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;

// Statements that could reach another file or change connection state for later calls:
// ATTACH/DETACH and VACUUM INTO open other files, PRAGMA can turn off query_only or foreign keys,
// load_extension loads code. Matched as whole tokens, so they can hide neither in strings nor in
// quoted identifiers (which are not words) nor behind comments (which split tokens, as in SQLite).
const FORBIDDEN_WORDS = new Set(['ATTACH', 'DETACH', 'PRAGMA', 'VACUUM', 'LOAD_EXTENSION']);
// A transaction left open would hold the write lock for every later call.
const TRANSACTION_WORDS = new Set(['BEGIN', 'COMMIT', 'END', 'ROLLBACK', 'SAVEPOINT', 'RELEASE']);

/** Splits SQL into tokens the way SQLite's tokenizer sees them, enough to find words and statement ends. */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const skipQuoted = (close: string) => {
    const start = i;
    i++;
    for (;;) {
      const j = sql.indexOf(close, i);
      if (j < 0) throw new ToolError('sql has an unterminated quoted string or identifier');
      i = j + 1;
      // '' inside '…' (and "" inside "…", `` inside `…`) is an escaped quote, not the end.
      if (close !== ']' && sql[i] === close) { i++; continue; }
      return sql.slice(start, i);
    }
  };
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '-' && sql[i + 1] === '-') { const j = sql.indexOf('\n', i); i = j < 0 ? sql.length : j + 1; continue; }
    if (c === '/' && sql[i + 1] === '*') { const j = sql.indexOf('*/', i + 2); i = j < 0 ? sql.length : j + 2; continue; }
    if (c === "'") { tokens.push({ kind: 'other', text: skipQuoted("'") }); continue; }
    if (c === '"' || c === '`') { tokens.push({ kind: 'other', text: skipQuoted(c) }); continue; }
    if (c === '[') { tokens.push({ kind: 'other', text: skipQuoted(']') }); continue; }
    if (c === ';') { tokens.push({ kind: 'semicolon', text: ';' }); i++; continue; }
    if (WORD_START.test(c)) {
      const start = i;
      while (i < sql.length && WORD_PART.test(sql[i]!)) i++;
      tokens.push({ kind: 'word', text: sql.slice(start, i).toUpperCase() });
      continue;
    }
    tokens.push({ kind: 'other', text: c });
    i++;
  }
  return tokens;
}

/** Groups tokens into statements; semicolons inside a CREATE TRIGGER body do not end the statement. */
function statements(tokens: Token[]): Token[][] {
  const out: Token[][] = [];
  let current: Token[] = [];
  let depth = 0;
  for (const t of tokens) {
    if (t.kind === 'semicolon' && depth <= 0) {
      if (current.length) out.push(current);
      current = [];
      depth = 0;
      continue;
    }
    current.push(t);
    if (isCreateTrigger(current) && t.kind === 'word') {
      if (t.text === 'BEGIN' || t.text === 'CASE') depth++;
      else if (t.text === 'END') depth--;
    }
  }
  if (current.length) out.push(current);
  return out;
}

function isCreateTrigger(stmt: Token[]): boolean {
  const words = stmt.slice(0, 3).map((t) => t.text);
  return words[0] === 'CREATE' && (words[1] === 'TRIGGER' || (/^TEMP(ORARY)?$/.test(words[1] ?? '') && words[2] === 'TRIGGER'));
}

/**
 * Checks SQL text before it reaches SQLite: exactly one statement, no statement that could touch
 * another file or the connection's settings, no transaction control. SQLite (through
 * better-sqlite3's prepare and the read-only connection) remains the final judge; this is the
 * independent first line, so a gap in one is covered by the other.
 */
export function checkSql(sql: string): void {
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
}
