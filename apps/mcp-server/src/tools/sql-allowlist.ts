import Database from 'better-sqlite3';

// What caller SQL (query, execute_sql) may call. Checked twice: by the guard on the SQL text
// (sql-guard.ts) and by SQLite itself on the worker's connections (restrictConnection below),
// which also covers names the text does not show (a view written earlier by another caller).

/** SQL functions a caller needs to query and change the demo data: core, date/time, math, JSON, aggregate and window functions. */
export const ALLOWED_FUNCTIONS: ReadonlySet<string> = new Set([
  // core scalar functions (like, glob and iif also stand behind the LIKE, GLOB and IIF syntax)
  'abs', 'char', 'coalesce', 'concat', 'concat_ws', 'format', 'glob', 'hex', 'if', 'ifnull', 'iif', 'instr',
  'length', 'like', 'likelihood', 'likely', 'lower', 'ltrim', 'max', 'min', 'nullif', 'octet_length', 'printf',
  'quote', 'random', 'randomblob', 'replace', 'round', 'rtrim', 'sign', 'soundex', 'substr', 'substring', 'trim', 'typeof',
  'unhex', 'unicode', 'unistr', 'unistr_quote', 'unlikely', 'upper',
  // large values: no more than printf('%.*c', n, 'x') can build; what bounds them is the result
  // caps, the disk quota and the worker memory limit, not the function list
  'zeroblob',
  // what the last statement did on the connection (the SQL worker reads them too)
  'changes', 'last_insert_rowid', 'total_changes',
  'sqlite_version', 'sqlite_source_id',
  // date and time
  'date', 'time', 'datetime', 'julianday', 'unixepoch', 'strftime', 'timediff', 'current_date', 'current_time', 'current_timestamp',
  // math
  'acos', 'acosh', 'asin', 'asinh', 'atan', 'atan2', 'atanh', 'ceil', 'ceiling', 'cos', 'cosh', 'degrees', 'exp', 'floor',
  'ln', 'log', 'log10', 'log2', 'mod', 'pi', 'pow', 'power', 'radians', 'sin', 'sinh', 'sqrt', 'tan', 'tanh', 'trunc',
  // JSON (-> and ->> are the operators)
  '->', '->>', 'json', 'json_array', 'json_array_insert', 'json_array_length', 'json_error_position', 'json_extract',
  'json_group_array', 'json_group_object', 'json_insert', 'json_object', 'json_patch', 'json_pretty', 'json_quote',
  'json_remove', 'json_replace', 'json_set', 'json_type', 'json_valid', 'jsonb', 'jsonb_array', 'jsonb_array_insert',
  'jsonb_extract', 'jsonb_group_array', 'jsonb_group_object', 'jsonb_insert', 'jsonb_object', 'jsonb_patch',
  'jsonb_remove', 'jsonb_replace', 'jsonb_set',
  // aggregate and window functions
  'avg', 'count', 'group_concat', 'string_agg', 'sum', 'total', 'median', 'percentile', 'percentile_cont', 'percentile_disc',
  'row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'ntile', 'lag', 'lead', 'first_value', 'last_value', 'nth_value',
]);

/**
 * Every other function this SQLite build has, named so the guard can refuse a call before it
 * reaches a worker (the allowlist test keeps this list complete): loading code, build and
 * logging internals, and the helpers of the full-text, R-tree and
 * geopoly virtual tables, which callers cannot create.
 */
export const DENIED_FUNCTIONS: ReadonlySet<string> = new Set([
  'load_extension', 'fts3_tokenizer', 'sqlite_compileoption_get', 'sqlite_compileoption_used', 'sqlite_log',
  'subtype',
  'match', 'bm25', 'highlight', 'snippet', 'matchinfo', 'offsets', 'optimize',
  'fts5', 'fts5_get_locale', 'fts5_insttoken', 'fts5_locale', 'fts5_source_id',
  'rtreecheck', 'rtreedepth', 'rtreenode',
  'geopoly_area', 'geopoly_bbox', 'geopoly_blob', 'geopoly_ccw', 'geopoly_contains_point', 'geopoly_debug',
  'geopoly_group_bbox', 'geopoly_json', 'geopoly_overlap', 'geopoly_regular', 'geopoly_svg', 'geopoly_within', 'geopoly_xform',
]);

/** Table-valued functions callers may use in FROM: reading JSON. */
export const ALLOWED_TABLE_FUNCTIONS: ReadonlySet<string> = new Set(['json_each', 'json_tree', 'jsonb_each', 'jsonb_tree']);

