import type Database from 'better-sqlite3';
import { z } from 'zod';
import { listTableNames } from './demo-db.ts';
import { ToolError } from './tool-result.ts';

/**
 * Resolves a caller-supplied table name against the tables that exist right now (a zod enum built
 * at call time). The returned name is the one read from sqlite_master, so only it is ever quoted
 * into SQL, never the caller's string.
 */
export function existingTable(db: Database.Database, requested: string): string {
  const tables = listTableNames(db);
  const parsed = tables.length ? z.enum(tables as [string, ...string[]]).safeParse(requested) : undefined;
  if (!parsed?.success) {
    throw new ToolError(`invalid argument 'table': no table named '${requested}' (tables: ${tables.join(', ') || 'none'})`);
  }
  return parsed.data;
}
