/** Error codes from RFC 6749 §4.1.2.1/§5.2, RFC 6750 §3.1, RFC 7591 §3.2.2, RFC 8707 §2, RFC 7009 §2.2.1 and RFC 9449 §5/§7.1/§8. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'unsupported_token_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'access_denied'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'temporarily_unavailable'
  | 'server_error'
  | 'request_too_large'
  | 'rate_limited'
  | 'not_found'
  | 'method_not_allowed';

export interface OAuthErrorOptions {
  /** Extra `WWW-Authenticate` parameters (e.g. `scope`, `resource_metadata`); 401/403 only. */
  challenge?: Record<string, string>;
  /** Seconds for a `Retry-After` header (429, 503). */
  retryAfter?: number;
  /** A fresh server nonce for a `DPoP-Nonce` response header (RFC 9449 §8, §9). */
  dpopNonce?: string;
  cause?: unknown;
}

/**
 * The one error type for anything a client can cause. `expose` is false for 5xx (except
 * temporarily_unavailable), whose description is replaced by a generic one before it reaches the client.
 */
export class OAuthError extends Error {
  readonly code: OAuthErrorCode;
  readonly status: number;
  readonly description: string;
  readonly expose: boolean;
  readonly challenge: Record<string, string> | undefined;
  readonly retryAfter: number | undefined;
  readonly dpopNonce: string | undefined;

  constructor(code: OAuthErrorCode, description: string, status = 400, opts: OAuthErrorOptions = {}) {
    super(description, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OAuthError';
    this.code = code;
    this.status = status;
    this.description = description;
    // temporarily_unavailable (RFC 6749 §4.1.2.1) is a deliberate answer with a fixed description, not a crash.
    this.expose = status < 500 || code === 'temporarily_unavailable';
    this.challenge = opts.challenge;
    this.retryAfter = opts.retryAfter;
    this.dpopNonce = opts.dpopNonce;
  }

  /** RFC 6749 §5.2 JSON body. */
  toJSON(): { error: string; error_description: string } {
    return this.expose
      ? { error: this.code, error_description: this.description }
      : { error: 'server_error', error_description: 'the server encountered an unexpected condition' };
  }
}

export const invalidRequest = (d: string) => new OAuthError('invalid_request', d, 400);
export const invalidClient = (d: string, challenge?: Record<string, string>) =>
  new OAuthError('invalid_client', d, 401, challenge ? { challenge } : {});
export const invalidGrant = (d: string) => new OAuthError('invalid_grant', d, 400);
export const unauthorizedClient = (d: string) => new OAuthError('unauthorized_client', d, 400);
export const unsupportedGrantType = (d: string) => new OAuthError('unsupported_grant_type', d, 400);
export const invalidScope = (d: string) => new OAuthError('invalid_scope', d, 400);
export const invalidTarget = (d: string) => new OAuthError('invalid_target', d, 400);
export const accessDenied = (d: string) => new OAuthError('access_denied', d, 403);
export const invalidToken = (d: string, challenge?: Record<string, string>) =>
  new OAuthError('invalid_token', d, 401, challenge ? { challenge } : {});
export const insufficientScope = (d: string, challenge?: Record<string, string>) =>
  new OAuthError('insufficient_scope', d, 403, challenge ? { challenge } : {});
export const invalidClientMetadata = (d: string) => new OAuthError('invalid_client_metadata', d, 400);
export const invalidRedirectUri = (d: string) => new OAuthError('invalid_redirect_uri', d, 400);
export const rateLimited = (retryAfter: number) =>
  new OAuthError('rate_limited', 'too many requests, retry later', 429, { retryAfter });
export const temporarilyUnavailable = (d: string, retryAfter: number) =>
  new OAuthError('temporarily_unavailable', d, 503, { retryAfter });

/**
 * Where a DPoP proof was checked: the token endpoint answers 400 (RFC 9449 §5, §8), a protected
 * resource 401 with a `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1, §9).
 */
export type DpopErrorStatus = 400 | 401;
export const invalidDpopProof = (d: string, status: DpopErrorStatus = 400) => new OAuthError('invalid_dpop_proof', d, status);
/** RFC 9449 §8/§9: the proof lacks the current server nonce; `nonce` goes into the `DPoP-Nonce` header. */
export const useDpopNonce = (nonce: string, status: DpopErrorStatus = 400) =>
  new OAuthError('use_dpop_nonce', 'a DPoP nonce from the server is required: retry with the DPoP-Nonce value', status, { dpopNonce: nonce });
