import { z } from 'zod';

/**
 * The stack file's shape, field by field. Cross-field rules (declared roles and scopes, unique
 * names and paths, rules that can be satisfied) are in cross-checks.ts; this file holds what one
 * value alone must be. Every string, list and map is bounded: the file is read at start and on
 * every reload, and a mistake (or a hostile edit) must not make that slow or large.
 */

export const MAX_STACK_FILE_BYTES = 1024 * 1024;
export const MAX_SERVERS = 64;
/** Per server, for each of tools, resources and prompts. */
export const MAX_RULES = 1000;
export const MAX_ROLES = 32;
export const MAX_SCOPES = 256;

/** Upstream calls: how long one may take, and how large an answer may be. */
export const DEFAULT_TIMEOUT_SECONDS = 30;
export const MAX_TIMEOUT_SECONDS = 300;
/** The MCP app's own cap on a tool result (MAX_REPLY_BYTES in apps/mcp-server/src/message-limits.ts). */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024 + 64 * 1024;
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** isolation: per-identity starts one stdio child per caller: bounded in number and idle time. */
export const DEFAULT_MAX_CHILDREN = 8;
export const MAX_CHILDREN = 256;
export const DEFAULT_IDLE_TIMEOUT_SECONDS = 300;
export const MAX_IDLE_TIMEOUT_SECONDS = 24 * 3600;

export const DEFAULT_ROLES = ['admin', 'developer', 'viewer'] as const;

/** RFC 6749 section 3.3 scope-token (the same as apps/mcp-server/src/policy.ts), at most 64 characters. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,64}$/;
export const scopeToken = z.string().regex(SCOPE_TOKEN, 'must be an RFC 6749 scope token');
// MCP 2026-07-28: offline_access is never a resource scope (clients ask the AS for it themselves).
const resourceScope = scopeToken.refine((s) => s !== 'offline_access', 'offline_access is not a tool scope');

export const roleName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be 1-32 lowercase letters, digits, _ or -, starting with a letter');
/** Tool and prompt names, as apps/mcp-server/src/policy.ts accepts tool names. */
export const toolName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . or -');
/** Server names appear in URLs, logs and metric labels: a lowercase slug. */
export const serverName = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, 'must be a slug: 1-64 lowercase letters, digits or -, not starting or ending with -');
// eslint-disable-next-line no-control-regex -- control characters are what this pattern refuses
const CONTROL = /[\u0000-\u001f\u007f]/;
const noControl = (max: number) =>
  z.string().max(max, `must be at most ${max} characters`).refine((s) => !CONTROL.test(s), 'must not contain control characters');

const resourceUri = noControl(2048).regex(/^[A-Za-z][A-Za-z0-9+.-]*:\S*$/, 'must be a URI (scheme:…) without spaces');

/**
 * `${secret:NAME}` and `${env:NAME}`: the references header values and stdio env values may hold.
 * NAME takes what the secret store accepts as a name (`npm run admin -- secrets set NAME`).
 */
