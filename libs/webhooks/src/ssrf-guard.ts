import ipaddr from 'ipaddr.js';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface TargetPolicy {
  allowHttp: boolean;
  allowPrivate: boolean;
}

export class UnsafeTargetError extends Error {}

/**
 * Whether an address may be contacted: only public unicast. Loopback, private, link-local (and so
 * cloud metadata at 169.254.169.254), CGNAT, unique-local, multicast, reserved, unspecified and their
 * IPv6 forms are refused; an IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed.range() === 'unicast';
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
