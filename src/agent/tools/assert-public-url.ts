import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { privateAddressReason } from "./private-address.ts";
import { toolError } from "./tool-error.ts";

/** Every address a hostname resolves to (the default: node:dns lookup with `all`, as the OS resolves it). */
export type ResolveHost = (hostname: string) => Promise<string[]>;

export const resolveHostWithDns: ResolveHost = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

/**
 * Throws a one-line Error unless `url` is http(s) and every address of its host is a public one. An IP literal
 * is checked as it is; a name is resolved and each of its addresses checked (one private address is enough
 * to refuse, so a name with a public and a private record cannot be used to reach the private one).
 */
export async function assertPublicUrl(
  url: URL,
  resolveHost: ResolveHost = resolveHostWithDns,
): Promise<void> {
  assertHttpUrl(url);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (isIP(host) !== 0) {
    const reason = privateAddressReason(host);
    if (reason !== undefined) throw toolError(`fetch_url refuses ${url.host}: a ${reason} address`);
    return;
  }
  let addresses: string[];
  try {
    addresses = await resolveHost(host);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw toolError(`fetch_url could not resolve ${host}${typeof code === "string" ? ` (${code})` : ""}`);
  }
  if (addresses.length === 0) throw toolError(`fetch_url could not resolve ${host}`);
  for (const address of addresses) {
    const reason = privateAddressReason(address);
    if (reason !== undefined)
      throw toolError(`fetch_url refuses ${host}: it resolves to a ${reason} address`);
  }
}

/** Throws a one-line Error unless `url` is http: or https:. */
export function assertHttpUrl(url: URL): void {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw toolError(`fetch_url only fetches http and https URLs, not ${url.protocol}`);
  }
}
