import { randomToken } from '@stack/crypto';
import { JWT_BEARER_GRANT_TYPE, OAuthError, parseClientJwks } from '@stack/oauth';
import type { StackConfig } from '@stack/stack-config';
import type { AuthStore, ClientSummary } from '../store/index.ts';
import { generateClientSecret, hashClientSecret } from './client-secrets.ts';

export type { ClientSummary };

/** How an admin-registered machine client authenticates at the token endpoint. */
export type MachineAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

export interface NewMachineClient {
  name: string;
  /**
   * client_credentials (the default): the client acts as itself with `role`. jwt-bearer: the client
   * only presents ID-JAGs or stands for a workload issuer; the stack file lists it, and the role comes
   * from the IdP's mapping or the workload entry, so it has no role or scope of its own.
   */
  grant?: 'client_credentials' | 'jwt-bearer';
  /** client_credentials: a role the stack file declares (checked by the caller, as for users). */
  role?: string;
  /** Space-delimited; default every scope of the role. Each must be one the role may hold. */
  scope?: string;
  authMethod: MachineAuthMethod;
  /** private_key_jwt: the client's public keys (RFC 7591 §2 jwks) or where it publishes them (jwks_uri). */
  jwks?: unknown;
  jwksUri?: string;
}

const MAX_NAME = 100;

function jwksUriOf(value: string): string {
  if (value.length > 2000 || !URL.canParse(value)) throw new ClientAdminError('--jwks-uri must be an absolute URL');
  const u = new URL(value);
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
  // The token endpoint fetches it with the metadata-document guard: https, or http on loopback in development.
  if (u.hash !== '' || u.username !== '' || u.password !== '' || !(u.protocol === 'https:' || (u.protocol === 'http:' && loopback))) {
    throw new ClientAdminError('--jwks-uri must be an https URL without fragment or user information (http only on a loopback host, for development)');
  }
  return u.href;
}

/** A client_credentials client's scopes: what was asked (default all of the role's), never beyond the role's. */
function machineScope(stack: StackConfig, c: NewMachineClient): string {
  if (c.role === undefined) throw new ClientAdminError('a client_credentials client needs a role');
  const roleScopes = stack.scopesForRole(c.role);
  const asked = c.scope === undefined ? [...roleScopes] : c.scope.split(/\s+/).filter(Boolean);
  const beyond = asked.filter((s) => !roleScopes.includes(s));
  if (beyond.length) throw new ClientAdminError(`role ${c.role} may not hold ${beyond.join(' ')} (its scopes: ${roleScopes.join(' ') || 'none'})`);
  if (asked.length === 0) throw new ClientAdminError(`role ${c.role} holds no scope: give it one in the stack file's scopes first`);
  return [...new Set(asked)].sort().join(' ');
}

/** A jwt-bearer client gets its role and scopes from each grant: giving it its own would mean nothing. */
function noRoleOrScope(c: NewMachineClient): string {
  if (c.role !== undefined || c.scope !== undefined) throw new ClientAdminError('a jwt-bearer client takes no --role or --scope: the stack file\'s enterprise_idps or workload_issuers give them');
  return '';
}

/**
 * Registers a confidential client for the client_credentials grant (MCP client credentials
 * extension): its tokens carry `role`, with scopes capped by what the stack file lets the role hold.
 * A secret is generated (returned once, stored as hashClientSecret stores registered ones), or for
 * private_key_jwt the client's keys are checked (public asymmetric signing keys only) and stored.
 */
