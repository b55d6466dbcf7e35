import { describe, expect, it } from 'vitest';
import { addressLimitKey } from '../src/address-key.ts';

describe('addressLimitKey', () => {
  it('[AUTH-ADDRESS-KEY-IPV6] keeps an IPv4 address as it is', () => {
    expect(addressLimitKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressLimitKey('127.0.0.1')).toBe('127.0.0.1');
  });

  it('[AUTH-ADDRESS-KEY-IPV6] counts an IPv4-mapped IPv6 address as the IPv4 address, in any spelling', () => {
    expect(addressLimitKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressLimitKey('::ffff:cb00:7107')).toBe('203.0.113.7');
    expect(addressLimitKey('0:0:0:0:0:FFFF:127.0.0.1')).toBe('127.0.0.1');
  });

  it('[AUTH-ADDRESS-KEY-IPV6] counts every address of one IPv6 /64 together, and different /64s apart', () => {
    const a = addressLimitKey('2001:db8:1:2::1');
    expect(a).toBe('2001:db8:1:2::/64');
    expect(addressLimitKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe(a);
    expect(addressLimitKey('2001:0DB8:0001:0002:abcd::9')).toBe(a);
    expect(addressLimitKey('2001:db8:1:3::1')).not.toBe(a);
    expect(addressLimitKey('::1')).toBe('0:0:0:0::/64');
    expect(addressLimitKey('fe80::1%eth0')).toBe(addressLimitKey('fe80::2'));
  });

  it('keeps anything that is not an IP address as given, bounded in length', () => {
    expect(addressLimitKey('unknown')).toBe('unknown');
    expect(addressLimitKey('1.2.3')).toBe('1.2.3');
    expect(addressLimitKey('x'.repeat(500))).toHaveLength(100);
  });
});

describe('addressLimitKey with a wider IPv6 prefix', () => {
  it('[HARD-LOGIN-IPV6-WIDE] counts every /64 of one /48 together under /48, and other /48s apart', () => {
    const a = addressLimitKey('2001:db8:1:2::1', 48);
    expect(a).toBe('2001:db8:1::/48');
    expect(addressLimitKey('2001:db8:1:ffff:1:2:3:4', 48)).toBe(a);
    expect(addressLimitKey('2001:db8:2::1', 48)).not.toBe(a);
    expect(addressLimitKey('2001:db8:1:2::1', 56)).toBe('2001:db8:1:0::/56');
    expect(addressLimitKey('2001:db8:1:2ff::1', 56)).toBe('2001:db8:1:200::/56');
    // IPv4 is unaffected by the IPv6 prefix.
    expect(addressLimitKey('::ffff:203.0.113.7', 48)).toBe('203.0.113.7');
    expect(() => addressLimitKey('::1', 8)).toThrow(RangeError);
  });
});
