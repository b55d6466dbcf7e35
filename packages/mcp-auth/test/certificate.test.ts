import { describe, expect, it } from 'vitest';
import { OAuthError } from '@stack/oauth';
import { identityFromCertificate, stackRoleScopes } from '../src/index.ts';

const FP = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';

function expectUnmapped(fn: () => unknown) {
  try {
    fn();
    expect.unreachable('should have thrown');
  } catch (err) {
    expect(err).toBeInstanceOf(OAuthError);
    expect(err).toMatchObject({ code: 'invalid_token', status: 401, description: 'client certificate is not mapped to a role' });
  }
}

describe('identityFromCertificate', () => {
  it('maps a certificate by common name', () => {
    const id = identityFromCertificate({ subject: { CN: 'ops-laptop' }, fingerprint256: FP }, { 'ops-laptop': 'developer' });
    expect(id).toEqual({ kind: 'certificate', subject: 'certificate:ops-laptop', role: 'developer', scopes: ['db:read', 'db:write'] });
  });

  it('maps by sha256 fingerprint (colons and case ignored), ahead of the common name', () => {
    const mapping = { 'ops-laptop': 'viewer', [`sha256:${FP.toLowerCase().replace(/:/g, '')}`]: 'admin' } as const;
    const id = identityFromCertificate({ subject: { CN: 'ops-laptop' }, fingerprint256: FP }, mapping);
    expect(id).toMatchObject({ role: 'admin', subject: `certificate:sha256:${FP.replace(/:/g, '').toLowerCase()}` });
    expect(id.scopes).toEqual(['db:read', 'db:write', 'db:admin']);
  });

  it('rejects unmapped certificates, missing fields and prototype keys', () => {
    expectUnmapped(() => identityFromCertificate({ subject: { CN: 'stranger' }, fingerprint256: FP }, { other: 'admin' }));
    expectUnmapped(() => identityFromCertificate({}, { '': 'admin' }));
    expectUnmapped(() => identityFromCertificate({ subject: { CN: '__proto__' } }, {}));
    expectUnmapped(() => identityFromCertificate({ subject: { CN: 'toString' } }, {}));
    expectUnmapped(() => identityFromCertificate({ subject: { CN: ['a', 'b'] } }, { a: 'admin', b: 'admin' }));
  });

  it('does not let a common name impersonate a fingerprint entry', () => {
    const key = `sha256:${FP.replace(/:/g, '')}`;
    expectUnmapped(() => identityFromCertificate({ subject: { CN: key }, fingerprint256: '00:11' }, { [key]: 'admin' }));
  });

  it('[GW-CUSTOM-ROLES] maps to any role the stack file declares, with its scopes, and refuses a role it does not declare', () => {
    const stack = stackRoleScopes(() => ({ roles: ['admin', 'auditor'], scopesForRole: (r) => (r === 'auditor' ? ['audit:read'] : ['db:admin']) }));
    expect(identityFromCertificate({ subject: { CN: 'audit-box' } }, { 'audit-box': 'auditor' }, stack))
      .toEqual({ kind: 'certificate', subject: 'certificate:audit-box', role: 'auditor', scopes: ['audit:read'] });
    for (const [mapping, roleScopes] of [[{ 'audit-box': 'viewer' }, stack], [{ 'audit-box': 'auditor' }, undefined]] as const) {
      expect(() => identityFromCertificate({ subject: { CN: 'audit-box' } }, mapping, roleScopes))
        .toThrow(expect.objectContaining({ code: 'invalid_token', status: 401, description: expect.stringMatching(/^client certificate has role '(viewer|auditor)', which this server does not declare$/) }));
    }
  });
});
