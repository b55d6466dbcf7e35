/**
 * Requirements traceability: every MUST / SHOULD of the MCP 2026-07-28 authorization pages and of
 * OAuth 2.1 / RFC 9700 that applies to this stack. Tests cite an id by putting it in brackets in
 * their name, e.g. `it('[MCP-AS-PKCE-S256] rejects plain', …)`; test/requirements-coverage.test.ts
 * fails when an id is cited by no test. Ids listed in `notImplemented` carry the reason instead.
 */
export interface Requirement {
  level: 'MUST' | 'MUST NOT' | 'SHOULD' | 'SHOULD NOT' | 'MAY';
  source: string;
  text: string;
}

const MCP = 'https://modelcontextprotocol.io/specification/2026-07-28/basic/authorization';

export const requirements: Record<string, Requirement> = {
  // --- MCP 2026-07-28: authorization/index ---
  'MCP-AS-OAUTH21': { level: 'MUST', source: `${MCP}`, text: 'authorization servers MUST implement OAuth 2.1 for confidential and public clients' },
  'MCP-AS-HTTPS': { level: 'MUST', source: `${MCP}/security-considerations`, text: 'all authorization server endpoints MUST be served over HTTPS (production refuses a non-https issuer)' },
  'MCP-AS-REDIRECT-LOCALHOST-HTTPS': { level: 'MUST', source: `${MCP}/security-considerations`, text: 'all redirect URIs MUST be either localhost or use HTTPS' },
  'MCP-AS-REDIRECT-EXACT': { level: 'MUST', source: `${MCP}/security-considerations`, text: 'authorization servers MUST validate exact redirect URIs against pre-registered values' },
  'MCP-AS-REFRESH-ROTATE': { level: 'MUST', source: `${MCP}#refresh-tokens`, text: 'for public clients, authorization servers MUST rotate refresh tokens' },
  'MCP-AS-SHORT-LIVED': { level: 'SHOULD', source: `${MCP}#token-handling`, text: 'authorization servers SHOULD issue short-lived access tokens' },
  'MCP-AS-RESOURCE-AUDIENCE': { level: 'MUST', source: `${MCP}#resource-parameter-implementation`, text: 'tokens are bound to the resource (RFC 8707) requested by the client as their audience' },
  'MCP-AS-RESOURCE-CANONICAL': { level: 'SHOULD', source: `${MCP}#canonical-server-uri`, text: 'a resource with an uppercase scheme or host (or a trailing slash) names the same resource, at the authorization and the token endpoint alike' },
  // --- authorization-server-discovery ---
  'MCP-AS-METADATA': { level: 'MUST', source: `${MCP}/authorization-server-discovery`, text: 'authorization servers MUST provide RFC 8414 metadata or OpenID Connect Discovery' },
  'MCP-AS-METADATA-ISSUER': { level: 'MUST', source: `${MCP}/authorization-server-discovery`, text: 'the metadata issuer MUST equal the issuer used to build the metadata URL' },
  'MCP-AS-PKCE-METADATA': { level: 'MUST', source: `${MCP}/security-considerations`, text: 'authorization servers MUST include code_challenge_methods_supported in their metadata' },
  'MCP-AS-ISS-RESPONSE': { level: 'SHOULD', source: `${MCP}/security-considerations`, text: 'authorization servers SHOULD include iss in authorization responses, including errors (RFC 9207)' },
  'MCP-AS-ISS-ADVERTISED': { level: 'MUST', source: `${MCP}/security-considerations`, text: 'an AS that includes iss MUST advertise authorization_response_iss_parameter_supported: true' },
  // --- client-registration ---
  'MCP-CIMD-SUPPORT': { level: 'SHOULD', source: `${MCP}/client-registration`, text: 'authorization servers SHOULD support Client ID Metadata Documents' },
  'MCP-CIMD-CLIENT-ID-MATCH': { level: 'MUST', source: `${MCP}/client-registration`, text: 'the document client_id MUST equal the URL it was fetched from exactly' },
  'MCP-CIMD-REQUIRED-FIELDS': { level: 'MUST', source: `${MCP}/client-registration`, text: 'the document MUST be JSON with client_id, client_name and redirect_uris' },
  'MCP-CIMD-REDIRECT': { level: 'MUST', source: `${MCP}/client-registration`, text: 'the redirect_uri of the request MUST be validated against the document' },
  'MCP-CIMD-CACHE': { level: 'SHOULD', source: `${MCP}/client-registration`, text: 'documents SHOULD be cached respecting HTTP cache headers' },
  'MCP-CIMD-SSRF': { level: 'SHOULD', source: `${MCP}/client-registration`, text: 'fetching documents SHOULD guard against SSRF (private addresses, redirects, size, time)' },
  'MCP-CIMD-DISPLAY-HOST': { level: 'MUST', source: `${MCP}/client-registration`, text: 'the consent screen MUST clearly display the redirect URI hostname' },
  'MCP-CIMD-LOCALHOST-WARN': { level: 'SHOULD', source: `${MCP}/client-registration`, text: 'the consent screen SHOULD warn when redirect URIs are localhost-only' },
  'MCP-DCR': { level: 'MAY', source: `${MCP}/client-registration`, text: 'authorization servers MAY support RFC 7591 dynamic client registration' },
  'MCP-DCR-APPLICATION-TYPE': { level: 'MUST', source: `${MCP}/client-registration`, text: 'application_type is native for localhost redirect URIs and web otherwise; the AS may reject mismatches' },
  // --- MCP 2026-07-28: resource server (apps/mcp-server) ---
  'MCP-RS-PRM': { level: 'MUST', source: `${MCP}#authorization-server-location`, text: 'MCP servers MUST implement RFC 9728 protected resource metadata with authorization_servers' },
  'MCP-RS-PRM-DISCOVERY': { level: 'MUST', source: `${MCP}/authorization-server-discovery`, text: 'resource_metadata in the 401 WWW-Authenticate header and/or the well-known URI (path-inserted and root)' },
  'MCP-RS-SCOPE-CHALLENGE': { level: 'SHOULD', source: `${MCP}#scope-selection-strategy`, text: 'the 401 challenge SHOULD carry scope' },
  'MCP-RS-NO-ERROR-WITHOUT-TOKEN': { level: 'SHOULD NOT', source: 'https://datatracker.ietf.org/doc/html/rfc6750#section-3.1', text: 'a request without credentials gets a challenge without an error code' },
  'MCP-RS-TOKEN-VALIDATION': { level: 'MUST', source: `${MCP}#token-handling`, text: 'MCP servers MUST validate access tokens (OAuth 2.1 §5.2); invalid or expired tokens get 401' },
  'MCP-RS-AUDIENCE': { level: 'MUST', source: `${MCP}#token-audience-binding-and-validation`, text: 'MCP servers MUST reject tokens not issued for them as audience (RFC 8707)' },
  'MCP-RS-NO-PASSTHROUGH': { level: 'MUST NOT', source: `${MCP}/security-considerations`, text: 'MCP servers MUST NOT pass through the token received from the client' },
  'MCP-RS-STEP-UP': { level: 'SHOULD', source: `${MCP}#runtime-insufficient-scope-errors`, text: '403 insufficient_scope with every scope the operation needs and resource_metadata' },
  'MCP-RS-NO-OFFLINE-ACCESS': { level: 'SHOULD NOT', source: `${MCP}#refresh-tokens`, text: 'offline_access is not in the challenge or in PRM scopes_supported' },
  'MCP-RS-ORIGIN': { level: 'MUST', source: 'https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#security-warning', text: 'servers MUST validate the Origin header (DNS rebinding)' },
  'MCP-REQUEST-ID-UNIQUE': { level: 'MUST', source: 'https://modelcontextprotocol.io/specification/2025-11-25/basic#requests', text: 'a request id MUST NOT be reused in a session: over stdio a request whose id is still in flight is refused, and the call in flight runs with its own arguments' },
  'MCP-TOOLS-VALIDATE-INPUT': { level: 'MUST', source: 'https://modelcontextprotocol.io/specification/2025-11-25/server/tools#security-considerations', text: 'servers MUST validate all tool inputs (strict schemas with limits; no SQL, shell command or path built from argument strings)' },
  'MCP-TOOLS-ISERROR': { level: 'MUST', source: 'https://modelcontextprotocol.io/specification/2025-11-25/server/tools#error-handling', text: 'tool execution errors are reported in the tool result with isError: true (no stack traces or host paths)' },
  'MCP-TOOLS-ADMIN-ONLY': { level: 'MUST', source: 'project: security review', text: 'what only the admin tools may do (drop tables, delete users) cannot be done through execute_sql, however the SQL spells it; nor can execute_sql leave triggers or temporary objects behind' },
  'MCP-TOOLS-ISOLATION': { level: 'MUST', source: 'project: security review', text: 'no statement a caller can influence (its SQL, or triggers and foreign-key actions an admin tool fires) runs on the server\'s event loop; each runs in a worker under the time limit' },
  'MCP-TOOLS-FAIR-SHARE': { level: 'MUST', source: 'project: security review', text: 'one identity has at most one SQL statement queued or running, so one caller cannot keep the SQL tools from everyone else' },
  // --- MCP 2026-07-28: the per-request protocol (basic, transports, server utilities) ---
  'MCP-2026-DISCOVER': { level: 'MUST', source: 'https://modelcontextprotocol.io/specification/2026-07-28/basic/lifecycle', text: 'server/discover answers the supported revisions, capabilities and serverInfo, through authentication, rate limit and audit like every request' },
  'MCP-2026-META': { level: 'MUST', source: 'https://modelcontextprotocol.io/specification/2026-07-28/basic', text: 'every request carries _meta with protocolVersion and clientCapabilities; a request without them gets -32602' },
  'MCP-2026-HEADERS': { level: 'MUST', source: 'https://modelcontextprotocol.io/specification/2026-07-28/basic/transports', text: 'MCP-Protocol-Version, Mcp-Method and Mcp-Name must mirror the body; a mismatch gets 400 with -32020 (HeaderMismatch) and is audited DENIED, never ALLOWED' },
  'MCP-2026-404': { level: 'MUST', source: 'https://modelcontextprotocol.io/specification/2026-07-28/basic/transports', text: 'a method the revision removed or the server does not implement gets HTTP 404 with -32601' },
  'MCP-2026-UNSUPPORTED-VERSION': { level: 'MUST', source: 'https://modelcontextprotocol.io/specification/2026-07-28/basic/versioning', text: 'a request naming a revision the server does not serve gets -32022 (UnsupportedProtocolVersion) listing the supported revisions' },
  'MCP-2026-ERROR-ID': { level: 'MUST', source: 'https://www.jsonrpc.org/specification#response_object', text: 'an error answer to a request carries that request\'s id' },
  'MCP-2026-REVISIONS': { level: 'MUST', source: 'https://modelcontextprotocol.io/specification/2026-07-28/basic/versioning', text: 'a 2026-07-28 client and a 2025-11-25 client are both served, on HTTP and on stdio, with the same identity, policy and audit' },
  'MCP-2026-CACHE-PRIVATE': { level: 'MUST', source: 'https://modelcontextprotocol.io/specification/2026-07-28/server/utilities/caching', text: 'results that differ per caller (tools/list is filtered by role and scopes) are cacheScope private, with a ttlMs no longer than a policy reload takes to matter' },
  // --- OAuth 2.1 ---
  'OAUTH21-PKCE-REQUIRED': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-4.1.1', text: 'clients MUST use PKCE; the AS MUST reject requests without code_challenge' },
  'OAUTH21-PKCE-S256': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-4.1.1', text: 'S256 is used; plain is refused' },
  'OAUTH21-PKCE-VERIFY': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-4.1.3', text: 'the token endpoint MUST verify code_verifier against code_challenge' },
  'OAUTH21-CODE-SINGLE-USE': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-4.1.3', text: 'authorization codes are single use; reuse SHOULD revoke tokens issued from the code' },
  'OAUTH21-CODE-BOUND': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-4.1.3', text: 'a code is bound to the client and redirect_uri it was issued for' },
  'OAUTH21-CODE-LIFETIME': { level: 'SHOULD', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-4.1.2', text: 'authorization codes are short lived (at most 60 s here)' },
  'OAUTH21-STATE': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-4.1.2', text: 'state is returned unchanged in the authorization response' },
  'OAUTH21-NO-REDIRECT-ON-BAD-CLIENT': { level: 'MUST NOT', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-4.1.2.1', text: 'errors about the client or redirect_uri MUST NOT redirect to the redirect_uri' },
  'OAUTH21-NO-STORE': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-3.2.3', text: 'token responses carry Cache-Control: no-store' },
  'OAUTH21-CLIENT-AUTH': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-2.4', text: 'confidential clients authenticate at the token endpoint' },
  'OAUTH21-DUPLICATE-PARAMS': { level: 'MUST NOT', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-3.1', text: 'request and response parameters MUST NOT be included more than once' },
  'OAUTH21-LOOPBACK-PORT': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/rfc8252#section-7.3', text: 'loopback redirect URIs accept any port' },
  'OAUTH21-REFRESH-REUSE': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/rfc9700#section-4.14.2', text: 'reuse of a rotated refresh token invalidates the family' },
  'OAUTH21-REFRESH-BOUND': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-4.3.1', text: 'refresh tokens are bound to the client they were issued to' },
  'OAUTH21-REFRESH-SCOPE': { level: 'MUST NOT', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-4.3.1', text: 'a refresh request may narrow the scope but MUST NOT include any scope not originally granted (invalid_scope)' },
  'OAUTH21-ERROR-RESPONSE': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-3.2.4', text: 'errors use the RFC 6749 JSON error body with the registered codes' },
  // --- RFC 9700 ---
  'RFC9700-CLICKJACKING': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/rfc9700#section-4.16', text: 'authorization endpoint pages MUST NOT be framed (frame-ancestors none)' },
  'RFC9700-CSRF': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/rfc9700#section-4.7', text: 'login and consent forms are protected against CSRF' },
  'RFC9700-OPEN-REDIRECT': { level: 'MUST NOT', source: 'https://datatracker.ietf.org/doc/html/rfc9700#section-4.11', text: 'the AS MUST NOT redirect to unverified URIs' },
  'RFC9700-AS-OPEN-REDIRECTOR': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/rfc9700#section-4.11.2', text: 'the AS MUST only automatically redirect the user agent if it trusts the redirect URI; otherwise it informs the user and lets them decide' },
  'RFC8252-NO-AUTO-APPROVE': { level: 'SHOULD NOT', source: 'https://datatracker.ietf.org/doc/html/rfc8252#section-8.6', text: 'authorization requests are not processed automatically (remembered consent) unless the client identity can be assured' },
  'AUTH-PENDING-FLOOD': { level: 'MUST', source: 'project: security review', text: 'pending sign-in requests are rate limited per address, and a flood never evicts another person\'s pending sign-in' },
  'RFC9700-MIXUP-ISS': { level: 'SHOULD', source: 'https://datatracker.ietf.org/doc/html/rfc9700#section-4.4', text: 'mix-up defence: iss in authorization responses (RFC 9207)' },
  'RFC9700-AUDIENCE': { level: 'SHOULD', source: 'https://datatracker.ietf.org/doc/html/rfc9700#section-2.3', text: 'access tokens are audience restricted to one resource server' },
  'RFC9700-REFRESH-SECURITY-EVENT': { level: 'MAY', source: 'https://datatracker.ietf.org/doc/html/rfc9700#section-4.14.2', text: 'refresh tokens are revoked on a security event (account disabled, role downgraded, client revoked), with the access tokens of the same grants (RFC 7009 §2.1)' },
  'RFC9700-BRUTE-FORCE': { level: 'SHOULD', source: 'https://datatracker.ietf.org/doc/html/rfc9700#section-4.1', text: 'credential guessing is rate limited' },
  'AUTH-CLIENT-ADDRESS': { level: 'MUST', source: 'project: security review', text: 'the client address used by limits and audit is the socket peer or, with TRUST_PROXY (a hop count or proxy addresses), an X-Forwarded-For entry a trusted proxy added, never one the client wrote' },
  'AUTH-LOCKOUT-PER-ADDRESS': { level: 'MUST', source: 'project: security review', text: 'failed logins from one address lock an account only for that address; a much higher threshold counts failures from all addresses together (and delays, never refuses, see HARD-LOGIN-DELAY-NOT-LOCK)' },
  'AUTH-ADDRESS-KEY-IPV6': { level: 'MUST', source: 'project: security review', text: 'address-keyed limits count an IPv6 client by its /64 (failed logins and pending sign-ins by its /48, HARD-LOGIN-IPV6-WIDE) and an IPv4-mapped IPv6 address as the IPv4 address' },
  'AUTH-ARGON2-BOUNDED': { level: 'MUST', source: 'project: security review', text: 'a flood of wrong credentials cannot queue unbounded argon2 work or stall a correct login: failures are reserved before verification and the argon2 queue is bounded (503 with Retry-After)' },
  'AUTH-CLIENT-SECRET-HASH': { level: 'MUST', source: 'project: security review', text: 'client secrets are stored only as a salted hash compared in constant time; a secret stored as an argon2id hash still authenticates and is re-hashed to the current form on its next successful use, and a wrong secret fails against either form' },
  // --- token formats and endpoints ---
  'RFC9068-JWT-AT': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/rfc9068#section-2', text: 'JWT access tokens have typ at+jwt and iss, exp, aud, sub, client_id, iat, jti' },
  'RFC7009-REVOKE': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/rfc7009#section-2', text: 'revocation answers 200 for valid and unknown tokens and revokes the token' },
  'RFC7662-INTROSPECT': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/rfc7662#section-2', text: 'introspection requires caller authentication and reports active / inactive' },
  'RFC7591-REGISTER': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/rfc7591#section-3', text: 'registration returns client_id and validated metadata, or invalid_client_metadata / invalid_redirect_uri' },
  'RFC8414-METADATA-FIELDS': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/rfc8414#section-2', text: 'metadata includes issuer, endpoints, response_types_supported and the optional fields we support' },
  'RFC8707-INVALID-TARGET': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/rfc8707#section-2', text: 'an unknown or missing resource gets invalid_target' },
  // --- deployment: one command, and a compose profile for scale-out ---
  'DEPLOY-COMPOSE': { level: 'MUST', source: 'project: deployment', text: 'docker compose runs the stack: one service per app, a data volume, health checks, the key-encryption key from an env file, no secret in the file; its services, ports, env names and health checks agree with the apps\' configuration' },
  'DEPLOY-DOCKERFILE': { level: 'MUST', source: 'project: deployment', text: 'a multi-stage Dockerfile on Node 24 LTS builds one non-root image with production dependencies only and a HEALTHCHECK' },
  'DEPLOY-IMAGE-NO-DEV-FILES': { level: 'MUST', source: 'project: deployment', text: 'the image holds no test, benchmark or developer-tool file: .dockerignore keeps them out of what the runtime stage copies, and the test and bench workspaces npm ci needs are deleted before the image is assembled' },
  'DEPLOY-ENV-DOCS': { level: 'MUST', source: 'project: deployment', text: '.env.example lists every setting the apps read, and nothing they do not' },
  'DEPLOY-HEALTH': { level: 'MUST', source: 'project: deployment', text: 'both apps serve liveness (/health) and readiness (/ready) endpoints' },
  'DEPLOY-GRACEFUL-SHUTDOWN': { level: 'MUST', source: 'project: deployment', text: 'on SIGTERM an app stops accepting connections, finishes in-flight requests, closes its database and exits 0' },
  'DEPLOY-SCALE-PROFILE': { level: 'MUST', source: 'project: scale-out', text: 'docker-compose.yml has an optional profile with postgres and redis services and two replicas of each app' },
  // --- scale-out with Redis ---
  'SCALE-REDIS-RATE-LIMIT': { level: 'MUST', source: 'project: scale-out', text: 'with REDIS_URL the MCP server keeps rate-limit counters in Redis: instances behind one Redis admit exactly N calls per minute in total' },
  'SCALE-REDIS-REVOCATION': { level: 'MUST', source: 'project: scale-out', text: 'with REDIS_URL the revocation list is shared: a token revoked at the authorization server is refused by every MCP-server instance within the advertised delay' },
  'SCALE-REDIS-ABUSE-LIMITS': { level: 'MUST', source: 'project: scale-out', text: 'with REDIS_URL the authorization server\'s failed-login, client-authentication and registration limits hold across instances' },
  'SCALE-FAIL-CLOSED': { level: 'MUST', source: 'project: scale-out', text: 'when Redis is unreachable requests that need it get 503 with Retry-After (never a silent allow), the outage is logged once per interval, and the apps recover by themselves' },
  // --- scale-out with PostgreSQL ---
  'SCALE-PG-STORE': { level: 'MUST', source: 'project: scale-out', text: 'with DATABASE_URL the authorization server keeps everything in PostgreSQL (own generated migrations, applied on start, safe when several instances start at once) and passes the same test suite as on SQLite' },
  'SCALE-PG-CONCURRENCY': { level: 'MUST', source: 'project: scale-out', text: 'refresh rotation, code redemption and consent writes stay correct under concurrency across instances on one PostgreSQL: one family survives, a code yields tokens once, no family is wiped by a legitimate concurrent refresh' },
  'SCALE-PG-SHARED-STATE': { level: 'MUST', source: 'project: scale-out', text: 'state a browser flow needs (pending authorization requests, sessions) is shared, so consecutive requests may land on different instances' },
  'SCALE-PG-FAIL-CLOSED': { level: 'MUST', source: 'project: scale-out', text: 'when PostgreSQL is unreachable requests get 503 temporarily_unavailable with Retry-After, the outage is logged once per interval, and the server recovers by itself' },
  // --- Hardening: MCP server memory (tool results, transports) ---
  'HARD-MEM-CELL-CAP': { level: 'MUST', source: 'project: hardening', text: 'the SQL worker shortens every text or blob value over the cell cap, the first row included, and says so (truncated_text and length, truncated and truncatedReason)' },
  'HARD-MEM-ROW-CAP': { level: 'MUST', source: 'project: hardening', text: 'the SQL worker holds each row to the row cap and the whole result to the result cap, the first row included, so nothing larger reaches the main process' },
  'HARD-MEM-REPLY-CAP': { level: 'MUST', source: 'project: hardening', text: 'the main process refuses a tool result over the reply cap with a clear tool error instead of passing it on' },
  'HARD-MEM-PAYLOAD-ONCE': { level: 'MUST', source: 'project: hardening', text: 'a tool result holds its payload once (one JSON text block, no structuredContent copy)' },
  'HARD-MEM-HTTP-IN-FLIGHT': { level: 'MUST', source: 'project: hardening', text: 'over HTTP one identity has a bounded number of requests in flight (handler running or response unsent); beyond it the server answers 429 and audits it' },
  'HARD-MEM-HTTP-UNREAD': { level: 'MUST', source: 'project: hardening', text: 'responses a client does not read stay in flight and are dropped with their connection after a send timeout, so unread responses cannot pile up in memory' },
  'HARD-MEM-STDIO-LINE': { level: 'MUST', source: 'project: hardening', text: 'a stdio message (one line) over BODY_LIMIT_BYTES is dropped as it arrives, never buffered whole, and answered with a JSON-RPC error; the session goes on' },
  'HARD-MEM-STDIO-BACKPRESSURE': { level: 'MUST', source: 'project: hardening', text: 'over stdio, while the client does not read standard output the server stops reading standard input, so answers and requests cannot pile up in memory' },
  'HARD-MEM-ATTACK-RSS': { level: 'MUST', source: 'project: hardening', text: 'during an attack of 40 MB rows with unread responses the main process stays under 300 MB RSS and /health keeps answering' },
  // --- Hardening: SQL tools' disk quota and worker scheduling ---
  'HARD-SQL-DISK-QUOTA': { level: 'MUST', source: 'project: hardening', text: 'the demo database has a disk quota (MCP_DEMO_DB_MAX_BYTES, max_page_count on every connection that can write, a bounded write-ahead log); a write that would pass it is rolled back as a whole and answered with a clear tool error' },
  'HARD-SQL-TEMP-BOUND': { level: 'MUST', source: 'project: hardening', text: 'the SQL workers keep temporary data in memory, never in temp files on the shared disk, and a worker whose memory passes MCP_SQL_WORKER_MEMORY_MB is stopped mid-statement' },
  'HARD-SQL-WRITER-LANE': { level: 'MUST', source: 'project: hardening', text: 'every write runs in one writer lane, so writes wait their turn instead of failing on the busy timeout while another caller writes, and writes have their own, shorter time limit' },
  'HARD-SQL-FAIR-SCHEDULING': { level: 'MUST', source: 'project: hardening', text: 'statements are dispatched round-robin across identities, and callers running long statements may occupy at most all but one read worker, so quick callers are served while others run endless queries' },
  'HARD-SQL-BACKOFF': { level: 'MUST', source: 'project: hardening', text: 'an identity whose statements keep hitting the time limit is refused for a cool-down that grows with every further hit (a tool error with the seconds to wait), reset once a statement finishes' },
  'HARD-SQL-SETTINGS': { level: 'MUST', source: 'project: hardening', text: 'the SQL worker pool size, the query and write time limits, the worker memory limit and the demo database quota are settings, validated at start' },
  // --- Hardening: start-up, shared state, SQL guard ---
  'HARD-SQL-FUNCTION-ALLOWLIST': { level: 'MUST', source: 'project: hardening', text: 'caller SQL may use only allowlisted functions and table-valued functions (no pragma_* such as pragma_database_list, however spelled), refused by the guard with the function named and by SQLite itself on the worker connections' },
  'HARD-STARTUP-CONCURRENT': { level: 'MUST', source: 'project: hardening', text: 'instances started together on one data directory all start: migrations and demo seeding run in exclusive transactions that check their own state, and the development KEK file is created atomically (one winner, read complete by the rest)' },
  'HARD-DATA-DIR-PRIVATE': { level: 'MUST', source: 'project: hardening', text: 'DATA_DIR is created 0700 and every file the apps create in it (databases with -wal/-shm, KEK, audit logs, backups) 0600; an existing one open to other users is reported at start by name and mode' },
  'HARD-STDIO-DRAIN': { level: 'MUST', source: 'project: hardening', text: 'on stdio, when stdin closes the server answers every call already received (bounded in time) and writes the responses before it exits' },
  // --- Hardening: CIMD fetch limits ---
  'HARD-CIMD-SLOW-HOST': { level: 'MUST', source: 'project: hardening', text: 'slow client metadata documents requested from one address cannot hold every fetch slot: a legitimate metadata-document client signs in during the attack' },
  'HARD-CIMD-ADDRESS-LIMIT': { level: 'MUST', source: 'project: hardening', text: 'one client address can make the server fetch only a few new metadata documents per minute, from a few distinct hosts per hour (cache hits are free); past that it gets 429 without a fetch' },
  'HARD-CIMD-HOST-LIMIT': { level: 'MUST', source: 'project: hardening', text: 'metadata document fetches are limited per host (per minute and two at once), and a caller waits briefly in a bounded queue for a slot before 503' },
  'HARD-CIMD-NEGATIVE-CACHE': { level: 'MUST', source: 'project: hardening', text: 'a failed metadata document fetch (timeout, error status, invalid document, SSRF refusal) is remembered per URL for a short time, so repeats cost no fetch' },
  'HARD-CIMD-DEADLINE': { level: 'MUST', source: 'project: hardening', text: 'a metadata document fetch is bounded in total time (not idle time), and its fetch slot is free again when the deadline passes' },
  'HARD-CIMD-ALLOWED-HOSTS': { level: 'SHOULD', source: 'project: hardening', text: 'an operator can restrict the hosts metadata documents are fetched from (CIMD_ALLOWED_HOSTS)' },
  // --- Hardening: login abuse limits (account lockout, pending sign-ins) ---
  'HARD-LOGIN-DEVICE-BUDGET': { level: 'MUST', source: 'project: hardening', text: 'a browser that signed in to an account before (a signed, HttpOnly device cookie bound to that account) is counted only against its own failure budget, so failures others cause from any address never stop the right password from it' },
  'HARD-LOGIN-DELAY-NOT-LOCK': { level: 'MUST', source: 'project: hardening', text: 'failures on an account from all addresses never refuse the right password: past the threshold, attempts from unknown devices wait a bounded delay (at most LOGIN_DELAY_MAX_SECONDS) per account and address and are then checked' },
  'HARD-LOGIN-IPV6-WIDE': { level: 'MUST', source: 'project: hardening', text: 'failed logins and pending sign-ins count an IPv6 client by its /48, so one site spread over many /64s is one address' },
  'HARD-PENDING-PER-ADDRESS': { level: 'MUST', source: 'project: hardening', text: 'live pending sign-ins are capped per address (evicting that address\'s oldest) and a full store evicts from the address holding the most: one address\'s flood never refuses or ends another address\'s sign-in' },
  // --- Hardening: protocol (redirect matching, introspection, discovery, key rotation, KEK, start-up) ---
  'HARD-REDIRECT-LOOPBACK-FORMS': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/rfc8252#section-7.3', text: 'a loopback redirect URI matches a registered one only in the form registration accepts (literal 127.0.0.1, [::1] or localhost, no user information, no fragment), with only the port free, at /authorize and /token alike' },
  'HARD-INTROSPECT-AUTHZ': { level: 'MUST', source: 'https://datatracker.ietf.org/doc/html/rfc7662#section-4', text: 'a client may introspect only tokens issued to itself; only a client an admin marked as a resource server may introspect any token; others get active: false' },
  'HARD-DISCOVERY-HONEST': { level: 'MUST', source: 'https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata', text: 'metadata advertises only what the server does: no ID-token members, and no OpenID discovery document since no ID token is issued' },
  'HARD-KEY-PREPUBLISH': { level: 'MUST', source: 'project: hardening', text: 'a rotated-in signing key is published in the JWKS at least one JWKS cache lifetime before it signs, so warm verifiers accept the first tokens it signs' },
  'HARD-JWKS-UNKNOWN-KID': { level: 'MUST', source: 'project: hardening', text: 'a verifier refetches the JWKS at once on an unknown kid, at most once per short floor however many unknown kids arrive' },
  'HARD-KEK-ROTATE-ALL': { level: 'MUST', source: 'project: hardening', text: 'one command re-wraps every envelope under the new key-encryption key (auth signing keys and MCP secrets), after which the previous key is no longer needed' },
  'HARD-STARTUP-MESSAGE': { level: 'MUST', source: 'project: hardening', text: 'a start-up failure of either app prints one clear sentence to standard error, no stack trace, and exits non-zero' },
  // --- Hardening: audit log ---
  'HARD-AUDIT-KEYED-CHAIN': { level: 'MUST', source: 'project: hardening', text: 'each audit line carries a seq number, the SHA-256 of the line before and an HMAC-SHA256 under a key derived (HKDF) from the key-encryption key, which is never written to DATA_DIR' },
  'HARD-AUDIT-ANCHOR': { level: 'MUST', source: 'project: hardening', text: 'the chain\'s head (file, seq, MAC, time) is recorded periodically, at each new file and on shutdown in the app\'s database, and optionally printed on stdout for a collector' },
  'HARD-AUDIT-RESUME-REFUSED': { level: 'MUST', source: 'project: hardening', text: 'a server or admin command never resumes silently from a log that does not continue its anchored chain: it refuses to start with one sentence, or (explicit setting) starts a new chain whose first line records the break' },
  'HARD-AUDIT-ROTATION': { level: 'MUST', source: 'project: hardening', text: 'audit files are rotated by size and the chain continues across files, each file\'s first line naming the one before' },
  'HARD-AUDIT-KEK-ROTATION': { level: 'MUST', source: 'project: hardening', text: 'after a KEK rotation the chain continues in a new file whose header is MACed under both the new and the previous key, and verify names files it cannot check for lack of a key' },
  'HARD-AUDIT-VERIFY-EDITED': { level: 'MUST', source: 'project: hardening', text: '`audit verify` reports a line whose content was changed (edited)' },
  'HARD-AUDIT-VERIFY-DELETED': { level: 'MUST', source: 'project: hardening', text: '`audit verify` reports lines or files removed from a chain (deleted)' },
  'HARD-AUDIT-VERIFY-REORDERED': { level: 'MUST', source: 'project: hardening', text: '`audit verify` reports lines moved or copied (reordered)' },
  'HARD-AUDIT-VERIFY-TRUNCATED': { level: 'MUST', source: 'project: hardening', text: '`audit verify` reports a log that ends before the line anchored in the database (truncated)' },
  'HARD-AUDIT-VERIFY-RECHAINED': { level: 'MUST', source: 'project: hardening', text: '`audit verify` reports lines rewritten with their unkeyed hashes recomputed (re-chained)' },
  'HARD-AUDIT-VERIFY-REPLACED': { level: 'MUST', source: 'project: hardening', text: '`audit verify` reports a forged or swapped file: no MAC valid from the first line, or a chain the database never anchored (replaced)' },
  'HARD-AUDIT-VERIFY-CLI': { level: 'MUST', source: 'project: hardening', text: '`npm run admin -- audit verify` checks a server\'s own log with the KEK and the app\'s database, printing one line per problem by kind and exiting 1, or OK' },
  'HARD-AUDIT-AGGREGATE-FAILURES': { level: 'MUST', source: 'project: hardening', text: 'unauthenticated failures are written in full only for the first few per address and kind per interval, then counted in one summary line per address, with bounded memory' },
  'HARD-AUDIT-VALUE-CAPS': { level: 'MUST', source: 'project: hardening', text: 'audit values are capped at 200 characters and an event\'s fields at about 1 KB' },
  'HARD-AUDIT-BIDI-ESCAPE': { level: 'MUST', source: 'project: hardening', text: 'bidirectional-text controls (U+200E/F, U+202A–E, U+2066–9) are escaped in audit values and terminal output like the other control characters' },
  // --- Hardening: what pages display ---
  'HARD-DISPLAY-BIDI': { level: 'MUST', source: 'project: hardening', text: 'text others control (client names, hosts) is shown on the login and consent pages with bidirectional-text and other invisible controls replaced by U+FFFD, so it cannot reorder what the person reads' },
  // --- Gateway: the stack file (issue: protect any MCP server) ---
  'GW-SERVERS-LIST': { level: 'MUST', source: 'project: protect any MCP server', text: 'npm run admin -- servers list shows each server of the stack file, whether its upstream answers, its tools and the rule that applies to each, never a secret value' },
  'GW-STACK-FILE': { level: 'MUST', source: 'project: protect any MCP server', text: 'one stack file (STACK_FILE, YAML or JSON) read by both apps describes the roles, the scopes with their consent sentence and the roles that may be granted them, and each protected MCP server: its path, exactly one upstream (builtin, Streamable HTTP or stdio), its auth methods and its tool, resource and prompt rules' },
  'GW-STACK-VALIDATION': { level: 'MUST', source: 'project: protect any MCP server', text: 'the stack file is validated as a whole and every problem is reported at once with its path: undeclared roles and scopes, rules a role can never satisfy, duplicate or reserved server names and paths, not exactly one upstream, plain http off loopback in production, offline_access as a rule scope, and sizes beyond the caps' },
  'GW-STACK-RELOAD': { level: 'MUST', source: 'project: protect any MCP server', text: 'the stack file is read again on demand (SIGHUP); an invalid file is refused and the running one kept' },
  'GW-STACK-SECRETS': { level: 'MUST', source: 'project: protect any MCP server', text: '${secret:NAME} and ${env:NAME} references are allowed only in upstream header values and stdio env values; they are listed for a start-up check and resolved with an error naming each missing reference, never a value' },
  'GW-STACK-DEFAULT': { level: 'MUST', source: 'project: protect any MCP server', text: 'the shipped stack.yaml describes the demo database server exactly as the role constants and the MCP policy did: same roles, scopes, descriptions, role caps, tool rules, scope hierarchy and rate limits' },
  // --- Gateway: upstream connectors (issue: protect any MCP server) ---
  'GW-UPSTREAM-NO-PASSTHROUGH': { level: 'MUST NOT', source: 'project: protect any MCP server', text: 'the caller\'s credentials are never sent upstream: only the headers (or env) configured for the upstream, whose values appear in no error or health output' },
  'GW-UPSTREAM-TIMEOUT': { level: 'MUST', source: 'project: protect any MCP server', text: 'every upstream request has a time limit (default 30 s, at most 300 s) after which the caller gets a JSON-RPC error naming it, and the upstream keeps serving other calls' },
  'GW-UPSTREAM-SIZE': { level: 'MUST', source: 'project: protect any MCP server', text: 'an upstream message over maxResponseBytes (default 4 MiB) is cut off as it arrives, never buffered whole: the call gets an error and the connection or child is reset' },
  'GW-UPSTREAM-RESTART': { level: 'MUST', source: 'project: protect any MCP server', text: 'when a stdio upstream exits, calls in flight on it get an error at once and it is restarted with exponential backoff; close() stops every child (SIGTERM, then SIGKILL)' },
  'GW-UPSTREAM-MALFORMED': { level: 'MUST', source: 'project: protect any MCP server', text: 'upstream output that is not JSON-RPC (garbage on stdout, a non-JSON HTTP body) is refused with an error, never crashes the process, and other calls go on being served' },
  'GW-UPSTREAM-ISOLATION': { level: 'MUST', source: 'project: protect any MCP server', text: 'a stdio upstream with per-identity isolation runs one child per identity, at most maxChildren (evicting the least recently used idle one, else refusing with a clear error), and stops a child idle for idleTimeoutMs' },
  'GW-UPSTREAM-HTTP': { level: 'MUST', source: 'project: protect any MCP server', text: 'an HTTP upstream is reached over http(s) only, with one MCP session (initialized once, Mcp-Session-Id reused, initialized again after a 404), keep-alive connections and a bound on requests in flight; an unreachable one is an error at once' },
  'GW-UPSTREAM-STDIO': { level: 'MUST', source: 'project: protect any MCP server', text: 'a stdio upstream is a child process started on first use with only PATH, HOME and its configured env, its stderr drained (a few lines kept for health, never sent to callers), speaking MCP 2025-11-25' },
  // --- Codebase health ---
  'HEALTH-DEPS-DECLARED': { level: 'MUST', source: 'project: codebase health', text: 'every workspace\'s package.json declares each npm package and workspace package its code imports (shipped code in dependencies), and no workspace package it does not' },
};

/** Ids we deliberately do not implement, with the reason. */
export const notImplemented: Record<string, string> = {};