export const REF = /\$\{(secret|env):([A-Za-z0-9_.-]{1,64})\}/g;
/** What looks like a reference, well-formed or not. */
export const REF_LIKE = /\$\{(?:secret|env):/;
const refsWellFormed = (s: string) => s.replace(REF, '').search(REF_LIKE) < 0;
const REF_MESSAGE = 'a reference must be ${secret:NAME} or ${env:NAME}, NAME of 1-64 letters, digits, _ . or -';
/** A value that may hold references: no line breaks or NUL (a header value must not start another header). */
const refValue = noControl(4096).refine(refsWellFormed, REF_MESSAGE);

const rateLimit = z.number().int().positive().max(1_000_000);

export const rule = z.strictObject({
  roles: z.array(roleName).min(1).max(MAX_ROLES),
  scopes: z.array(resourceScope).min(1).max(16),
  rate_limit_per_minute: rateLimit.optional(),
});
export type RawRule = z.output<typeof rule>;

/** For what the file does not name: `deny` (the default) or one rule for all of them. */
export const defaultRule = z.union([z.literal('deny'), rule], { error: 'must be deny or a rule { roles, scopes, rate_limit_per_minute }' });

const ruleMap = <K extends z.ZodType<string>>(key: K) =>
  z.record(key, rule).refine((m) => Object.keys(m).length <= MAX_RULES, `must have at most ${MAX_RULES} rules`);

/** resources and prompts: rules keyed by URI (or prompt name), plus `default`. */
const keyedRules = <K extends z.ZodType<string>>(key: K) =>
  z.record(z.string(), z.unknown()).transform((m, ctx) => {
    const { default: dflt = 'deny', ...rest } = m;
    const d = defaultRule.safeParse(dflt);
    const rules = ruleMap(key).safeParse(rest);
    for (const i of [...(d.error?.issues ?? []).map((i) => ({ ...i, path: ['default', ...i.path] })), ...(rules.error?.issues ?? [])]) {
      ctx.addIssue({ code: 'custom', message: issueMessage(i), path: i.path });
    }
    if (!d.success || !rules.success) return z.NEVER;
    return { rules: rules.data, default: d.data };
  });

/** A zod issue's message; an invalid record key carries the key schema's own message. */
export function issueMessage(i: z.core.$ZodIssue): string {
  if (i.code === 'invalid_key' && i.issues.length > 0) return i.issues.map((k) => k.message).join('; ');
  return i.message;
}

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, 'must be an HTTP header name (RFC 9110 token) of at most 64 characters');
// Set by the gateway itself for each call: an operator's value would break the transport or the session.
const RESERVED_HEADERS = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'mcp-method', 'mcp-name']);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name (letters, digits, _; not starting with a digit)');

export const upstream = z
  .strictObject({
    builtin: z.literal('database', { error: 'the only builtin is database' }).optional(),
    url: z.string().max(2048, 'must be at most 2048 characters').optional(),
    headers: z
      .record(headerName, refValue)
      .superRefine((h, ctx) => {
        const seen = new Set<string>();
        for (const k of Object.keys(h)) {
          const lower = k.toLowerCase();
          if (RESERVED_HEADERS.has(lower)) ctx.addIssue({ code: 'custom', path: [k], message: 'is set by the gateway and cannot be configured' });
          if (seen.has(lower)) ctx.addIssue({ code: 'custom', path: [k], message: 'is given twice (header names are case-insensitive)' });
          seen.add(lower);
        }
        if (seen.size > 32) ctx.addIssue({ code: 'custom', message: 'must have at most 32 headers' });
      })
      .optional(),
    command: noControl(1024).min(1, 'must not be empty').optional(),
    args: z.array(noControl(4096)).max(64).optional(),
    env: z.record(envName, refValue).refine((e) => Object.keys(e).length <= 64, 'must have at most 64 variables').optional(),
  })
  .superRefine((u, ctx) => {
    const kinds = (['builtin', 'url', 'command'] as const).filter((k) => u[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({ code: 'custom', message: `must have exactly one of builtin, url or command (found ${kinds.length ? kinds.join(', ') : 'none'})` });
      return;
    }
    const stray = (k: 'headers' | 'args' | 'env', kind: string) => {
      if (u[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `is only for ${kind} upstreams` });
    };
    if (u.url === undefined) stray('headers', 'url');
    if (u.command === undefined) {
      stray('args', 'command (stdio)');
      stray('env', 'command (stdio)');
    }
    if (u.url !== undefined) {
      const url = URL.canParse(u.url) ? new URL(u.url) : undefined;
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) ctx.addIssue({ code: 'custom', path: ['url'], message: 'must be an http or https URL' });
      else if (url.username || url.password) ctx.addIssue({ code: 'custom', path: ['url'], message: 'must not contain credentials (put them in headers, with ${secret:NAME})' });
      else if (url.hash || u.url.includes('#')) ctx.addIssue({ code: 'custom', path: ['url'], message: 'must not contain a fragment' });
    }
  });
export type RawUpstream = z.output<typeof upstream>;

// Served by the MCP app itself: metadata (RFC 9728), liveness and readiness.
const RESERVED_PATHS = new Set(['.well-known', 'health', 'ready']);

