import { defineTool } from './define-tool.ts';
import type { ToolDeps } from './deps.ts';
import { quoteIdent } from './demo-db.ts';
import { tableName } from './schemas.ts';
import { existingTable } from './table-lookup.ts';
import { ok } from './tool-result.ts';

interface IndexRow { name: string; unique: number; origin: string }

export function describeTableTool({ db, runner }: ToolDeps) {
  // The pragma table-valued functions take the table name as a bound parameter.
  const columns = db.prepare('SELECT name, type, "notnull", pk, dflt_value AS defaultValue FROM pragma_table_info(?) ORDER BY cid');
  const indexes = db.prepare('SELECT name, "unique" AS "unique", origin FROM pragma_index_list(?) ORDER BY name');
  const indexColumns = db.prepare('SELECT name FROM pragma_index_info(?) ORDER BY seqno').pluck();
  const foreignKeys = db.prepare('SELECT "from" AS "column", "table" AS "references", "to" AS "referencedColumn", on_delete AS onDelete FROM pragma_foreign_key_list(?)');

  return defineTool({
    name: 'describe_table',
    title: 'Describe a table',
    description: 'Shows the columns (name, type, not null, primary key), indexes, foreign keys and row count of one table.',
    inputSchema: { table: tableName.describe('name of an existing table (see list_tables)') },
    annotations: { readOnlyHint: true, openWorldHint: false },
    async run({ table }, ctx) {
      const name = existingTable(db, table);
      const cols = (columns.all(name) as { name: string; type: string; notnull: number; pk: number; defaultValue: unknown }[])
        .map((c) => ({ ...c, notnull: c.notnull === 1, pk: c.pk > 0 }));
      const idx = (indexes.all(name) as IndexRow[]).map((i) => ({
        name: i.name,
        unique: i.unique === 1,
        origin: i.origin,
        columns: indexColumns.all(i.name) as string[],
      }));
      // Counting scans the whole table, whose size callers control: in the worker, under the time limit.
      const count = await runner.query(ctx, `SELECT count(*) FROM ${quoteIdent(name)}`, [], 1);
      const rowCount = count.rows[0]![0] as number;
      return ok({ table: name, columns: cols, indexes: idx, foreignKeys: foreignKeys.all(name), rowCount });
    },
  });
}
