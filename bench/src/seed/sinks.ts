import Database from 'better-sqlite3';

/** Where seed rows go: each call inserts all rows of one table in one transaction. */
export interface RowSink {
  insert(table: string, columns: readonly string[], rows: Iterable<unknown[]>): Promise<number>;
  close(): Promise<void>;
}

/** SQLite: one prepared INSERT, run for every row inside one transaction (migrations applied beforehand). */
export function sqliteSink(path: string): RowSink {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  // A large page cache for the bulk load only; the server opens the file with its own settings.
  db.pragma('cache_size = -262144');
  return {
    async insert(table, columns, rows) {
      const stmt = db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
      let n = 0;
      db.transaction(() => {
        for (const r of rows) {
          stmt.run(r);
          n++;
        }
      })();
      return n;
    },
    async close() {
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    },
  };
}

/** PostgreSQL: multi-row INSERTs of up to 500 rows inside one transaction, in the server's schema. */
export async function postgresSink(url: string, schema: string): Promise<RowSink> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await client.connect();
  const BATCH = 500;
  return {
    async insert(table, columns, rows) {
      let n = 0;
      let batch: unknown[][] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const values = batch.map((_, i) => `(${columns.map((__, j) => `$${i * columns.length + j + 1}`).join(', ')})`).join(', ');
        await client.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}`, batch.flat());
        batch = [];
      };
      await client.query('BEGIN');
      try {
        for (const r of rows) {
          batch.push(r);
          n++;
          if (batch.length === BATCH) await flush();
        }
        await flush();
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
      return n;
    },
    async close() {
      await client.query(`ANALYZE`);
      await client.end();
    },
  };
}
