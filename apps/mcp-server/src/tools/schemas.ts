import { z } from 'zod';

/** Hard ceiling on rows a query may return, whatever the caller or configuration asks for. */
export const MAX_ROWS_LIMIT = 1000;

// SQLite stops reading at a NUL byte, so anything after one would be invisible to
// better-sqlite3's "more than one statement" check; control characters have no place in SQL.
// eslint-disable-next-line no-control-regex -- control characters are what this pattern refuses
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export const sqlText = z
  .string()
  .min(1)
  .max(10_000)
  .refine((s) => !CONTROL.test(s), 'must not contain control characters');

/** A table name as SQLite spells a plain identifier; still checked against the real tables before use. */
export const tableName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier (letters, digits, underscore)');

/** Positional parameters, always bound by SQLite, never spliced into the SQL text. */
export const sqlParams = z.array(z.union([z.string().max(1000), z.number(), z.null()])).max(100);

export const maxRows = z.number().int().min(1).max(MAX_ROWS_LIMIT);

export type SqlParam = z.infer<typeof sqlParams>[number];
