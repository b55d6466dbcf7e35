/**
 * Start-up failures as one sentence for an operator: what failed and which setting to look at.
 * A stack trace tells an operator nothing they can act on, and the common causes (port taken,
 * unreadable file, database down, wrong key) are all recognisable from the error's code.
 */

/** The fields Node's system errors, SQLite and the PostgreSQL driver attach. */
interface StartupErrorFields {
  name?: string;
  message?: string;
  code?: string;
  syscall?: string;
  address?: string;
  port?: number;
  path?: string;
  hostname?: string;
  errors?: unknown[];
  severity?: string;
}

export interface StartupHints {
  /** The settings that choose the listen address, named in the advice (e.g. AUTH_HOST, AUTH_PORT). */
  hostSetting: string;
  portSetting: string;
}

/**
 * The first line of a message; a heading ending in ':' keeps the list of problems under it (a
 * policy or configuration error reports every problem at once, one `  - ` line each).
 */
function firstLine(s: string | undefined): string {
  const [head = '', ...rest] = (s ?? '').split('\n');
  if (head.endsWith(':') && rest.length > 0 && rest.every((l) => l.startsWith('  - '))) return [head.trim(), ...rest].join('\n');
  return head.trim();
}

/** One sentence saying why the app could not start. */
export function describeStartupError(err: unknown, hints: StartupHints): string {
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as StartupErrorFields;
  // Connecting to "localhost" tries every address and reports an AggregateError with an empty message.
  const inner = Array.isArray(e.errors) && typeof e.errors[0] === 'object' ? (e.errors[0] as StartupErrorFields) : undefined;
  const code = e.code ?? inner?.code;
  const address = e.address ?? inner?.address;
  const port = e.port ?? inner?.port;
  const where = address === undefined ? 'the configured address' : port === undefined ? address : `${address}:${port}`;

  if (e.syscall === 'listen') {
    if (code === 'EADDRINUSE') return `${where} is already in use (is another instance running?): stop it or choose another ${hints.portSetting}`;
    if (code === 'EACCES') return `no permission to listen on ${where}: choose a port above 1023 in ${hints.portSetting}`;
    if (code === 'EADDRNOTAVAIL') return `${address ?? 'the address'} is not an address of this machine: check ${hints.hostSetting}`;
  }
  switch (code) {
    case 'ECONNREFUSED':
      return `nothing accepts connections at ${where} (is the database running? check DATABASE_URL)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host ${e.hostname ?? inner?.hostname ?? 'in the database URL'} cannot be resolved (check DATABASE_URL)`;
    case 'ETIMEDOUT':
      return `${where} did not answer in time (check DATABASE_URL and the network)`;
    case 'EACCES':
    case 'EPERM':
      if (e.path) return `permission denied on ${e.path}: the app's user must be able to read and write it (check DATA_DIR)`;
      break;
    case 'ENOENT':
      if (e.path) return `${e.path} does not exist`;
      break;
    case 'ENOTDIR':
      if (e.path) return `${e.path} cannot be created: a part of the path is a file, not a folder (check DATA_DIR)`;
      break;
    case 'EROFS':
      if (e.path) return `${e.path} is on a read-only file system (check DATA_DIR)`;
      break;
    case 'ENOSPC':
      return `no space left on the device${e.path ? ` holding ${e.path}` : ''}`;
    case 'SQLITE_CANTOPEN':
      return 'the SQLite database cannot be opened: its folder must exist and be writable (check DATA_DIR and the database path)';
  }
  // The PostgreSQL driver's server errors (login refused, no such database) carry a severity.
  if (e.severity) return `the database refused: ${firstLine(e.message)} (check DATABASE_URL)`;
  if (/timeout exceeded when trying to connect|Connection terminated due to connection timeout/i.test(e.message ?? '')) {
    return 'the database did not answer in time (check DATABASE_URL and that the server is running)';
  }
  return firstLine(e.message) || firstLine(inner?.message) || e.name || 'unknown error';
}

/** Reports a start-up failure on standard error as `<app>: cannot start: <sentence>`, no stack, and exits 1. */
export function exitOnStartupError(app: string, err: unknown, hints: StartupHints): never {
  process.stderr.write(`${app}: cannot start: ${describeStartupError(err, hints)}\n`);
  process.exit(1);
}
