import { addressLimitKey, consumeOr429, memoryLimiters, type LimiterFactory } from '@stack/redis';
import { randomToken } from '@stack/crypto';
import { rateLimited, type ClientMetadata } from '@stack/oauth';
import type { AppContext } from '../context.ts';
import { generateClientSecret, hashClientSecret } from './client-secrets.ts';

/** RFC 7591 §3.2.1 client information response. `client_secret` is present only here, once. */
export interface ClientInformation extends ClientMetadata {
  client_id: string;
  client_id_issued_at: number;
  client_secret?: string;
  client_secret_expires_at?: number;
}

export interface RegisterOptions {
  /** Only for a client_credentials client: the stack file's registration.client_credentials_role. */
  role?: string | undefined;
  /** 'admin': pre-registered by an operator (`clients add`). Default 'dcr'. */
  source?: 'dcr' | 'admin';
  /** REGISTRATION_MODE=approval: the client waits for an admin's approval (approveClient). */
  pendingApproval?: boolean;
}

/**
 * Stores a dynamically registered client (RFC 7591 §3.2.1). Confidential clients get a random
 * secret that is returned once and stored only as a salted hash (hashClientSecret).
 */
export async function registerClient(
  ctx: Pick<AppContext, 'store' | 'now'>, metadata: ClientMetadata, { role, source = 'dcr', pendingApproval = false }: RegisterOptions = {},
): Promise<ClientInformation> {
  const clientId = randomToken(18);
  const confidential = metadata.token_endpoint_auth_method !== 'none';
  const secret = confidential ? generateClientSecret() : undefined;
  const secretHash = secret === undefined ? null : hashClientSecret(secret);
  const now = ctx.now();
  await ctx.store.clients.insert({
    id: clientId,
    // 'admin': pre-registered by an operator (`clients add`), whose redirect URIs are trusted (RFC 9700 §4.11.2).
    source,
    secretHash,
    // The consent page needs a name; an unnamed client is shown by its redirect host instead.
    clientName: metadata.client_name ?? (metadata.redirect_uris[0] ? new URL(metadata.redirect_uris[0]).host : 'unnamed client'),
    redirectUris: metadata.redirect_uris,
    grantTypes: metadata.grant_types,
    tokenEndpointAuthMethod: metadata.token_endpoint_auth_method,
    applicationType: metadata.application_type,
    scope: metadata.scope,
    metadata: { ...metadata },
    createdAt: now,
    metadataExpiresAt: null,
    revokedAt: null,
    // client_credentials (only when the stack file allows it): the role the client's own tokens carry.
    role: role ?? null,
    // An operator's own clients never wait for approval.
    pendingApproval: source !== 'admin' && pendingApproval,
  });
  return {
    client_id: clientId,
    client_id_issued_at: Math.floor(now / 1000),
    // RFC 7591 §3.2.1: 0 means the secret does not expire.
    ...(secret === undefined ? {} : { client_secret: secret, client_secret_expires_at: 0 }),
    ...metadata,
  };
}

/** Registrations per client address per hour (in process, or shared in Redis when REDIS_URL is set). */
export interface RegistrationLimiter {
  /** Counts one attempt; throws 429 rate_limited with Retry-After when the address is over the limit. */
  consume(address: string): Promise<void>;
}

export function createRegistrationLimiter(perHour: number, factory: LimiterFactory = memoryLimiters): RegistrationLimiter {
  const limiter = factory({ keyPrefix: 'register', points: perHour, duration: 3600 });
  return {
    async consume(address) {
      // Keyed by addressLimitKey: an IPv6 client's whole /64 shares one budget.
      await consumeOr429(limiter, addressLimitKey(address), rateLimited);
    },
  };
}