/** `/mcp/files`: a path on the MCP app, away from the routes the app serves itself. */
export const serverPath = z
  .string()
  .max(200, 'must be at most 200 characters')
  .superRefine((p, ctx) => {
    const bad = (message: string) => ctx.addIssue({ code: 'custom', message });
    if (!p.startsWith('/')) return bad('must start with /');
    if (p.includes('?') || p.includes('#')) return bad('must not contain a query or fragment');
    if (!/^[A-Za-z0-9._~/-]+$/.test(p)) return bad('may contain only letters, digits and . _ ~ - /');
    const segments = p.slice(1).split('/');
    if (segments.some((s) => s === '..' || s === '.')) return bad('must not contain . or .. segments');
    if (segments.some((s) => s === '')) return bad('must not be / alone, end with / or contain //');
    const first = segments[0]!.toLowerCase();
    if (RESERVED_PATHS.has(first)) bad(`must not be under /${first} (the app serves it)`);
  });

/** Scope hierarchy: a token with the key scope also satisfies the listed ones (transitively). */
export const scopeImplies = z
  .record(scopeToken, z.array(scopeToken).max(16))
  .refine((m) => Object.keys(m).length <= MAX_SCOPES, `must have at most ${MAX_SCOPES} entries`)
  .default({});

export const server = z.strictObject({
  name: serverName,
  path: serverPath,
  upstream,
  auth: z
    .array(z.enum(['oauth', 'apikey']))
    .min(1)
    .max(2)
    .refine((a) => new Set(a).size === a.length, 'must not repeat a method')
    // Not set: the MCP app's MCP_AUTH_MODE decides (oauth or apikey), so it stays undefined here.
    .optional(),
  // RFC 9449: `required` refuses bearer access tokens (only DPoP-bound ones with a proof); `allowed`
  // takes both. A DPoP-bound token is never accepted as a bearer token either way (§7.2).
  dpop: z.enum(['required', 'allowed'], { error: 'must be required or allowed' }).default('allowed'),
  tools: ruleMap(toolName).default({}),
  default: defaultRule.default('deny'),
  resources: keyedRules(resourceUri).optional(),
  prompts: keyedRules(toolName).optional(),
  scope_implies: scopeImplies,
  default_tool_rate_limit_per_minute: rateLimit.optional(),
  isolation: z.literal('per-identity', { error: 'the only isolation is per-identity' }).optional(),
  max_children: z.number().int().min(1).max(MAX_CHILDREN).optional(),
  idle_timeout_seconds: z.number().int().min(1).max(MAX_IDLE_TIMEOUT_SECONDS).optional(),
  timeout_seconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS).default(DEFAULT_TIMEOUT_SECONDS),
  max_response_bytes: z.number().int().min(1024).max(MAX_RESPONSE_BYTES).default(DEFAULT_MAX_RESPONSE_BYTES),
}).superRefine((s, ctx) => {
  if (s.isolation !== undefined && s.upstream.command === undefined) ctx.addIssue({ code: 'custom', path: ['isolation'], message: 'is only for command (stdio) upstreams' });
  for (const k of ['max_children', 'idle_timeout_seconds'] as const) {
    if (s[k] !== undefined && s.isolation === undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'needs isolation: per-identity' });
  }
});
export type RawServer = z.output<typeof server>;

export const scopeEntry = z.strictObject({
  description: noControl(300).min(1),
  roles: z.array(roleName).min(1).max(MAX_ROLES),
});

export const roles = z
  .array(roleName)
  .min(1)
  .max(MAX_ROLES)
  .refine((r) => new Set(r).size === r.length, 'must not repeat a role')
  .default([...DEFAULT_ROLES]);

export const scopes = z
  .record(scopeToken.refine((s) => s !== 'offline_access', 'offline_access is the authorization server\'s own scope (refresh tokens), not a resource scope'), scopeEntry)
  .refine((m) => Object.keys(m).length >= 1, 'must declare at least one scope')
  .refine((m) => Object.keys(m).length <= MAX_SCOPES, `must have at most ${MAX_SCOPES} scopes`);

/**
 * What dynamic client registration (RFC 7591) may create. `client_credentials_role`: when set, a
 * registration may ask for the client_credentials grant and the client acts with this role; unset
 * (the default), only an admin adds such clients (`clients add`).
 */
export const registration = z.strictObject({
  client_credentials_role: roleName.optional(),
});

export const MAX_TRUSTED_ISSUERS = 32;
const MAX_LISTED_CLIENTS = 100;
const MAX_ROLE_MAPPINGS = 100;

