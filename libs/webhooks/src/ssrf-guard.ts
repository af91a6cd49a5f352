import ipaddr from 'ipaddr.js';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface TargetPolicy {
  allowHttp: boolean;
  allowPrivate: boolean;
}

export class UnsafeTargetError extends Error {}

function cidr(text: string): [ipaddr.IPv6, number] {
  return ipaddr.IPv6.parseCIDR(text);
}

/** 2000::/3: the only IPv6 block IANA allocates for global unicast; everything outside it is special. */
const GLOBAL_UNICAST_V6 = cidr('2000::/3');

/**
 * IPv6 forms that carry an IPv4 address a packet can end up at, with where that address sits. Such an
 * address is only as public as the IPv4 address(es) it carries: `::7f00:1` reaches 127.0.0.1 on a host
 * that still routes IPv4-compatible addresses, `64:ff9b::a00:1` reaches 10.0.0.1 through a NAT64, and so on.
 */
const EMBEDDING_V6: { cidr: [ipaddr.IPv6, number]; embedded: (parts: number[]) => number[][] }[] = [
  // ::a.b.c.d, IPv4-compatible (RFC 4291, deprecated); also covers :: and ::1, judged as 0.0.0.0 and 0.0.0.1
  { cidr: cidr('::/96'), embedded: (p) => [[p[6], p[7]]] },
  // ::ffff:a.b.c.d, IPv4-mapped (RFC 4291)
  { cidr: cidr('::ffff:0:0/96'), embedded: (p) => [[p[6], p[7]]] },
  // ::ffff:0:a.b.c.d, IPv4-translated (RFC 6145 / SIIT)
  { cidr: cidr('::ffff:0:0:0/96'), embedded: (p) => [[p[6], p[7]]] },
  // 64:ff9b::a.b.c.d, the well-known NAT64 prefix (RFC 6052)
  { cidr: cidr('64:ff9b::/96'), embedded: (p) => [[p[6], p[7]]] },
  // 2002:aabb:ccdd::/48, 6to4 (RFC 3056): the IPv4 address of the relay is bits 16–47
  { cidr: cidr('2002::/16'), embedded: (p) => [[p[1], p[2]]] },
  // 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC, Teredo (RFC 4380): the server, and the client's address inverted
  {
    cidr: cidr('2001::/32'),
    embedded: (p) => [
      [p[2], p[3]],
      [p[6] ^ 0xffff, p[7] ^ 0xffff],
    ],
  },
];

function ipv4Of([high, low]: number[]): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

function isPublic(address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  if (address.kind() === 'ipv4') return address.range() === 'unicast';
  const v6 = address as ipaddr.IPv6;
  const embedding = EMBEDDING_V6.find((e) => v6.match(e.cidr));
  if (embedding) return embedding.embedded(v6.parts).every((parts) => isPublic(ipv4Of(parts)));
  // Global unicast only: ipaddr.js calls every address outside its special ranges "unicast", so the block is checked too.
  return v6.match(GLOBAL_UNICAST_V6) && v6.range() === 'unicast';
}

/**
 * Whether an address may be contacted: only global unicast. Loopback, private, link-local (and so cloud
 * metadata at 169.254.169.254), CGNAT, unique-local, multicast, documentation, reserved and unspecified
 * addresses are refused, and an IPv6 address that embeds an IPv4 address (IPv4-mapped, IPv4-compatible,
 * IPv4-translated, NAT64, 6to4, Teredo) is judged by the IPv4 address(es) it carries.
 */
export function isPublicAddress(address: string): boolean {
  // Only the canonical textual forms (what URL hosts and DNS answers are): no octal, hex or short IPv4 forms.
  if (!isIP(address.replace(/%.*$/, ''))) return false;
  return isPublic(ipaddr.parse(address));
}

/** The scheme rule and, for a literal IP host or `localhost`, the address rule; no DNS (used at create). */
export function checkTargetSyntax(url: URL, policy: TargetPolicy): void {
  if (url.protocol !== 'https:' && !(policy.allowHttp && url.protocol === 'http:')) {
    throw new UnsafeTargetError('the URL must use https');
  }
  if (policy.allowPrivate) return;
  const host = url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (isIP(host) && !isPublicAddress(host)) throw new UnsafeTargetError(`the address ${host} is not public`);
  if (host === 'localhost' || host.endsWith('.localhost')) throw new UnsafeTargetError(`the host ${host} is not public`);
}

/**
 * Resolves the host and checks every address it resolves to; returns the address to connect to, so
 * the connection is pinned to what was checked (no second lookup that DNS rebinding could change).
 */
export async function resolveSafeTarget(url: URL, policy: TargetPolicy): Promise<{ address: string; family: 4 | 6 }> {
  checkTargetSyntax(url, policy);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const literal = isIP(host);
  const addresses = literal ? [{ address: host, family: literal as 4 | 6 }] : await lookup(host, { all: true, verbatim: true });
  if (addresses.length === 0) throw new UnsafeTargetError(`the host ${host} does not resolve`);
  if (!policy.allowPrivate) {
    const bad = addresses.find((a) => !isPublicAddress(a.address));
    if (bad) throw new UnsafeTargetError(`the host ${host} resolves to ${bad.address}, which is not public`);
  }
  return { address: addresses[0].address, family: addresses[0].family as 4 | 6 };
}
