import { closeSync, openSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { parseDocument } from 'yaml';
import { deepFreeze } from '@stack/config';
import { crossCheck, type StackEnv } from './cross-checks.ts';
import { issueProblems, problem, StackFileError } from './errors.ts';
import { expandScopes } from './expand.ts';
import { misplacedRefs } from './refs.ts';
import { DEFAULT_IDLE_TIMEOUT_SECONDS, DEFAULT_MAX_CHILDREN, MAX_STACK_FILE_BYTES, providerSlug, stackFile, type RawIdentityProvider, type RawRule, type RawServer, type RawStackFile } from './schema.ts';

export type { StackEnv };

/** Who may use one tool, resource or prompt. */
export interface Rule {
  roles: readonly string[];
  /** Every scope the call needs, deduplicated, in the order the file declares its scopes. */
  scopes: readonly string[];
  /** Per identity; for tools, the server's default_tool_rate_limit_per_minute when the rule sets none. */
  ratePerMinute: number | undefined;
}

/** Rules by tool name, resource URI or prompt name, and what applies to the ones not named. */
export interface RuleSet {
  rules: Readonly<Record<string, Rule>>;
  default: 'deny' | Rule;
}

export type Upstream =
  | { kind: 'builtin'; name: 'database' }
  | { kind: 'http'; url: string; headers: Readonly<Record<string, string>> }
  | {
      kind: 'stdio';
      command: string;
      args: readonly string[];
      env: Readonly<Record<string, string>>;
      /** One child per caller identity instead of one shared child. */
      isolation?: { mode: 'per-identity'; maxChildren: number; idleTimeoutSeconds: number };
    };

export type AuthMethod = 'oauth' | 'apikey';
/** Whether a server's access tokens must be DPoP-bound (RFC 9449): `required`, or `allowed` (bearer or DPoP). */
export type DpopMode = 'required' | 'allowed';

export interface ServerConfig {
  name: string;
  /** Path on the MCP app; the server's resource URL is the public origin followed by it. */
  path: string;
  /** Header and env values still hold their ${secret:…} / ${env:…} references: see resolveRefs. */
  upstream: Upstream;
  /** How callers authenticate; undefined when the file does not say (the MCP app's MCP_AUTH_MODE then decides). */
  auth: readonly AuthMethod[] | undefined;
  /** RFC 9449: `required` takes only DPoP-bound access tokens with a proof, `allowed` (the default) bearer ones too. */
  dpop: DpopMode;
  tools: RuleSet;
  resources: RuleSet;
  prompts: RuleSet;
  scopeImplies: Readonly<Record<string, readonly string[]>>;
  defaultToolRatePerMinute: number | undefined;
  timeoutSeconds: number;
  maxResponseBytes: number;
  /** Every scope some rule of this server needs, in declaration order: PRM scopes_supported and the 401 challenge. */
  scopesSupported: readonly string[];
  /** The rule for a tool, resource URI or prompt name; undefined when it is denied. */
  ruleFor(kind: 'tools' | 'resources' | 'prompts', key: string): Rule | undefined;
  /** The scopes a token's granted scopes satisfy, following scope_implies transitively. */
  expand(granted: readonly string[]): Set<string>;
}

export interface ScopeConfig {
  /** The sentence the consent screen shows. */
  description: string;
  /** The roles that may be granted this scope. */
  roles: readonly string[];
}

/** A validated, frozen stack file. */
export interface StackConfig {
  source: string;
  roles: readonly string[];
  /** In the order the file declares them. */
  scopes: Readonly<Record<string, ScopeConfig>>;
  servers: readonly ServerConfig[];
  /** Dynamic registration: the role a self-registered client_credentials client gets; undefined: none may register. */
  registration: { clientCredentialsRole: string | undefined };
  /** Enterprise IdPs whose ID-JAGs the token endpoint accepts (jwt-bearer grant), in file order. */
  enterpriseIdps: readonly EnterpriseIdp[];
  /** Workload identity issuers whose tokens the token endpoint accepts (jwt-bearer grant), in file order. */
  workloadIssuers: readonly WorkloadIssuer[];
  /** Second factors: the roles that must pass one, and the upstream `amr` values that count as one. */
  mfa: MfaPolicy;
  /** Upstream identity providers people sign in with, in file order. */
  identityProviders: readonly IdentityProvider[];
  /** false: people sign in only through identityProviders. */
  passwordLogin: boolean;
  /** The scopes a role may be granted, in declaration order. */
  scopesForRole(role: string): readonly string[];
  /** Each server's resource URL (RFC 8707 / RFC 9728 `resource`): the public origin followed by its path. */
  resourceUrls(publicOrigin: string): string[];
  serverByPath(path: string): ServerConfig | undefined;
}

/** The stack file's `mfa` section. */
export interface MfaPolicy {
  /** People with these roles pass a second factor at every sign-in (enrolling one first if they have none). */
  requiredRoles: readonly string[];
  /** A federated sign-in whose ID token `amr` holds one of these has passed the second factor upstream. */
  trustFederatedAmr: readonly string[];
}

/** An enterprise IdP trusted for ID-JAGs (draft-ietf-oauth-identity-assertion-authz-grant). */
export interface EnterpriseIdp {
  issuer: string;
  jwksUri: string;
  /** The client_ids that may present its grants. */
  clients: readonly string[];
  /** The claim whose value(s) pick the role. */
  roleClaim: string;
  /** Claim value → role, in file order (the first value the claim holds wins). */
  roles: Readonly<Record<string, string>>;
  defaultRole: string | undefined;
}

/** One role rule of an identity provider: `claim` passes `test` against `value` → `role`. */
export interface RoleRule {
  claim: string;
  test: 'contains' | 'equals' | 'ends_with';
  value: string;
  role: string;
}

/** An upstream identity provider (OpenID Connect, or GitHub's OAuth 2.0 endpoints). */
export interface IdentityProvider {
  /** The button reads "Continue with <name>". */
  name: string;
  /** Its URLs: /federation/<slug>/start and /federation/<slug>/callback. */
  slug: string;
  kind: 'oidc' | 'github';
  /** The OpenID Connect issuer; for GitHub, https://github.com or a GitHub Enterprise Server. */
  issuer: string;
  clientId: string;
  /** Still holds its ${secret:…} / ${env:…} references (resolveRefs); undefined: a public client (PKCE only). */
  clientSecret: string | undefined;
  scopes: readonly string[];
  /** In file order: the first that matches gives the role; none refuses the sign-in. */
  roleRules: readonly RoleRule[];
}

/** A workload identity issuer trusted for JWT bearer grants (RFC 7523 §2.1). */
export interface WorkloadIssuer {
  issuer: string;
  jwksUri: string;
  /** What `aud` must name; undefined: our token endpoint URL or issuer. */
  audience: readonly string[] | undefined;
  /** Source of a regular expression the whole `sub` must match; undefined: any subject. */
  subjectPattern: string | undefined;
  /** The client every token from this issuer acts as. */
  clientId: string;
  role: string;
  jti: 'required' | 'optional';
}

export interface StackFileOptions {
  /** Names the file in errors (default `(inline)`). */
  source?: string;
  /** Default yaml (YAML is a superset of JSON). */
  format?: 'yaml' | 'json';
  /** production refuses plain http to an upstream that is not on loopback. */
  env: StackEnv;
}

// The document as text becomes a value: the first problem here stops (nothing else can be checked).
function parseText(text: string, format: 'yaml' | 'json'): { doc: unknown } | { problems: string[] } {
  if (format === 'json') {
    try {
      return { doc: JSON.parse(text) as unknown };
    } catch (err) {
      // V8 quotes a piece of the text: the file may hold a token, so only the position is kept.
      const at = /position (\d+)/.exec((err as Error).message)?.[1];
      return { problems: [problem([], `not valid JSON${at ? ` (at character ${at})` : ''}`)] };
    }
  }
  // Aliases are bounded: a few lines of anchors must not expand into a huge document ("billion laughs").
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    return {
      // The message's first line only: the lines after it quote the file.
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return problem([], `not valid YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
      }),
    };
  }
  try {
    return { doc: doc.toJS({ maxAliasCount: 50 }) as unknown };
  } catch (err) {
    return { problems: [problem([], `not valid YAML: ${(err as Error).message.split('\n')[0]}`)] };
  }
}

/** Validates a stack file's text; throws StackFileError listing every problem. */
export function parseStackFile(text: string, opts: StackFileOptions): StackConfig {
  const source = opts.source ?? '(inline)';
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_STACK_FILE_BYTES) throw new StackFileError(source, [problem([], `is ${bytes} bytes, more than the limit of ${MAX_STACK_FILE_BYTES} (1 MiB)`)]);
  const parsed = parseText(text, opts.format ?? 'yaml');
  if ('problems' in parsed) throw new StackFileError(source, parsed.problems);
  const { doc } = parsed;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new StackFileError(source, [problem([], 'must be a mapping with roles, scopes and servers')]);
  const r = stackFile.safeParse(doc);
  const problems = [...new Set([...(r.success ? [] : issueProblems(r.error.issues)), ...misplacedRefs(doc), ...crossCheck(doc, opts.env)])];
  if (!r.success || problems.length) throw new StackFileError(source, problems);
  return build(r.data, source);
}

/** Reads (at most 1 MiB) and validates a stack file; `.json` is read as JSON, anything else as YAML. */
export function loadStackFile(path: string, opts: Omit<StackFileOptions, 'source'>): StackConfig {
  let text: string;
  try {
    text = readCapped(path, MAX_STACK_FILE_BYTES);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StackFileError(path, [problem([], code === 'EFBIG' ? `is larger than the limit of ${MAX_STACK_FILE_BYTES} bytes (1 MiB)` : `cannot read the file (${code ?? 'error'})`)]);
  }
  return parseStackFile(text, { ...opts, source: path, format: opts.format ?? (extname(path).toLowerCase() === '.json' ? 'json' : 'yaml') });
}

// Reads one byte past the cap, so a file that grows while it is read is refused too, without reading it all.
function readCapped(path: string, cap: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(cap + 1);
    let n = 0;
    for (let got = -1; got !== 0 && n < buf.length; n += got) got = readSync(fd, buf, n, buf.length - n, n);
    if (n > cap) throw Object.assign(new Error('file too large'), { code: 'EFBIG' });
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

function build(file: RawStackFile, source: string): StackConfig {
  const scopeNames = Object.keys(file.scopes);
  const order = new Map(scopeNames.map((s, i) => [s, i]));
  const sortScopes = (scopes: Iterable<string>) => [...new Set(scopes)].sort((a, b) => order.get(a)! - order.get(b)!);
  const scopes = Object.fromEntries(Object.entries(file.scopes).map(([name, s]) => [name, { description: s.description, roles: [...new Set(s.roles)] }]));
  const servers = file.servers.map((s) => buildServer(s, sortScopes));
  const byPath = new Map(servers.map((s) => [s.path, s]));
  return deepFreeze({
    source,
    roles: [...file.roles],
    scopes,
    servers,
    registration: { clientCredentialsRole: file.registration?.client_credentials_role },
    enterpriseIdps: file.enterprise_idps.map((e) => ({
      issuer: e.issuer, jwksUri: e.jwks_uri, clients: [...new Set(e.clients)], roleClaim: e.role_claim, roles: e.roles, defaultRole: e.default_role,
    })),
    workloadIssuers: file.workload_issuers.map((w) => ({
      issuer: w.issuer, jwksUri: w.jwks_uri, audience: w.audience, subjectPattern: w.subject_pattern, clientId: w.client_id, role: w.role, jti: w.jti,
    })),
    mfa: { requiredRoles: [...new Set(file.mfa.required_roles)], trustFederatedAmr: [...new Set(file.mfa.trust_federated_amr)] },
    identityProviders: file.identity_providers.map(buildProvider),
    passwordLogin: file.password_login,
    scopesForRole: (role: string) => scopeNames.filter((s) => scopes[s]!.roles.includes(role)),
    resourceUrls: (publicOrigin: string) => servers.map((s) => `${publicOrigin.replace(/\/+$/, '')}${s.path}`),
    serverByPath: (path: string) => byPath.get(path),
  });
}

function buildServer(s: RawServer, sortScopes: (scopes: Iterable<string>) => string[]): ServerConfig {
  const toRule = (r: RawRule, fallbackRate?: number): Rule => ({
    roles: [...new Set(r.roles)],
    scopes: sortScopes(r.scopes),
    ratePerMinute: r.rate_limit_per_minute ?? fallbackRate,
  });
  const ruleSet = (rules: Record<string, RawRule>, dflt: 'deny' | RawRule, fallbackRate?: number): RuleSet => ({
    rules: Object.fromEntries(Object.entries(rules).map(([k, r]) => [k, toRule(r, fallbackRate)])),
    default: dflt === 'deny' ? 'deny' : toRule(dflt, fallbackRate),
  });
  const rate = s.default_tool_rate_limit_per_minute;
  const sets = {
    tools: ruleSet(s.tools, s.default, rate),
    resources: ruleSet(s.resources?.rules ?? {}, s.resources?.default ?? 'deny'),
    prompts: ruleSet(s.prompts?.rules ?? {}, s.prompts?.default ?? 'deny'),
  };
  const allRules = Object.values(sets).flatMap((set) => [...Object.values(set.rules), ...(set.default === 'deny' ? [] : [set.default])]);
  const implies = s.scope_implies;
  return {
    name: s.name,
    path: s.path,
    upstream: upstreamOf(s),
    auth: s.auth,
    dpop: s.dpop,
    ...sets,
    scopeImplies: implies,
    defaultToolRatePerMinute: rate,
    timeoutSeconds: s.timeout_seconds,
    maxResponseBytes: s.max_response_bytes,
    scopesSupported: sortScopes(allRules.flatMap((r) => r.scopes)),
    ruleFor(kind, key) {
      const set = sets[kind];
      const rule = Object.hasOwn(set.rules, key) ? set.rules[key] : undefined;
      return rule ?? (set.default === 'deny' ? undefined : set.default);
    },
    expand: (granted) => expandScopes(granted, implies),
  };
}

function upstreamOf(s: RawServer): Upstream {
  const u = s.upstream;
  if (u.url !== undefined) return { kind: 'http', url: u.url, headers: u.headers ?? {} };
  if (u.command !== undefined) {
    return {
      kind: 'stdio',
      command: u.command,
      args: u.args ?? [],
      env: u.env ?? {},
      ...(s.isolation ? { isolation: { mode: s.isolation, maxChildren: s.max_children ?? DEFAULT_MAX_CHILDREN, idleTimeoutSeconds: s.idle_timeout_seconds ?? DEFAULT_IDLE_TIMEOUT_SECONDS } } : {}),
    };
  }
  return { kind: 'builtin', name: 'database' };
}

const DEFAULT_SCOPES = { oidc: ['openid', 'email', 'profile'], github: ['read:user', 'user:email'] } as const;

function buildProvider(p: RawIdentityProvider): IdentityProvider {
  const kind = p.preset === 'github' ? 'github' : 'oidc';
  return {
    name: p.name,
    slug: providerSlug(p.name),
    kind,
    issuer: p.issuer ?? 'https://github.com',
    clientId: p.client_id,
    clientSecret: p.client_secret,
    scopes: [...new Set(p.scopes ?? DEFAULT_SCOPES[kind])],
    roleRules: p.role_rules.map((r) => {
      const test = r.contains !== undefined ? 'contains' : r.equals !== undefined ? 'equals' : 'ends_with';
      return { claim: r.claim, test, value: (r.contains ?? r.equals ?? r.ends_with)!, role: r.role };
    }),
  };
}