/**
 * Every pragma is also a table-valued function named pragma_<name> (pragma_database_list shows
 * the database file's path), resolved by this prefix in any case, quoted or not, with or without
 * a schema; none is allowed.
 */
export const PRAGMA_FUNCTION_PREFIX = 'pragma_';

/** The other table-valued functions of this build usable without CREATE VIRTUAL TABLE (which execute_sql refuses). */
export const DENIED_TABLE_FUNCTIONS: ReadonlySet<string> = new Set(['dbstat', 'fts3tokenize']);

/** Why a name used as a table-valued function is refused, or undefined when it may be used. */
export function tableFunctionRefusal(name: string): string | undefined {
  const n = name.toLowerCase();
  if (n.startsWith(PRAGMA_FUNCTION_PREFIX) || DENIED_TABLE_FUNCTIONS.has(n)) {
    return `the table-valued function ${n} is not allowed (allowed: ${[...ALLOWED_TABLE_FUNCTIONS].join(', ')})`;
  }
  return undefined;
}

export function functionRefusal(name: string): string {
  return `the function ${name.toLowerCase()}() is not allowed (allowed: core, date and time, math, JSON, aggregate and window functions)`;
}

/** Refused inside SQLite; describeDbError passes SQLITE_AUTH messages on to the caller. */
const refused = (message: string) => new Database.SqliteError(message, 'SQLITE_AUTH');

/**
 * Makes SQLite itself refuse, on this connection, everything outside the allowlists, however the
 * SQL spells it and wherever it sits (a view or a default defined earlier included):
 *  - every built-in function not allowed is replaced by one that fails (a function an application
 *    registers takes precedence over the built-in of that name, for every argument count);
 *  - every module not allowed (pragma_* and dbstat, the full-text and R-tree modules) is replaced by
 *    a table that fails when read, so it can be neither selected from nor created;
 *  - trusted_schema=OFF: views and triggers may not use virtual tables or functions not marked
 *    harmless, whoever defined them.
 * better-sqlite3 has no authorizer callback, which would be the direct way to say this. It keeps
 * load_extension() refused and SQLITE_DBCONFIG_DEFENSIVE on by default (no writable_schema tricks).
 */
export function restrictConnection(db: Database.Database): void {
  db.pragma('trusted_schema = OFF');
  const functions = db.prepare('SELECT DISTINCT name, narg FROM pragma_function_list').all() as { name: string; narg: number }[];
  const pragmas = db.prepare('SELECT name FROM pragma_pragma_list').pluck().all() as string[];
  const modules = db.prepare('SELECT name FROM pragma_module_list').pluck().all() as string[];
  for (const { name, narg } of functions) {
    if (ALLOWED_FUNCTIONS.has(name.toLowerCase())) continue;
    const fail = () => {
      throw refused(functionRefusal(name));
    };
    // A function registered for an exact argument count is chosen over one taking any count (the
    // full-text and R-tree helpers are registered that way), so replace each count, and the rest.
    db.function(name, { varargs: true }, fail);
    if (narg >= 0) db.function(name, Object.defineProperty(fail, 'length', { value: narg }));
  }
  const tables = [...new Set([...pragmas.map((p) => `${PRAGMA_FUNCTION_PREFIX}${p}`), ...modules, ...DENIED_TABLE_FUNCTIONS])]
    .filter((name) => !ALLOWED_TABLE_FUNCTIONS.has(name.toLowerCase()));
  // The stand-in declares the columns (and hidden argument columns) of what it replaces, so a
  // statement naming them still prepares and then fails with the refusal, not "no such column".
  const xinfo = db.prepare('SELECT name, hidden FROM pragma_table_xinfo(?)');
  const shape = (name: string) => {
    try {
      return xinfo.all(name) as { name: string; hidden: number }[];
    } catch {
      // A module that needs arguments to build a table (fts4aux, fts3tokenize): no shape to copy,
      // so take up to four arguments, enough to reach the refusal.
      return ['arg1', 'arg2', 'arg3', 'arg4'].map((n) => ({ name: n, hidden: 1 }));
    }
  };
  const shapes = tables.map((name) => ({ name, cols: shape(name) }));
  for (const { name, cols } of shapes) {
    const message = tableFunctionRefusal(name) ?? `the virtual table module ${name} is not allowed`;
    const columns = cols.filter((c) => !c.hidden).map((c) => c.name);
    db.table(name, {
      columns: columns.length ? columns : ['refused'],
      parameters: cols.filter((c) => c.hidden).map((c) => c.name),
      // eslint-disable-next-line require-yield -- better-sqlite3 takes a generator; this table refuses every read
      *rows() {
        throw refused(message);
      },
    });
  }
}