export async function addMachineClient(store: AuthStore, stack: StackConfig, c: NewMachineClient, now: number): Promise<{ clientId: string; secret: string | undefined; scope: string }> {
  const name = c.name.trim();
  // eslint-disable-next-line no-control-regex -- controls are what this pattern refuses
  if (name === '' || name.length > MAX_NAME || /[\u0000-\u001f\u007f]/.test(name)) throw new ClientAdminError(`--name must be 1-${MAX_NAME} printable characters`);
  const jwtBearer = c.grant === 'jwt-bearer';
  const scope = jwtBearer ? noRoleOrScope(c) : machineScope(stack, c);

  let jwks: { keys: Record<string, unknown>[] } | null = null;
  let jwksUri: string | null = null;
  if (c.authMethod === 'private_key_jwt') {
    if ((c.jwks === undefined) === (c.jwksUri === undefined)) throw new ClientAdminError('private_key_jwt needs exactly one of --jwks-file and --jwks-uri');
    if (c.jwks !== undefined) {
      try {
        jwks = parseClientJwks(c.jwks);
      } catch (err) {
        throw new ClientAdminError(err instanceof OAuthError ? err.description : 'the key set is invalid');
      }
    } else jwksUri = jwksUriOf(c.jwksUri!);
  } else if (c.jwks !== undefined || c.jwksUri !== undefined) {
    throw new ClientAdminError('--jwks-file and --jwks-uri are for --auth-method private_key_jwt');
  }

  const grantType = jwtBearer ? JWT_BEARER_GRANT_TYPE : 'client_credentials';
  const clientId = randomToken(18);
  const secret = c.authMethod === 'private_key_jwt' ? undefined : generateClientSecret();
  await store.clients.insert({
    id: clientId,
    source: 'admin',
    secretHash: secret === undefined ? null : hashClientSecret(secret),
    clientName: name,
    redirectUris: [],
    grantTypes: [grantType],
    tokenEndpointAuthMethod: c.authMethod,
    applicationType: 'web',
    scope,
    metadata: { client_name: name, grant_types: [grantType], token_endpoint_auth_method: c.authMethod, scope, ...(jwksUri ? { jwks_uri: jwksUri } : {}) },
    createdAt: now,
    metadataExpiresAt: null,
    revokedAt: null,
    role: jwtBearer ? null : c.role!,
    jwks,
    jwksUri,
  });
  return { clientId, secret, scope };
}

/** All clients (registered, admin-created and cached CIMD documents), oldest first. */
export function listClients(store: AuthStore): Promise<ClientSummary[]> {
  return store.clients.list();
}

/**
 * What an operator sees of a client: revoked (for good), pending (registered itself under
 * REGISTRATION_MODE=approval and waits for approveClient) or active.
 */
export type ClientStatus = 'active' | 'pending' | 'revoked';

export function clientStatus(c: Pick<ClientSummary, 'revokedAt' | 'pendingApproval'>): ClientStatus {
  if (c.revokedAt !== null) return 'revoked';
  return c.pendingApproval ? 'pending' : 'active';
}

/** The clients waiting for an administrator's approval (not revoked), oldest first. */
export async function pendingClients(store: AuthStore): Promise<ClientSummary[]> {
  return (await store.clients.list()).filter((c) => clientStatus(c) === 'pending');
}

export interface ApprovedClient {
  clientId: string;
  clientName: string;
  /** True when the client was not pending (approved before, admin-created, or registered in open mode): nothing changed. */
  alreadyApproved: boolean;
}

/**
 * Approves a client that registered itself while REGISTRATION_MODE=approval (RFC 7591, or a
 * metadata document seen for the first time): from now on it may start sign-ins and use the token
 * endpoint like any other client. A revoked client stays revoked (ClientAdminError). Approving an
 * approved client changes nothing. The caller writes the audit line (admin.client_approved), as
 * it does for the other operator actions, with who approved it.
 */
export async function approveClient(store: AuthStore, clientId: string): Promise<ApprovedClient> {
  const client = await store.clients.find(clientId);
  if (!client) throw new ClientAdminError('no client with that id');
  if (client.revokedAt !== null) throw new ClientAdminError('the client is revoked: it cannot be approved');
  if (!client.pendingApproval) return { clientId: client.id, clientName: client.clientName, alreadyApproved: true };
  if (!(await store.clients.approve(client.id))) throw new ClientAdminError('no client with that id');
  return { clientId: client.id, clientName: client.clientName, alreadyApproved: false };
}

/**
 * Revokes a client: findClient no longer returns it, so it cannot authorize or use the token
 * endpoint, and its refresh tokens and unexpired access tokens are revoked.
 * Returns undefined if no such client.
 */
export function revokeClient(store: AuthStore, clientId: string, now = Date.now()): Promise<{ alreadyRevoked: boolean; refreshTokens: number; accessTokens: number } | undefined> {
  return store.clients.revoke(clientId, now);
}

/**
 * Marks a client as a resource server, which may introspect tokens issued to any client
 * (RFC 7662 §4: the endpoint decides which callers may learn about which tokens), or clears the
 * mark. Only an operator can: registration never sets it. The client must be an active
 * confidential client, the only kind the introspection endpoint accepts.
 */
export async function setResourceServer(store: AuthStore, clientId: string, value: boolean): Promise<void> {
  const client = await store.clients.find(clientId);
  if (!client) throw new ClientAdminError('no client with that id');
  if (value) {
    if (client.revokedAt !== null) throw new ClientAdminError('the client is revoked');
    if (client.tokenEndpointAuthMethod === 'none') throw new ClientAdminError('the client is public (no secret): introspection needs a confidential client');
  }
  await store.clients.setResourceServer(clientId, value);
}

/** An operator asked for something the client's state does not allow; the message says what. */
export class ClientAdminError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClientAdminError';
  }
}