/** An issuer identifier, compared exactly with a token's `iss` (RFC 7519 §4.1.1). */
const issuerId = noControl(2048).min(1, 'must not be empty');
/** One of our client_ids (a generated id or a Client ID Metadata Document URL). */
const clientId = noControl(2048).min(1, 'must not be empty');
/** A JWT claim name whose value maps to a role (e.g. groups, roles, department). */
const claimName = z.string().regex(/^[A-Za-z0-9_:./-]{1,64}$/, 'must be a claim name: 1-64 letters, digits or _ : . / -');

/**
 * Where an issuer publishes its signing keys: an http(s) URL without credentials or fragment. Whether
 * plain http is allowed depends on the environment (cross-checks: https in production).
 */
export const jwksUri = z.string().max(2048, 'must be at most 2048 characters').superRefine((s, ctx) => {
  const url = URL.canParse(s) ? new URL(s) : undefined;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) ctx.addIssue({ code: 'custom', message: 'must be an https URL' });
  else if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not contain credentials' });
  else if (s.includes('#')) ctx.addIssue({ code: 'custom', message: 'must not contain a fragment' });
});

/**
 * An enterprise IdP whose Identity Assertion JWT Authorization Grants (ID-JAG,
 * draft-ietf-oauth-identity-assertion-authz-grant) we accept at the token endpoint: `clients` may
 * present them; the role is `roles[v]` for the first key v (in file order) that the `role_claim`
 * claim holds (a string or an array of strings), else `default_role`, else none (refused).
 */
export const enterpriseIdp = z
  .strictObject({
    issuer: issuerId,
    jwks_uri: jwksUri,
    clients: z.array(clientId).min(1, 'must list at least one client').max(MAX_LISTED_CLIENTS, `must list at most ${MAX_LISTED_CLIENTS} clients`),
    role_claim: claimName.default('groups'),
    roles: z
      .record(noControl(256).min(1, 'must not be empty'), roleName)
      .refine((m) => Object.keys(m).length <= MAX_ROLE_MAPPINGS, `must have at most ${MAX_ROLE_MAPPINGS} entries`)
      .default({}),
    default_role: roleName.optional(),
  })
  .refine((e) => Object.keys(e.roles).length > 0 || e.default_role !== undefined, 'must map at least one claim value in roles, or set default_role');
export type RawEnterpriseIdp = z.output<typeof enterpriseIdp>;

/** A compiled-on-load regular expression that must match a workload token's whole `sub`. */
const subjectPattern = z.string().min(1).max(256, 'must be at most 256 characters').refine((s) => {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}, 'must be a valid regular expression');

/**
 * A workload identity issuer (a Kubernetes cluster, a CI provider) whose tokens we accept with the JWT
 * bearer grant (RFC 7523 §2.1). Every token it issues acts as `client_id` with `role`; `audience`
 * defaults to our token endpoint URL and issuer; `jti: optional` admits platforms that set none.
 */
export const workloadIssuer = z.strictObject({
  issuer: issuerId,
  jwks_uri: jwksUri,
  audience: z.array(noControl(2048).min(1)).min(1).max(8).optional(),
  subject_pattern: subjectPattern.optional(),
  client_id: clientId,
  role: roleName,
  jti: z.enum(['required', 'optional']).default('required'),
});
export type RawWorkloadIssuer = z.output<typeof workloadIssuer>;

const uniqueIssuers = <T extends { issuer: string }>(list: T[]) => new Set(list.map((e) => e.issuer)).size === list.length;

export const enterpriseIdps = z
  .array(enterpriseIdp)
  .max(MAX_TRUSTED_ISSUERS, `must list at most ${MAX_TRUSTED_ISSUERS} issuers`)
  .refine(uniqueIssuers, 'must not list an issuer twice')
  .default([]);
export const workloadIssuers = z
  .array(workloadIssuer)
  .max(MAX_TRUSTED_ISSUERS, `must list at most ${MAX_TRUSTED_ISSUERS} issuers`)
  .refine(uniqueIssuers, 'must not list an issuer twice')
  .default([]);

/** An `amr` value (OpenID Connect Core §2; RFC 8176 registers mfa, hwk, otp, swk, …). */
const amrValue = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be an amr value: 1-64 letters, digits or _ . : -');

