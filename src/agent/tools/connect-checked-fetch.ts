import type { LookupAddress } from "node:dns";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { Readable } from "node:stream";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import type { ResolveHost } from "./assert-public-url.ts";

/** What the fetch of fetch_url is given: one request, redirects not followed (the caller checks each hop). */
export type CheckedFetch = (
  url: URL,
  init: { signal: AbortSignal; headers: Record<string, string> },
) => Promise<Response>;

/** Why an address may not be connected to, or undefined when it may. */
export type AddressCheck = (address: string) => string | undefined;

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/** The refusal as the lookup's error (no code: fetch_url shows a code in place of the message). */
function refusal(message: string): NodeJS.ErrnoException {
  return new Error(message);
}

/**
 * A fetch for one http(s) request whose connection is checked where it is made: the socket's name lookup goes
 * through `resolveHost`, and every address it returns must pass `check` (one refused address refuses the name), so
 * a DNS answer that changes between fetch_url's check and the connection (DNS rebinding) cannot reach a private
 * address. IP literals need no lookup (fetch_url checks them before). Redirects are returned, not followed;
 * gzip, deflate and br bodies are decoded.
 */
export function createConnectCheckedFetch(resolveHost: ResolveHost, check: AddressCheck): CheckedFetch {
  const lookup = (hostname: string, options: { all?: boolean }, callback: LookupCallback) => {
    resolveHost(hostname).then(
      (addresses) => {
        if (addresses.length === 0) return callback(refusal(`${hostname} has no address`), "");
        for (const address of addresses) {
          const reason = check(address);
          if (reason !== undefined) {
            return callback(refusal(`${hostname} resolved to a ${reason} address at connect time`), "");
          }
        }
        const entries = addresses.map((address) => ({ address, family: isIP(address) === 6 ? 6 : 4 }));
        const first = entries[0] as LookupAddress;
        if (options.all) callback(null, entries);
        else callback(null, first.address, first.family);
      },
      (error: unknown) => callback(error as NodeJS.ErrnoException, ""),
    );
  };

  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      const request = send(
        url,
        { method: "GET", headers: init.headers, signal: init.signal, lookup: lookup as never },
        (message) => {
          try {
            resolve(toResponse(message));
          } catch (error) {
            message.destroy();
            reject(error);
          }
        },
      );
      request.on("error", reject);
      request.end();
    });
}

function toResponse(message: IncomingMessage): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(message.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else headers.set(name, value);
  }
  const status = message.statusCode ?? 502;
  if (NULL_BODY_STATUSES.has(status)) {
    message.resume();
    return new Response(null, { status, statusText: message.statusMessage ?? "", headers });
  }
  const encoding = (headers.get("content-encoding") ?? "").trim().toLowerCase();
  const decoder =
    encoding === "gzip" || encoding === "x-gzip"
      ? createGunzip()
      : encoding === "deflate"
        ? createInflate()
        : encoding === "br"
          ? createBrotliDecompress()
          : undefined;
  const source: Readable = decoder ? message.pipe(decoder) : message;
  if (decoder) message.on("error", (error) => decoder.destroy(error));
  return new Response(Readable.toWeb(source) as ReadableStream<Uint8Array>, {
    status,
    statusText: message.statusMessage ?? "",
    headers,
  });
}
