import { problem, type Path } from './errors.ts';
import { expandScopes } from './expand.ts';
import { defaultRule, enterpriseIdp, jwksUri, mfa as mfaSchema, providerName, providerSlug, roleRule, registration as registrationSchema, workloadIssuer, roles as rolesSchema, rule as ruleSchema, scopeEntry, scopeImplies, scopeToken, serverName, serverPath, upstream as upstreamSchema, type RawRule } from './schema.ts';

export type StackEnv = 'production' | 'development' | 'test';

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);
const isLoopback = (host: string) => LOOPBACK_HOSTS.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);

/**
 * The rules that relate one part of the file to another: roles and scopes used are declared, a
 * rule's roles can be granted the scopes it needs, server names and paths are unique, and (in
 * production) plain http goes to loopback only. They run on the raw document, each piece parsed
 * on its own, so a structural mistake elsewhere (reported by the schema) does not hide them: an
 * operator sees every problem in one go. A piece that does not parse is skipped here.
 */
export function crossCheck(doc: unknown, env: StackEnv): string[] {
  const problems: string[] = [];
  if (!isObject(doc)) return problems;
  const add = (path: Path, message: string) => problems.push(problem(path, message));

  const parsedRoles = rolesSchema.safeParse(doc.roles);
  const declaredRoles = parsedRoles.success ? new Set(parsedRoles.data) : undefined;

  // Declared scopes, with the roles each may be granted to (undefined when its entry is invalid).
  const scopeRoles = new Map<string, ReadonlySet<string> | undefined>();
  if (isObject(doc.scopes)) {
    for (const [name, raw] of Object.entries(doc.scopes)) {
      if (!scopeToken.safeParse(name).success) continue;
      const entry = scopeEntry.safeParse(raw);
      scopeRoles.set(name, entry.success ? new Set(entry.data.roles) : undefined);
      if (entry.success && declaredRoles) {
        entry.data.roles.forEach((r, i) => {
          if (!declaredRoles.has(r)) add(['scopes', name, 'roles', i], `role '${r}' is not in roles`);
        });
      }
    }
  }
  const reg = registrationSchema.safeParse(doc.registration ?? {});
  const ccRole = reg.success ? reg.data.client_credentials_role : undefined;
  if (ccRole !== undefined && declaredRoles && !declaredRoles.has(ccRole)) add(['registration', 'client_credentials_role'], `role '${ccRole}' is not in roles`);

  checkTrustedIssuers(doc, env, declaredRoles, add);
  checkIdentityProviders(doc, env, declaredRoles, add);

  const mfa = mfaSchema.safeParse(doc.mfa ?? {});
  if (mfa.success && declaredRoles) {
    mfa.data.required_roles.forEach((r, i) => {
      if (!declaredRoles.has(r)) add(['mfa', 'required_roles', i], `role '${r}' is not in roles`);
    });
  }

  const scopesKnown = isObject(doc.scopes);
  const allScopeEntriesValid = [...scopeRoles.values()].every((r) => r !== undefined);

  if (!Array.isArray(doc.servers)) return problems;
  const names = new Map<string, number>();
  const paths = new Map<string, number>();
  doc.servers.forEach((raw: unknown, i: number) => {
    if (!isObject(raw)) return;
    const at = (...p: Path) => ['servers', i, ...p];

    const name = serverName.safeParse(raw.name);
    if (name.success) {
      const first = names.get(name.data);
      if (first !== undefined) add(at('name'), `'${name.data}' is already the name of servers.${first}`);
      else names.set(name.data, i);
    }
    const path = serverPath.safeParse(raw.path);
    if (path.success) {
      // Compared without case: /MCP next to /mcp would confuse operators and case-insensitive proxies.
      const key = path.data.toLowerCase();
      const first = paths.get(key);
      if (first !== undefined) add(at('path'), `'${path.data}' is already the path of servers.${first}`);
      else paths.set(key, i);
    }

    const up = upstreamSchema.safeParse(raw.upstream);
    if (up.success && up.data.url !== undefined && env === 'production') {
      const u = new URL(up.data.url);
      if (u.protocol === 'http:' && !isLoopback(u.hostname)) add(at('upstream', 'url'), 'must be https in production (plain http only to a loopback host: localhost, 127.0.0.1, [::1])');
    }

    // `dpop: required` is about access tokens: a server that takes none could never be called.
    if (raw.dpop === 'required' && Array.isArray(raw.auth) && !raw.auth.includes('oauth')) add(at('dpop'), "'required' needs oauth in auth (DPoP binds access tokens, not API keys)");

    const implies = scopeImplies.safeParse(raw.scope_implies);
    const impliesMap = implies.success ? implies.data : {};
    if (implies.success && scopesKnown) {
      for (const [from, to] of Object.entries(impliesMap)) {
        if (!scopeRoles.has(from)) add(at('scope_implies', from), `scope '${from}' is not in scopes`);
        to.forEach((s, j) => {
          if (!scopeRoles.has(s)) add(at('scope_implies', from, j), `scope '${s}' is not in scopes`);
        });
      }
    }

    const checkRule = (r: RawRule, p: Path) => {
      r.roles.forEach((role, j) => {
        if (declaredRoles && !declaredRoles.has(role)) add([...p, 'roles', j], `role '${role}' is not in roles`);
      });
      const undeclared = scopesKnown ? r.scopes.filter((s) => !scopeRoles.has(s)) : [];
      r.scopes.forEach((s, j) => {
        if (undeclared.includes(s)) add([...p, 'scopes', j], `scope '${s}' is not in scopes`);
      });
      // Whether each role can ever hold every scope the rule needs (directly or through scope_implies).
      if (!scopesKnown || !allScopeEntriesValid || undeclared.length > 0 || !implies.success) return;
      r.roles.forEach((role, j) => {
        if (declaredRoles && !declaredRoles.has(role)) return;
        const granted = [...scopeRoles].filter(([, rs]) => rs!.has(role)).map(([s]) => s);
        const reachable = expandScopes(granted, impliesMap);
        const never = r.scopes.filter((s) => !reachable.has(s));
        if (never.length) add([...p, 'roles', j], `role '${role}' may never be granted ${never.join(', ')}, so the rule can never be satisfied for it`);
      });
    };
    const checkMap = (m: unknown, p: Path) => {
      if (!isObject(m)) return;
      for (const [key, v] of Object.entries(m)) {
        if (key === 'default' && p[p.length - 1] !== 'tools') {
          const d = defaultRule.safeParse(v);
          if (d.success && d.data !== 'deny') checkRule(d.data, [...p, key]);
          continue;
        }
        const r = ruleSchema.safeParse(v);
        if (r.success) checkRule(r.data, [...p, key]);
      }
    };
    checkMap(raw.tools, at('tools'));
    const d = defaultRule.safeParse(raw.default ?? 'deny');
    if (d.success && d.data !== 'deny') checkRule(d.data, at('default'));
    checkMap(raw.resources, at('resources'));
    checkMap(raw.prompts, at('prompts'));
  });
  return problems;
}

