import { z } from 'zod';
import { OAuthError, invalidClient, invalidClientMetadata, invalidRedirectUri } from './errors.ts';
import { isLoopbackRedirect, validateRedirectUri } from './redirect-uri.ts';

export const TOKEN_ENDPOINT_AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'] as const;
export type TokenEndpointAuthMethod = (typeof TOKEN_ENDPOINT_AUTH_METHODS)[number];
export const CLIENT_GRANT_TYPES = ['authorization_code', 'refresh_token'] as const;
export type ClientGrantType = (typeof CLIENT_GRANT_TYPES)[number] | 'client_credentials';
export type ApplicationType = 'native' | 'web';

/** Client metadata as understood and stored by this server (RFC 7591 §2); unknown members are dropped. */
export interface ClientMetadata {
  client_name?: string;
  redirect_uris: string[];
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  grant_types: ClientGrantType[];
  /** [] for a client that only uses client_credentials (no authorization endpoint, RFC 7591 §2.1). */
  response_types: ['code'] | [];
  application_type: ApplicationType;
  /** Space-delimited, sorted scopes the client may be granted. */
  scope: string;
  client_uri?: string;
  logo_uri?: string;
  tos_uri?: string;
  policy_uri?: string;
  contacts?: string[];
  software_id?: string;
  software_version?: string;
}

/** A validated Client ID Metadata Document: client_id and client_name are always present. */
export interface CimdMetadata extends ClientMetadata {
  client_id: string;
  client_name: string;
}

export const MAX_REDIRECT_URIS = 10;
export const MAX_CLIENT_NAME = 100;

// Names are shown on the consent page: control and bidi-override characters could disguise them.
// eslint-disable-next-line no-control-regex -- controls are what this pattern refuses
const DISPLAY_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

const httpsUrl = z.string().max(2000).refine((s) => URL.canParse(s) && new URL(s).protocol === 'https:' && !s.includes('#'), 'must be an https URL without fragment');
const shortText = (max: number) => z.string().trim().min(1).max(max).refine((s) => !DISPLAY_UNSAFE.test(s), 'must not contain control characters');

// Types and lengths only; the rules between members are checked in normalise().
const metadataSchema = z.object({
  client_name: shortText(MAX_CLIENT_NAME).optional(),
  token_endpoint_auth_method: z.string().max(100).optional(),
  grant_types: z.array(z.string().max(200)).max(10).optional(),
  response_types: z.array(z.string().max(200)).max(10).optional(),
  application_type: z.enum(['native', 'web']).optional(),
  scope: z.string().max(1000).optional(),
  client_uri: httpsUrl.optional(),
  logo_uri: httpsUrl.optional(),
  tos_uri: httpsUrl.optional(),
  policy_uri: httpsUrl.optional(),
  contacts: z.array(shortText(320)).max(5).optional(),
  software_id: shortText(200).optional(),
  software_version: shortText(100).optional(),
});

/** Turns a zod issue into a lowercase description naming the member. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const name = `'${String(issue.path[0] ?? 'metadata')}'`;
  switch (issue.code) {
    case 'invalid_type':
      return `${name} must be ${issue.expected === 'array' ? 'an array' : `a ${issue.expected}`}`;
    case 'too_big':
      return `${name} must have at most ${String(issue.maximum)} ${issue.origin === 'string' ? 'characters' : 'entries'}`;
    case 'too_small':
      return issue.origin === 'string' ? `${name} must not be empty` : `${name} must have at least ${String(issue.minimum)} entries`;
    case 'invalid_value':
      return `${name} must be one of ${issue.values.map(String).join(', ')}`;
    default:
      return `${name} ${issue.message}`;
  }
}

function checkRedirectUris(value: unknown): string[] {
  if (value === undefined) throw invalidRedirectUri("missing required parameter 'redirect_uris'");
  if (!Array.isArray(value) || value.length === 0) throw invalidRedirectUri("'redirect_uris' must be a non-empty array");
  if (value.length > MAX_REDIRECT_URIS) throw invalidRedirectUri(`'redirect_uris' must have at most ${MAX_REDIRECT_URIS} entries`);
  return [...new Set(value.map((u) => validateRedirectUri(u)))];
}

type Mode = 'registration' | 'document';

export interface RegistrationOptions {
  /**
   * Whether a registration may ask for client_credentials (the stack file's
   * registration.client_credentials_role). Off by default: such a client gets tokens with no user
   * behind them, so normally only an admin adds one.
   */
  clientCredentials?: boolean;
}

