import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The key an address-keyed limit (failed logins, client authentication, registration) counts a
 * client address under. An IPv4 address is itself; an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what
 * a dual-stack listener reports for IPv4 peers) is the IPv4 address, so both spellings share one
 * count. Any other IPv6 address is its /64: one subscriber is routinely given a whole /64 (RFC 6177,
 * SLAAC), so keying by the full 128 bits would hand one client 2^64 separate budgets.
 * Anything unparsable (never expected from a socket) is kept as given, bounded in length.
 */
export function addressLimitKey(address: string): string {
  // A zone index (fe80::1%eth0) names an interface, not a different host.
  const bare = address.split('%', 1)[0]!;
  // node:net's check is the strict one (no shortened or octal IPv4 forms such as 1.2.3 or 010.0.0.1).
  if (isIP(bare) === 0) return address.slice(0, 100);
  const parsed = ipaddr.parse(bare);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const v6 = parsed as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  const prefix = v6.parts.slice(0, 4).map((p) => p.toString(16)).join(':');
  return `${prefix}::/64`;
}
