import type { AuthDb } from '@stack/db';
import type { AuditSink } from '@stack/audit';
import type { Kek } from '@stack/crypto';
import type { AuthConfig } from './config.ts';
import type { KeyStore } from './services/keys.ts';

/** Everything a route or service needs, built once per app by buildApp(). */
export interface AppContext {
  config: AuthConfig;
  db: AuthDb;
  audit: AuditSink;
  /** Current time in ms; injectable so tests can move the clock. */
  now: () => number;
  /** keks[0] wraps new data; the rest can still open older envelopes (rotation). */
  keks: Kek[];
  keys: KeyStore;
}

declare module 'fastify' {
  interface FastifyInstance {
    ctx: AppContext;
  }
}
