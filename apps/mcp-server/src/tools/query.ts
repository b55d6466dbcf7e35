import { MAX_BLOB_PREVIEW_BYTES, MAX_CELL_BYTES, MAX_RESULT_BYTES, MAX_ROW_BYTES } from '../message-limits.ts';
import { defineTool } from './define-tool.ts';
import type { ToolDeps } from './deps.ts';
import { maxRows, sqlParams, sqlText } from './schemas.ts';
import { checkSql } from './sql-guard.ts';
import { ok } from './tool-result.ts';

export function queryTool({ runner, defaultMaxRows }: ToolDeps) {
  return defineTool({
    name: 'query',
    title: 'Run a read-only query',
    description:
      'Runs one read-only SQL statement (SELECT, WITH … SELECT) on a read-only connection and returns its rows. ' +
      'Use ? placeholders with params; results are limited in rows and time, and each caller runs one statement at a time. ' +
      `Results are limited in size too: a text value longer than ${MAX_CELL_BYTES} bytes comes back as { truncated_text, length } ` +
      `(its start and its full length in characters), a blob as { blob_bytes, base64 } with a ${MAX_BLOB_PREVIEW_BYTES}-byte preview, ` +
      `a row to ${MAX_ROW_BYTES} bytes and the whole result to ${MAX_RESULT_BYTES} bytes; truncated: true and truncatedReason say what was cut. ` +
      'Functions: core, date and time, math, JSON, aggregate and window functions; table-valued: json_each, json_tree ' +
      '(pragma_* functions are refused).',
    inputSchema: {
      sql: sqlText.describe('one SELECT statement, with ? placeholders for values'),
      params: sqlParams.optional().describe('values bound to the ? placeholders, in order'),
      max_rows: maxRows.optional().describe(`maximum rows to return (default ${defaultMaxRows})`),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
    async run({ sql, params, max_rows }, ctx) {
      checkSql(sql);
      const result = await runner.query(ctx, sql, params ?? [], max_rows ?? defaultMaxRows);
      return ok({ ...result });
    },
  });
}
