import { z } from 'zod';

/** Thrown when configuration is invalid; lists every problem at once, each naming the setting. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Recursively freezes a value so configuration cannot be changed after validation. */
export function deepFreeze<T>(value: T): Readonly<T> {
  // Typed arrays (Buffer keys from key256) cannot be frozen: Object.freeze throws on them.
  if (ArrayBuffer.isView(value)) return value;
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/**
 * Parses `input` with `schema` once. Every issue is reported together (named by its setting path),
 * and the result is deep-frozen. Empty-string values count as unset.
 */
export function loadConfig<S extends z.ZodType>(schema: S, input: unknown): Readonly<z.output<S>> {
  // An empty variable (`FOO=` in an env file copied from .env.example) means "use the default".
  const cleaned = input && typeof input === 'object' && !Array.isArray(input)
    ? Object.fromEntries(Object.entries(input as Record<string, unknown>).filter(([, v]) => v !== ''))
    : input;
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`),
    );
  }
  return deepFreeze(result.data);
}

/** Parses a boolean-ish environment value ("1", "true", "yes" / "0", "false", "no"). */
export const envBool = z
  .union([z.boolean(), z.enum(['1', '0', 'true', 'false', 'yes', 'no', ''])])
  .transform((v) => v === true || v === '1' || v === 'true' || v === 'yes');

/** An http(s) URL without fragment, normalised to have no trailing slash. */
export const httpUrl = z
  .string()
  .url()
  .refine((s) => /^https?:\/\//i.test(s), 'must be an http or https URL')
  .refine((s) => !s.includes('#'), 'must not contain a fragment')
  .transform((s) => {
    const u = new URL(s);
    const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
    return `${u.protocol}//${u.host}${path}${u.search}`;
  });

export const port = z.coerce.number().int().min(0).max(65535);

/** A Redis connection URL (redis:// or rediss:// for TLS); an empty value means "not set". */
export const redisUrl = z
  .string()
  .trim()
  .refine((s) => s === '' || (/^rediss?:\/\/[^\s]+$/i.test(s) && URL.canParse(s)), 'must be a redis:// or rediss:// URL')
  .transform((s) => (s === '' ? undefined : s));

/** A key prefix for shared stores: short, printable, no spaces. */
export const keyPrefix = z.string().regex(/^[A-Za-z0-9:_.-]{0,64}$/, 'must be at most 64 letters, digits or : _ . -');

export const positiveInt = z.coerce.number().int().positive();

export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** A 32-byte key given as base64 or base64url. */
export const key256 = z
  .string()
  .transform((s, ctx) => {
    const buf = Buffer.from(s.trim(), /[-_]/.test(s) ? 'base64url' : 'base64');
    if (buf.length !== 32) {
      ctx.addIssue({ code: 'custom', message: 'must be 32 bytes, base64-encoded (generate one with: openssl rand -base64 32)' });
      return z.NEVER;
    }
    return buf;
  });

export { trustProxy, trustProxyOption } from './trust-proxy.ts';
export { auditSettings, auditChainConfig } from './audit-settings.ts';
export { metricsHost, metricsListen, metricsPort, metricsWarning } from './metrics-settings.ts';
export { tracingSettings, tracingConfig, type TracingConfig, type OtlpProtocol } from './tracing-settings.ts';
export { databaseSettings, postgresConfig, sqlIdentifier } from './database-settings.ts';
