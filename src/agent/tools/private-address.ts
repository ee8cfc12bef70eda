import { isIPv4, isIPv6 } from "node:net";

/** IPv4 ranges a fetch from the open web must not reach: [first octets, prefix length, what it is]. */
const BLOCKED_V4: [number[], number, string][] = [
  [[0], 8, "this network"],
  [[10], 8, "private"],
  [[100, 64], 10, "carrier-grade NAT"],
  [[127], 8, "loopback"],
  [[169, 254], 16, "link-local (cloud metadata)"],
  [[172, 16], 12, "private"],
  [[192, 0, 0], 24, "IETF protocol assignments"],
  [[192, 0, 2], 24, "documentation"],
  [[192, 88, 99], 24, "6to4 relay"],
  [[192, 168], 16, "private"],
  [[198, 18], 15, "benchmarking"],
  [[198, 51, 100], 24, "documentation"],
  [[203, 0, 113], 24, "documentation"],
  [[224], 4, "multicast"],
  [[240], 4, "reserved"],
];

/**
 * Why `address` (an IPv4 or IPv6 literal, brackets allowed) is not a public internet address, or undefined when
 * it is. Private, loopback, link-local (169.254.169.254, the cloud metadata address), CGNAT, unique-local
 * (fd00:ec2::254), multicast and reserved ranges are refused; IPv4 inside IPv6 (mapped ::ffff:a.b.c.d,
 * compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged by its IPv4 address; the local-use NAT64
 * prefix 64:ff9b:1::/48 (RFC 8215, translated inside a network) is refused whole. Not an IP at all:
 * "not an IP address".
 */
export function privateAddressReason(address: string): string | undefined {
  const literal = address.replace(/^\[|\]$/g, "");
  if (isIPv4(literal)) return blockedV4(literal.split(".").map(Number));
  if (isIPv6(literal)) return blockedV6(ipv6Bytes(literal));
  return "not an IP address";
}

function blockedV4(bytes: number[]): string | undefined {
  if (bytes.every((byte) => byte === 255)) return "broadcast";
  for (const [prefix, length, reason] of BLOCKED_V4) {
    if (matches(bytes, prefix, length)) return reason;
  }
  return undefined;
}

function blockedV6(bytes: number[]): string | undefined {
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((byte) => byte === 0);
  if (zeros(0, 15) && bytes[15] === 0) return "unspecified";
  if (zeros(0, 15) && bytes[15] === 1) return "loopback";
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return mapped(bytes.slice(12));
  if (zeros(0, 12)) return mapped(bytes.slice(12));
  if (matches(bytes, [0x00, 0x64, 0xff, 0x9b], 32) && zeros(4, 12)) return mapped(bytes.slice(12));
  if (matches(bytes, [0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48)) return "local-use NAT64";
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return mapped(bytes.slice(2, 6));
  if (matches(bytes, [0xfc], 7)) return "unique-local";
  if (matches(bytes, [0xfe, 0x80], 10)) return "link-local";
  if (matches(bytes, [0xfe, 0xc0], 10)) return "site-local";
  if (bytes[0] === 0xff) return "multicast";
  if (matches(bytes, [0x20, 0x01, 0x0d, 0xb8], 32)) return "documentation";
  if (matches(bytes, [0x01, 0x00], 16) && zeros(2, 8)) return "discard-only";
  return undefined;
}

function mapped(v4: number[]): string | undefined {
  const reason = blockedV4(v4);
  return reason === undefined ? undefined : `${reason} (IPv4 in IPv6)`;
}

/** Whether the first `length` bits of `bytes` equal those of `prefix`. */
function matches(bytes: number[], prefix: number[], length: number): boolean {
  for (let bit = 0; bit < length; bit++) {
    const index = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if (((bytes[index] ?? 0) & mask) !== ((prefix[index] ?? 0) & mask)) return false;
  }
  return true;
}

/** The 16 bytes of a valid IPv6 literal (zone removed, `::` expanded, a trailing dotted IPv4 converted). */
function ipv6Bytes(literal: string): number[] {
  let text = literal.split("%")[0] ?? "";
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1] !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted[1].split(".").map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const fill = new Array(8 - headGroups.length - tailGroups.length).fill("0");
  const groups = tail === undefined ? headGroups : [...headGroups, ...fill, ...tailGroups];
  return groups.flatMap((group) => {
    const value = Number.parseInt(group, 16);
    return [value >> 8, value & 0xff];
  });
}
