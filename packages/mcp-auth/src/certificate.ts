import { invalidToken, type Role } from '@stack/oauth';
import { defaultRoleScopes, scopesOfRole, type RoleScopes } from './access-token-claims.ts';
import { freezeIdentity, type Identity } from './identity.ts';

/** The parts of node:tls's PeerCertificate we read (CN is an array when a subject repeats it). */
export interface ClientCertificate {
  subject?: { CN?: string | string[] };
  fingerprint256?: string;
}

const normalizeFingerprint = (fp: string) => fp.replace(/:/g, '').toLowerCase();

/**
 * Maps a client certificate to an identity. Call it only for a TLS connection whose certificate
 * chain the server already verified against the configured CA (`socket.authorized`): this
 * function decides the role, not whether the certificate is genuine.
 *
 * `mapping` keys are common names or `sha256:<fingerprint>` (hex, colons and case ignored); a
 * fingerprint entry wins over a CN entry because it names exactly one certificate. A role that
 * `roleScopes` does not declare is refused like an unmapped certificate (invalid_token).
 */
export function identityFromCertificate(cert: ClientCertificate, mapping: Record<string, Role>, roleScopes: RoleScopes = defaultRoleScopes): Identity {
  const fp = typeof cert.fingerprint256 === 'string' && cert.fingerprint256 ? normalizeFingerprint(cert.fingerprint256) : undefined;
  const cn = typeof cert.subject?.CN === 'string' && cert.subject.CN ? cert.subject.CN : undefined;
  let role: Role | undefined;
  let subject: string | undefined;
  if (fp) {
    for (const [k, r] of Object.entries(mapping)) {
      if (k.toLowerCase().startsWith('sha256:') && normalizeFingerprint(k.slice(7)) === fp) {
        role = r;
        subject = `certificate:sha256:${fp}`;
        break;
      }
    }
  }
  // Own-property lookup only: a CN such as "__proto__" or "constructor" must not match anything.
  if (!role && cn && !cn.toLowerCase().startsWith('sha256:') && Object.hasOwn(mapping, cn)) {
    role = mapping[cn];
    subject = `certificate:${cn}`;
  }
  if (!role || !subject) throw invalidToken('client certificate is not mapped to a role');
  return freezeIdentity({ kind: 'certificate', subject, role, scopes: [...scopesOfRole(roleScopes, role, 'client certificate')] });
}
