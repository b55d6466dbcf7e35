import { ToolError } from './tool-result.ts';

export interface Token {
  /** word: a bare keyword or identifier; ident: a "…", `…` or […] identifier; string: a '…' literal. */
  kind: 'word' | 'ident' | 'string' | 'semicolon' | 'other';
  /** Upper-cased for words; the unquoted value for ident and string. */
  text: string;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;

/** Splits SQL into tokens the way SQLite's tokenizer sees them, enough to find words, names and statement ends. */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const quoted = (close: string): string => {
    const start = i + 1;
    i++;
    for (;;) {
      const j = sql.indexOf(close, i);
      if (j < 0) throw new ToolError('sql has an unterminated quoted string or identifier');
      i = j + 1;
      // '' inside '…' (and "" inside "…", `` inside `…`) is an escaped quote, not the end.
      if (close !== ']' && sql[i] === close) { i++; continue; }
      const body = sql.slice(start, j);
      return close === ']' ? body : body.replaceAll(close + close, close);
    }
  };
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '-' && sql[i + 1] === '-') { const j = sql.indexOf('\n', i); i = j < 0 ? sql.length : j + 1; continue; }
    if (c === '/' && sql[i + 1] === '*') { const j = sql.indexOf('*/', i + 2); i = j < 0 ? sql.length : j + 2; continue; }
    if (c === "'") { tokens.push({ kind: 'string', text: quoted("'") }); continue; }
    if (c === '"' || c === '`') { tokens.push({ kind: 'ident', text: quoted(c) }); continue; }
    if (c === '[') { tokens.push({ kind: 'ident', text: quoted(']') }); continue; }
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
export function statements(tokens: Token[]): Token[][] {
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

export function isCreateTrigger(stmt: Token[]): boolean {
  const words = stmt.slice(0, 3).map((t) => (t.kind === 'word' ? t.text : ''));
  return words[0] === 'CREATE' && (words[1] === 'TRIGGER' || (/^TEMP(ORARY)?$/.test(words[1] ?? '') && words[2] === 'TRIGGER'));
}

/**
 * The lower-cased name a token stands for when SQLite reads it as an identifier: a bare word, a
 * quoted identifier, or a '…' string (SQLite accepts a string where only a name may stand, as in
 * DELETE FROM 'users'). Lower-casing all of Unicode folds more than SQLite (ASCII only) does, so a
 * comparison can only match more names, never fewer.
 */
export function nameAt(stmt: Token[], i: number): string | undefined {
  const t = stmt[i];
  return t && (t.kind === 'word' || t.kind === 'ident' || t.kind === 'string') ? t.text.toLowerCase() : undefined;
}

/** A possibly schema-qualified name starting at i (schema . name, comments and spaces allowed between): its parts. */
export function qualifiedNameAt(stmt: Token[], i: number): { schema?: string; name: string } | undefined {
  const first = nameAt(stmt, i);
  if (first === undefined) return undefined;
  if (stmt[i + 1]?.text === '.') {
    const second = nameAt(stmt, i + 2);
    return second === undefined ? undefined : { schema: first, name: second };
  }
  return { name: first };
}