/**
 * Shared rules for both ways a client is known. A registration (RFC 7591) is strict: unknown
 * values are refused. A metadata document is written for many servers, so members we do not
 * support (other grant types, scopes) are ignored as long as what remains is usable.
 */
function normalise(input: unknown, mode: Mode, scopes: readonly string[], opts: RegistrationOptions = {}): ClientMetadata {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalidClientMetadata('client metadata must be a JSON object');
  const raw = input as Record<string, unknown>;
  const parsed = metadataSchema.safeParse(raw);
  if (!parsed.success) throw invalidClientMetadata(describeIssue(parsed.error.issues[0]!));
  const m = parsed.data;

  // RFC 7591 §2: the default is client_secret_basic.
  const method = m.token_endpoint_auth_method ?? (mode === 'document' ? 'none' : 'client_secret_basic');
  if (!(TOKEN_ENDPOINT_AUTH_METHODS as readonly string[]).includes(method)) {
    throw invalidClientMetadata(`unsupported 'token_endpoint_auth_method': must be one of ${TOKEN_ENDPOINT_AUTH_METHODS.join(', ')}`);
  }

  const requestedGrants = m.grant_types ?? ['authorization_code'];
  // client_credentials (MCP client credentials extension): only when the stack file opens it, and
  // only for a confidential client (RFC 6749 §4.4). A metadata document cannot ask for it.
  const machine = mode === 'registration' && requestedGrants.includes('client_credentials');
  if (machine && !opts.clientCredentials) {
    throw invalidClientMetadata("'grant_types' value 'client_credentials' is not open to dynamic registration on this server: an admin adds such clients");
  }
  if (machine && method === 'none') throw invalidClientMetadata("client_credentials is for confidential clients: 'token_endpoint_auth_method' must not be none");
  const known: readonly ClientGrantType[] = machine ? [...CLIENT_GRANT_TYPES, 'client_credentials'] : CLIENT_GRANT_TYPES;
  const unknownGrant = requestedGrants.find((g) => !(known as readonly string[]).includes(g));
  if (mode === 'registration' && unknownGrant) throw invalidClientMetadata(`unsupported 'grant_types' value '${unknownGrant.slice(0, 50)}': must be authorization_code or refresh_token`);
  const grantTypes = known.filter((g) => requestedGrants.includes(g));
  const interactive = grantTypes.includes('authorization_code');
  if (!interactive && !machine) throw invalidClientMetadata("'grant_types' must include authorization_code");
  // A client_credentials-only client never visits the authorization endpoint: no redirect URIs, no response types.
  const machineOnly = machine && !interactive;
  if (machineOnly && Array.isArray(raw.redirect_uris) && raw.redirect_uris.length > 0) throw invalidRedirectUri("'redirect_uris' are only for the authorization_code grant");
  const redirectUris = machineOnly ? [] : checkRedirectUris(raw.redirect_uris);

  // RFC 7591 §2.1: response_types must be consistent with grant_types; only `code` exists here.
  const responseTypes = m.response_types ?? (machineOnly ? [] : ['code']);
  if (machineOnly ? responseTypes.length > 0 : !responseTypes.includes('code') || (mode === 'registration' && responseTypes.some((r) => r !== 'code'))) {
    throw invalidClientMetadata(`unsupported 'response_types': ${machineOnly ? 'a client_credentials client has none' : 'only code is supported'}`);
  }

  const requestedScopes = (m.scope ?? '').split(' ').filter(Boolean);
  const unknownScope = requestedScopes.find((s) => !scopes.includes(s));
  if (mode === 'registration' && unknownScope) throw invalidClientMetadata(`unknown scope '${unknownScope.slice(0, 50)}' in 'scope'`);
  const granted = requestedScopes.length ? scopes.filter((s) => requestedScopes.includes(s)) : [...scopes];
  if (granted.length === 0) throw invalidClientMetadata("'scope' contains no scope this server supports");

  // MCP 2026-07-28 client registration: native for localhost clients, web otherwise, and web
  // clients may not use loopback redirect URIs. Clients written before SEP-837 (SDK 1.x, mcp-remote)
  // omit the field; when every redirect URI is loopback the only consistent reading is native, so it
  // is inferred rather than refused. An explicit web with loopback URIs is still refused.
  const loopback = redirectUris.some(isLoopbackRedirect);
  const allLoopback = redirectUris.every(isLoopbackRedirect);
  const applicationType = m.application_type ?? (!machineOnly && (allLoopback || (mode === 'document' && loopback)) ? 'native' : 'web');
  if (applicationType === 'web' && loopback) {
    throw invalidClientMetadata("loopback 'redirect_uris' require 'application_type' native (web clients must use https redirect URIs)");
  }

  const out: ClientMetadata = {
    ...(m.client_name === undefined ? {} : { client_name: m.client_name }),
    redirect_uris: redirectUris,
    token_endpoint_auth_method: method as TokenEndpointAuthMethod,
    grant_types: grantTypes,
    response_types: machineOnly ? [] : ['code'],
    application_type: applicationType,
    scope: [...granted].sort().join(' '),
  };
  for (const k of ['client_uri', 'logo_uri', 'tos_uri', 'policy_uri', 'contacts', 'software_id', 'software_version'] as const) {
    if (m[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = m[k];
  }
  return out;
}

/**
 * Validates an RFC 7591 §2 registration request. Throws invalid_redirect_uri or
 * invalid_client_metadata (RFC 7591 §3.2.2) naming the member at fault.
 */
export function validateRegistrationMetadata(input: unknown, scopes: readonly string[], opts: RegistrationOptions = {}): ClientMetadata {
  return normalise(input, 'registration', scopes, opts);
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * Checks a Client ID Metadata Document URL (draft-ietf-oauth-client-id-metadata-document §3):
 * https, a path, no fragment, no user information, no dot segments. `allowHttpLoopback` also
 * accepts http on a loopback host (development and tests only). Throws invalid_client.
 */
export function validateCimdClientId(clientId: string, opts: { allowHttpLoopback?: boolean } = {}): URL {
  if (clientId.length > 2000) throw invalidClient("'client_id' URL is too long");
  // eslint-disable-next-line no-control-regex -- a URL with a control character is refused
  if (/[\s\u0000-\u001f\u007f]/.test(clientId) || !URL.canParse(clientId)) throw invalidClient("'client_id' is not a valid URL");
  const u = new URL(clientId);
  const httpOk = opts.allowHttpLoopback === true && u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname);
  if (u.protocol !== 'https:' && !httpOk) throw invalidClient("'client_id' URL must use https");
  if (clientId.includes('#')) throw invalidClient("'client_id' URL must not contain a fragment");
  if (u.username || u.password) throw invalidClient("'client_id' URL must not contain user information");
  if (u.pathname === '/' || u.pathname === '') throw invalidClient("'client_id' URL must contain a path");
  // URL parsing removes dot segments, so look at the path as written.
  const rawPath = clientId.slice(clientId.indexOf('/', clientId.indexOf('//') + 2)).split(/[?]/)[0] ?? '';
  if (rawPath.split('/').some((seg) => /^(\.|%2e){1,2}$/i.test(seg))) throw invalidClient("'client_id' URL must not contain dot segments");
  return u;
}

/**
 * Validates a fetched Client ID Metadata Document against its URL: `client_id` equal to the URL
 * exactly, `client_name` and `redirect_uris` present, no shared secret (MCP 2026-07-28 client
 * registration; CIMD draft §4, §8). Throws invalid_client with a description naming the member.
 */
export function validateCimdDocument(doc: unknown, url: string, scopes: readonly string[]): CimdMetadata {
  const fail = (d: string) => invalidClient(`client metadata document: ${d}`);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw fail('must be a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.client_id === undefined) throw fail("missing required field 'client_id'");
  if (d.client_id !== url) throw fail("'client_id' does not match the document URL");
  if (d.client_name === undefined) throw fail("missing required field 'client_name'");
  if (d.redirect_uris === undefined) throw fail("missing required field 'redirect_uris'");
  for (const k of ['client_secret', 'client_secret_expires_at']) if (k in d) throw fail(`'${k}' must not be present`);
  if (d.token_endpoint_auth_method !== undefined && d.token_endpoint_auth_method !== 'none') {
    throw fail("'token_endpoint_auth_method' must be none (shared secrets cannot be used with a metadata document)");
  }
  try {
    const m = normalise(d, 'document', scopes);
    return { ...m, client_id: url, client_name: m.client_name! };
  } catch (err) {
    if (err instanceof OAuthError) throw fail(err.description);
    throw err;
  }
}
