/**
 * The stack file (`STACK_FILE`, default `./stack.yaml`; YAML, or JSON for a `.json` name): the one
 * file both apps read for the roles, the scopes and the MCP servers the gateway protects. It is
 * validated at start, with every problem reported at once as `path: message`, and read again on
 * SIGHUP, where an invalid file is refused and the running one kept (createStackFileReloader).
 *
 *   roles:    role names (default admin, developer, viewer).
 *   scopes:   name → { description: the sentence the consent screen shows,
 *                      roles: the roles that may be granted it }.
 *   servers:  each protected MCP server:
 *     name      a slug, unique.
 *     path      its path on the MCP app (`/mcp/files`), unique; its resource URL is the public
 *               origin followed by it. Not under /.well-known, /health or /ready.
 *     upstream  exactly one of
 *                 { builtin: database }                    the demo database tools;
 *                 { url, headers? }                        a Streamable HTTP server (https; plain
 *                                                          http only to loopback in production);
 *                 { command, args?, env? }                 a stdio server the gateway starts.
 *               Header values and env values may hold `${secret:NAME}` (the encrypted secret
 *               store) and `${env:NAME}` (the gateway's environment), NAME as the secret store names it; nothing
 *               else may. They stay unresolved here: see findSecretRefs and resolveRefs.
 *     auth      [oauth], [apikey] or both; not set: the MCP app's MCP_AUTH_MODE (oauth or apikey)
 *               decides, and MCP_AUTH_MODE=mtls or none applies to every server whatever it says.
 *     dpop      `allowed` (default): bearer or DPoP-bound (RFC 9449) access tokens; `required`:
 *               DPoP-bound ones only, advertised in its metadata; refused with an `auth` that lacks oauth.
 *     tools     tool name → { roles, scopes, rate_limit_per_minute? }.
 *     default   for tools the upstream lists and `tools` does not name: `deny` (the default) or
 *               one rule.
 *     resources resources/read, URI → rule, plus `default` (deny unless set).
 *     prompts   prompts/get, prompt name → rule, plus `default` (deny unless set).
 *     scope_implies                       scope → scopes it also satisfies (transitively).
 *     default_tool_rate_limit_per_minute  for tool rules that set none, per identity.
 *     isolation: per-identity             stdio only: one child per caller, with max_children
 *                                         (default 8, at most 256) and idle_timeout_seconds
 *                                         (default 300, at most one day).
 *     timeout_seconds (default 30, at most 300), max_response_bytes (default 1.0625 MiB, at most
 *     16 MiB): upstream calls.
 *   registration:      { client_credentials_role? }: what dynamic registration may create.
 *   enterprise_idps:   IdPs whose ID-JAGs the token endpoint accepts (jwt-bearer grant): each
 *                      { issuer, jwks_uri, clients: client_ids that may present its grants,
 *                        role_claim (default groups), roles: claim value → role, default_role? }.
 *   workload_issuers:  workload identity issuers (Kubernetes, CI OIDC) for the same grant: each
 *                      { issuer, jwks_uri, client_id it acts as, role, audience? (default our
 *                        token endpoint and issuer), subject_pattern? (whole sub), jti? required|optional }.
 *                      jwks_uri: https (plain http only to loopback, and not in production); at most
 *                      32 of each, issuers unique, roles declared.
 *   mfa:               { required_roles: roles that must pass a second factor at every sign-in
 *                        (enrolling one first), trust_federated_amr: upstream ID token `amr` values
 *                        that count as a second factor }; both default to none, roles declared.
 *   identity_providers: upstream providers people sign in with ("Continue with <name>"), at most 16:
 *                      each { name (its slug names /federation/<slug>/…, unique), issuer (an
 *                      OpenID Connect issuer; https, plain http only to loopback outside production),
 *                      preset? github (GitHub's OAuth 2.0 endpoints; issuer defaults to
 *                      https://github.com), client_id, client_secret? (may hold ${secret:NAME} or
 *                      ${env:NAME}), scopes? (default openid email profile; github read:user user:email),
 *                      role_rules: [{ claim, contains | equals | ends_with, role }] (first match
 *                      wins; none refuses the sign-in) }.
 *   password_login:    true (default); false: providers only (needs at least one).
 *
 * A rule's roles and scopes must be declared, each of its roles must be able to hold every scope it
 * needs (directly or through scope_implies), and offline_access is never a rule's scope (MCP
 * 2026-07-28: it is the authorization server's own). The file is at most 1 MiB, with at most 64
 * servers and 1000 rules per map.
 */
export { parseStackFile, loadStackFile, type StackConfig, type StackEnv, type StackFileOptions, type ServerConfig, type ScopeConfig, type Rule, type RuleSet, type Upstream, type AuthMethod, type DpopMode, type EnterpriseIdp, type WorkloadIssuer, type MfaPolicy, type IdentityProvider, type RoleRule } from './stack-config.ts';
export { StackFileError } from './errors.ts';
export { findRefs, findSecretRefs, resolveRefs, resolveRefsAsync, MissingRefError, type AsyncRefLookup, type RefLocation, type RefLookup } from './refs.ts';
export { createStackFileReloader, type StackFileHandlers, type StackFileReloader } from './reloader.ts';
export { expandScopes } from './expand.ts';
export {
  MAX_STACK_FILE_BYTES, MAX_SERVERS, MAX_RULES, DEFAULT_ROLES, DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS,
  DEFAULT_MAX_RESPONSE_BYTES, MAX_RESPONSE_BYTES, DEFAULT_MAX_CHILDREN, MAX_CHILDREN, DEFAULT_IDLE_TIMEOUT_SECONDS,
  MAX_IDLE_TIMEOUT_SECONDS, SCOPE_TOKEN, MAX_IDENTITY_PROVIDERS, providerSlug,
} from './schema.ts';