/**
 * Second factors. `required_roles`: people with these roles must pass a second factor (TOTP, a
 * passkey or a recovery code) at every sign-in, enrolling one first if they have none.
 * `trust_federated_amr`: a sign-in through an upstream identity provider whose ID token's `amr`
 * holds one of these values counts as having passed the second factor already. Both default to none.
 */
export const mfa = z.strictObject({
  required_roles: z.array(roleName).max(MAX_ROLES).refine((r) => new Set(r).size === r.length, 'must not repeat a role').default([]),
  trust_federated_amr: z.array(amrValue).max(16, 'must list at most 16 values').default([]),
});

export const MAX_IDENTITY_PROVIDERS = 16;
const MAX_ROLE_RULES = 100;

/** What a provider's name becomes in its URLs (/federation/<slug>/start): lowercase letters and digits joined by -. */
export const providerSlug = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);

/** The name on the button; its slug names the provider's URLs. */
export const providerName = noControl(64).min(1, 'must not be empty').refine((n) => providerSlug(n) !== '', 'must contain a letter or digit (its slug names its URLs)');

/**
 * One role rule: when the upstream claim `claim` satisfies the test, the person gets `role`. Exactly
 * one test: `contains` (a list claim holds the value; a single string claim equals it), `equals` (a
 * string claim is the value) or `ends_with` (a string claim ends with the value, without regard to case).
 */
export const roleRule = z
  .strictObject({
    claim: claimName,
    contains: noControl(256).min(1).optional(),
    equals: noControl(256).min(1).optional(),
    ends_with: noControl(256).min(1).optional(),
    role: roleName,
  })
  .superRefine((r, ctx) => {
    const tests = (['contains', 'equals', 'ends_with'] as const).filter((k) => r[k] !== undefined);
    if (tests.length !== 1) ctx.addIssue({ code: 'custom', message: `must have exactly one of contains, equals or ends_with (found ${tests.length ? tests.join(', ') : 'none'})` });
  });
export type RawRoleRule = z.output<typeof roleRule>;

/**
 * An upstream identity provider people sign in with ("Continue with <name>"): an OpenID Connect
 * provider found from its issuer's metadata, or `preset: github` (GitHub's OAuth 2.0 endpoints and
 * user API; `issuer` is then https://github.com or a GitHub Enterprise Server's address). Whether
 * plain http is allowed depends on the environment (cross-checks: https in production).
 */
export const identityProvider = z
  .strictObject({
    name: providerName,
    preset: z.literal('github', { error: 'the only preset is github' }).optional(),
    issuer: jwksUri.optional(),
    client_id: noControl(256).min(1, 'must not be empty'),
    client_secret: refValue.optional(),
    scopes: z.array(scopeToken).min(1).max(32).optional(),
    role_rules: z.array(roleRule).min(1, 'must have at least one rule (no match refuses the sign-in)').max(MAX_ROLE_RULES, `must have at most ${MAX_ROLE_RULES} rules`),
  })
  .superRefine((p, ctx) => {
    if (p.preset === undefined && p.issuer === undefined) ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'is required (the provider\'s OpenID Connect issuer URL) unless preset is github' });
    if (p.preset === undefined && p.scopes !== undefined && !p.scopes.includes('openid')) ctx.addIssue({ code: 'custom', path: ['scopes'], message: 'must include openid (an OpenID Connect sign-in needs an ID token)' });
  });
export type RawIdentityProvider = z.output<typeof identityProvider>;

export const identityProviders = z
  .array(identityProvider)
  .max(MAX_IDENTITY_PROVIDERS, `must list at most ${MAX_IDENTITY_PROVIDERS} providers`)
  .default([]);

export const stackFile = z.strictObject({
  roles,
  scopes,
  registration: registration.optional(),
  mfa: mfa.default({ required_roles: [], trust_federated_amr: [] }),
  enterprise_idps: enterpriseIdps,
  workload_issuers: workloadIssuers,
  identity_providers: identityProviders,
  /** false: people sign in only through identity_providers (the password form is gone, POST /login refuses). */
  password_login: z.boolean({ error: 'must be true or false' }).default(true),
  servers: z.array(server).min(1, 'must list at least one server').max(MAX_SERVERS, `must list at most ${MAX_SERVERS} servers`),
});
export type RawStackFile = z.output<typeof stackFile>;
