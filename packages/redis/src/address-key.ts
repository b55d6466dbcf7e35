import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The key an address-keyed limit (failed logins, client authentication, registration) counts a
 * client address under. An IPv4 address is itself; an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what
 * a dual-stack listener reports for IPv4 peers) is the IPv4 address, so both spellings share one
 * count. Any other IPv6 address is its network of `ipv6Prefix` bits (default /64): one subscriber is
 * routinely given a whole /64 (RFC 6177, SLAAC), so keying by the full 128 bits would hand one client
 * 2^64 separate budgets. Limits an attacker gains by spreading over a bigger block they are also
 * routinely given (a /56 or /48 per site, RFC 6177) pass a wider prefix.
 * Anything unparsable (never expected from a socket) is kept as given, bounded in length.
 */
export function addressLimitKey(address: string, ipv6Prefix = 64): string {
  if (!Number.isInteger(ipv6Prefix) || ipv6Prefix < 16 || ipv6Prefix > 128) throw new RangeError('ipv6Prefix must be an integer from 16 to 128');
  // A zone index (fe80::1%eth0) names an interface, not a different host.
  const bare = address.split('%', 1)[0]!;
  // node:net's check is the strict one (no shortened or octal IPv4 forms such as 1.2.3 or 010.0.0.1).
  if (isIP(bare) === 0) return address.slice(0, 100);
  const parsed = ipaddr.parse(bare);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const v6 = parsed as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  // The 16-bit groups the prefix touches, the last one masked: 2001:db8:1:2::/64, 2001:db8:1::/48, 2001:db8:1:ff00::/56.
  const groups = v6.parts.slice(0, Math.ceil(ipv6Prefix / 16)).map((p, i) => {
    const bits = Math.min(16, ipv6Prefix - 16 * i);
    return (p & ((0xffff << (16 - bits)) & 0xffff)).toString(16);
  });
  return `${groups.join(':')}::/${ipv6Prefix}`;
}
