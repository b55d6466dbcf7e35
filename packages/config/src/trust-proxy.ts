import { isIP } from 'node:net';
import { z } from 'zod';

/** Named ranges the proxy-addr library (Fastify's trustProxy) understands. */
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isAddressOrCidr(item: string): boolean {
  if (NAMED_RANGES.has(item)) return true;
  const [address, bits, extra] = item.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * Which X-Forwarded-For hops to trust (Fastify's trustProxy): `false` (none, the socket address
 * is the client), a hop count (the proxies in front of the app: the client address is that many
 * entries from the right of X-Forwarded-For), or the proxies' addresses/CIDRs (also `loopback`,
 * `linklocal`, `uniquelocal`). `true` is returned as `true` for the app to decide: Fastify's own
 * meaning (trust every hop) takes the leftmost entry, which the client writes itself.
 */
export const trustProxy = z
  .union([z.boolean(), z.number(), z.string()])
  .transform((v, ctx): boolean | number | string[] => {
    if (typeof v === 'boolean') return v;
    const s = String(v).trim().toLowerCase();
    if (['', '0', 'false', 'no', 'off'].includes(s)) return false;
    if (['true', 'yes'].includes(s)) return true;
    if (/^\d+$/.test(s)) {
      const hops = Number(s);
      if (hops <= 10) return hops;
      ctx.addIssue({ code: 'custom', message: 'a hop count must be at most 10' });
      return z.NEVER;
    }
    const items = s.split(',').map((x) => x.trim()).filter(Boolean);
    const bad = items.filter((x) => !isAddressOrCidr(x));
    if (items.length === 0 || bad.length > 0) {
      ctx.addIssue({ code: 'custom', message: `must be false, a hop count (e.g. 1) or a comma-separated list of proxy addresses or CIDRs; not understood: ${bad.join(', ').slice(0, 200)}` });
      return z.NEVER;
    }
    return items;
  });

/**
 * The value for Fastify's `trustProxy` option. A hop count becomes a function trusting the socket
 * peer and the next `hops - 1` entries (proxy-addr's meaning of a number): Fastify 5.12 itself
 * ignores numbers, since a count cannot tell a proxy from a direct client. So with a count the app
 * must be reachable only through its proxies; list their addresses when it is not.
 */
export function trustProxyOption(value: boolean | number | string[]): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof value !== 'number') return value;
  const hops = value;
  return hops === 0 ? false : (_address, hop) => hop < hops;
}
