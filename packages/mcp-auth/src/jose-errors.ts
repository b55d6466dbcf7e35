import { errors } from 'jose';
import { invalidToken, OAuthError } from '@stack/oauth';
import { KeysUnavailableError, MissingKidError } from './jwks-cache.ts';

/**
 * Maps whatever failed during verification to one `invalid_token` error (RFC 6750 §3.1). The
 * description names the check that failed and never includes the token or its claim values.
 */
export function toInvalidToken(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  if (err instanceof errors.JWTExpired) return invalidToken('token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return invalidToken(`token is missing required claim '${err.claim}'`);
    switch (err.claim) {
      case 'typ':
        return invalidToken("token type must be 'at+jwt'");
      case 'nbf':
        return invalidToken('token is not yet valid');
      case 'iss':
        return invalidToken('token issuer is not accepted');
      case 'aud':
        return invalidToken('token audience is not this resource');
      default:
        return invalidToken(`token claim '${err.claim}' is invalid`);
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return invalidToken('token signing algorithm is not allowed');
  if (err instanceof errors.JWKSNoMatchingKey) return invalidToken('token signing key is unknown');
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalidToken('token signature is invalid');
  if (err instanceof MissingKidError) return invalidToken("token header is missing 'kid'");
  if (err instanceof KeysUnavailableError) return invalidToken('token signing keys are unavailable');
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported)
    return invalidToken('token is malformed');
  return invalidToken('token could not be verified');
}