/** An upstream URL: https, or plain http to a loopback host outside production. */
function checkUpstreamUrl(raw: unknown, p: Path, env: StackEnv, add: (path: Path, message: string) => void): void {
  if (!jwksUri.safeParse(raw).success) return;
  const u = new URL(raw as string);
  if (u.protocol === 'https:') return;
  if (env === 'production') add(p, 'must be https in production');
  else if (!isLoopback(u.hostname)) add(p, 'must be https (plain http only to a loopback host: localhost, 127.0.0.1, [::1])');
}

/**
 * Identity providers: slugs (their URLs) unique, role rules' roles declared, issuers over https
 * (whoever can change discovery or keys in transit could sign anyone in), and with
 * password_login: false at least one provider, or nobody could sign in.
 */
function checkIdentityProviders(doc: Record<string, unknown>, env: StackEnv, declaredRoles: ReadonlySet<string> | undefined, add: (path: Path, message: string) => void): void {
  const list = Array.isArray(doc.identity_providers) ? doc.identity_providers : [];
  if (doc.password_login === false && list.length === 0) add(['password_login'], 'false needs at least one entry in identity_providers (nobody could sign in)');
  const slugs = new Map<string, number>();
  list.forEach((raw: unknown, i: number) => {
    if (!isObject(raw)) return;
    const at = (...p: Path) => ['identity_providers', i, ...p];
    checkUpstreamUrl(raw.issuer, at('issuer'), env, add);
    if (providerName.safeParse(raw.name).success) {
      const slug = providerSlug(raw.name as string);
      const first = slugs.get(slug);
      if (first !== undefined) add(at('name'), `its URL name '${slug}' is already that of identity_providers.${first}`);
      else slugs.set(slug, i);
    }
    if (!Array.isArray(raw.role_rules)) return;
    raw.role_rules.forEach((r: unknown, j: number) => {
      const rule = roleRule.safeParse(r);
      if (rule.success && declaredRoles && !declaredRoles.has(rule.data.role)) add(at('role_rules', j, 'role'), `role '${rule.data.role}' is not in roles`);
    });
  });
}

/**
 * Enterprise IdPs and workload issuers: the roles they map to are declared, and their keys come over
 * https in production (plain http only to a loopback host in development and test): whoever can
 * change the keys in transit could mint any identity.
 */
function checkTrustedIssuers(doc: Record<string, unknown>, env: StackEnv, declaredRoles: ReadonlySet<string> | undefined, add: (path: Path, message: string) => void): void {
  const checkUri = (raw: unknown, p: Path) => checkUpstreamUrl(raw, p, env, add);
  const checkRole = (role: string, p: Path) => {
    if (declaredRoles && !declaredRoles.has(role)) add(p, `role '${role}' is not in roles`);
  };
  if (Array.isArray(doc.enterprise_idps)) {
    doc.enterprise_idps.forEach((raw: unknown, i: number) => {
      if (!isObject(raw)) return;
      checkUri(raw.jwks_uri, ['enterprise_idps', i, 'jwks_uri']);
      const e = enterpriseIdp.safeParse(raw);
      if (!e.success) return;
      for (const [value, role] of Object.entries(e.data.roles)) checkRole(role, ['enterprise_idps', i, 'roles', value]);
      if (e.data.default_role !== undefined) checkRole(e.data.default_role, ['enterprise_idps', i, 'default_role']);
    });
  }
  if (Array.isArray(doc.workload_issuers)) {
    doc.workload_issuers.forEach((raw: unknown, i: number) => {
      if (!isObject(raw)) return;
      checkUri(raw.jwks_uri, ['workload_issuers', i, 'jwks_uri']);
      const w = workloadIssuer.safeParse(raw);
      if (w.success) checkRole(w.data.role, ['workload_issuers', i, 'role']);
    });
  }
}
