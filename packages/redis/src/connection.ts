import { Redis } from 'ioredis';
import { createLogThrottle } from './log-throttle.ts';
import { StoreUnavailableError } from './store-unavailable.ts';

/** Where connection problems go; the apps pass their Fastify logger. Never given the URL (it may hold a password). */
export interface RedisLog {
  error(msg: string): void;
  info(msg: string): void;
}

export interface SharedRedisOptions {
  url: string;
  /** Prepended to every key this process writes, e.g. 'mcp-oauth:'. */
  keyPrefix: string;
  log: RedisLog;
  /** How often the same outage is logged again. Default 30000. */
  logIntervalMs?: number;
  /** Per-command limit, so a hung server turns into a 503 instead of a hung request. Default 1000. */
  commandTimeoutMs?: number;
  /** Retry-After sent with the 503 while the store is down. Default 5. */
  retryAfterSec?: number;
  now?: () => number;
}

/** One Redis connection, its health and the fail-closed error for requests that need it. */
export interface SharedRedis {
  readonly client: Redis;
  readonly keyPrefix: string;
  /** True while the connection is up and answered the ready check. */
  isReady(): boolean;
  /** Resolves true once ready, or false after `timeoutMs`; never rejects (the apps start and answer 503 until it comes). */
  waitUntilReady(timeoutMs: number): Promise<boolean>;
  /**
   * The error for a request whose Redis command failed (answered 503 with Retry-After). The cause
   * is logged at most once per interval, never per request.
   */
  unavailable(cause: unknown): StoreUnavailableError;
  close(): Promise<void>;
}

/**
 * Connects lazily-but-at-once to `url`. Commands never queue while disconnected
 * (enableOfflineQueue: false): they fail at once so the caller can answer 503 instead of waiting;
 * ioredis keeps reconnecting in the background (capped back-off) so the app recovers by itself.
 */
export function connectRedis(opts: SharedRedisOptions): SharedRedis {
  const throttle = createLogThrottle(opts.logIntervalMs ?? 30_000, opts.now);
  const retryAfter = opts.retryAfterSec ?? 5;
  let down = false;
  let closing = false;

  const client = new Redis(opts.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    commandTimeout: opts.commandTimeoutMs ?? 1_000,
    // Reconnect quickly at first, then every 2 s at most; never give up.
    retryStrategy: (times) => Math.min(100 * times, 2_000),
    lazyConnect: false,
  });

  const reportDown = (reason: string) => {
    if (closing) return;
    down = true;
    if (throttle.due('down')) opts.log.error(`redis unavailable (${reason}); requests that need it are refused with 503 until it returns`);
  };
  client.on('error', (err: Error) => reportDown(errorSummary(err)));
  client.on('close', () => reportDown('connection closed'));
  client.on('ready', () => {
    if (down) opts.log.info('redis connection restored');
    down = false;
    throttle.reset('down');
  });

  return {
    client,
    keyPrefix: opts.keyPrefix,
    isReady: () => client.status === 'ready',
    waitUntilReady(timeoutMs) {
      if (client.status === 'ready') return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => done(false), timeoutMs);
        const onReady = () => done(true);
        function done(ok: boolean) {
          clearTimeout(timer);
          client.off('ready', onReady);
          resolve(ok);
        }
        client.on('ready', onReady);
      });
    },
    unavailable(cause) {
      reportDown(errorSummary(cause));
      return new StoreUnavailableError(retryAfter);
    },
    async close() {
      closing = true;
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    },
  };
}

/** The error's kind and message without anything that could carry the URL or credentials. */
function errorSummary(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : err.message.replace(/redis(s)?:\/\/\S+/gi, '<url>').slice(0, 200);
}
