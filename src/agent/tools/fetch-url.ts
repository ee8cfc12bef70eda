import { type Tool, tool } from "ai";
import { z } from "zod";
import { assertHttpUrl, assertPublicUrl, type ResolveHost, resolveHostWithDns } from "./assert-public-url.ts";
import { createConnectCheckedFetch } from "./connect-checked-fetch.ts";
import { htmlToMarkdown } from "./html-to-markdown.ts";
import { privateAddressReason } from "./private-address.ts";
import { readLimitedBody } from "./read-limited-body.ts";
import { errorCause, toolError } from "./tool-error.ts";

export interface FetchUrlToolOptions {
  /**
   * Also fetch private, loopback, link-local, unique-local, CGNAT and metadata addresses (default false: only
   * public addresses, for the URL and every redirect). Turn on only for an intranet you trust the model with.
   */
  allowPrivateUrls?: boolean;
  /**
   * The fetch to use. Default: with allowPrivateUrls the global one; without, one whose connections resolve the
   * name again at connect time and refuse a private address there too (DNS rebinding). A fetch given here is
   * used as it is (its own connections are not checked). Redirects are followed here, one checked hop at a time.
   */
  fetch?: typeof fetch;
  /** For the whole fetch, redirects and body included, in ms (default 20,000). */
  timeoutMs?: number;
  /** Bytes read from the body at most (default 5 MB); the rest is not downloaded and `truncated` is true. */
  maxBytes?: number;
  /** Characters of text returned at most (default 100,000); longer text is cut and `truncated` is true. */
  maxChars?: number;
  /** How a hostname becomes its addresses (default node:dns lookup, all addresses); tests pass their own. */
  resolveHost?: ResolveHost;
}

export interface FetchUrlOutput {
  /** The final URL, after redirects. */
  url: string;
  title: string;
  /** Markdown for HTML pages, the text itself for other text types. */
  text: string;
  truncated: boolean;
  contentType: string;
}

const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const TEXT_TYPES =
  /^(text\/|application\/(json|xml|javascript|ecmascript|x-ndjson|ld\+json|rss\+xml|atom\+xml|yaml|x-yaml|toml|csv)$)|\+(json|xml)$/;
const HTML_TYPES = new Set(["text/html", "application/xhtml+xml"]);

/**
 * The `fetch_url` tool: reads a web page as Markdown (linkedom, Readability, turndown) or a text file as it is.
 * PDFs, images and other binary types are refused with a clear error. Only http(s); unless allowPrivateUrls,
 * every address of the host and of each redirect's host must be public, when the URL is checked and again when
 * the connection is made (the name is resolved at connect time through the same check, so a DNS server that
 * answers differently the second time, rebinding, reaches no private address).
 */
export function createFetchUrlTool(options: FetchUrlToolOptions = {}): Tool {
  const allowPrivateUrls = options.allowPrivateUrls ?? false;
  const resolveHost = options.resolveHost ?? resolveHostWithDns;
  const settings: FetchSettings = {
    allowPrivateUrls,
    fetchImpl:
      options.fetch ??
      (allowPrivateUrls ? globalThis.fetch : createConnectCheckedFetch(resolveHost, privateAddressReason)),
    timeoutMs: options.timeoutMs ?? 20_000,
    maxBytes: options.maxBytes ?? 5 * 1024 * 1024,
    maxChars: options.maxChars ?? 100_000,
    resolveHost,
  };
  return tool({
    description:
      "Fetches a web page (http or https) and returns its main content as Markdown, or a text file as it is. PDFs and binary files are not supported.",
    inputSchema: z.object({ url: z.string().min(1).max(8000).describe("The http(s) URL to read") }),
    execute: ({ url }, { abortSignal }) => fetchUrl(url, settings, abortSignal),
  });
}

interface FetchSettings {
  allowPrivateUrls: boolean;
  fetchImpl: (
    url: URL,
    init: { redirect: "manual"; signal: AbortSignal; headers: Record<string, string> },
  ) => Promise<Response>;
  timeoutMs: number;
  maxBytes: number;
  maxChars: number;
  resolveHost: ResolveHost;
}

async function fetchUrl(
  input: string,
  settings: FetchSettings,
  abortSignal?: AbortSignal,
): Promise<FetchUrlOutput> {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw toolError(`fetch_url needs an absolute http(s) URL, not ${JSON.stringify(input.slice(0, 200))}`);
  }
  const timeout = AbortSignal.timeout(settings.timeoutMs);
  const signal = abortSignal ? AbortSignal.any([abortSignal, timeout]) : timeout;
  const failed = (error: unknown): Error => {
    if (timeout.aborted)
      return toolError(`fetch_url timed out after ${settings.timeoutMs} ms on ${url.host}`);
    if (abortSignal?.aborted) return toolError("fetch_url was cancelled");
    return toolError(`fetch_url could not fetch ${url.host}: ${errorCause(error)}`);
  };

  let response: Response | undefined;
  for (let hop = 0; ; hop++) {
    await check(url, settings);
    try {
      response = await settings.fetchImpl(url, {
        redirect: "manual",
        signal,
        headers: {
          accept: "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
          "user-agent": "rlmkit-fetch_url/1 (+https://github.com/rlmkit)",
        },
      });
    } catch (error) {
      throw failed(error);
    }
    if (!REDIRECT_STATUSES.has(response.status)) break;
    await response.body?.cancel().catch(() => {});
    const location = response.headers.get("location");
    if (location === null)
      throw toolError(`fetch_url got HTTP ${response.status} from ${url.host} without a Location`);
    if (hop >= MAX_REDIRECTS) throw toolError(`fetch_url stopped after ${MAX_REDIRECTS} redirects`);
    try {
      url = new URL(location, url);
    } catch {
      throw toolError(`fetch_url got a redirect to an invalid URL from ${url.host}`);
    }
  }

  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    throw toolError(`fetch_url got HTTP ${response.status} ${response.statusText} from ${url.href}`);
  }
  const contentType = (response.headers.get("content-type") ?? "").trim();
  const mediaType = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  if (mediaType === "application/pdf") {
    await response.body?.cancel().catch(() => {});
    throw toolError(`fetch_url cannot read PDFs (${url.href} is application/pdf)`);
  }
  if (mediaType !== "" && !HTML_TYPES.has(mediaType) && !TEXT_TYPES.test(mediaType)) {
    await response.body?.cancel().catch(() => {});
    throw toolError(`fetch_url reads HTML and text only; ${url.href} is ${mediaType} (binary)`);
  }
  const body = await readLimitedBody(response, settings.maxBytes).catch((error: unknown) => {
    throw failed(error);
  });
  const kind = mediaType === "" ? sniff(body.bytes) : HTML_TYPES.has(mediaType) ? "html" : "text";
  if (kind === "binary") throw toolError(`fetch_url reads HTML and text only; ${url.href} looks binary`);
  const decoded = decode(body.bytes, contentType, kind === "html");
  const page = kind === "html" ? htmlToMarkdown(decoded, url.href) : { title: "", markdown: decoded };
  const cut = page.markdown.length > settings.maxChars;
  return {
    url: url.href,
    title: page.title,
    text: cut ? page.markdown.slice(0, settings.maxChars) : page.markdown,
    truncated: body.truncated || cut,
    contentType: contentType || (kind === "html" ? "text/html" : "text/plain"),
  };
}

async function check(url: URL, settings: FetchSettings): Promise<void> {
  if (settings.allowPrivateUrls) assertHttpUrl(url);
  else await assertPublicUrl(url, settings.resolveHost);
}

/** What a body without a content type is: HTML when it starts like HTML, binary when it holds NUL bytes. */
function sniff(bytes: Uint8Array): "html" | "text" | "binary" {
  const head = bytes.subarray(0, 1024);
  if (head.includes(0)) return "binary";
  const start = new TextDecoder().decode(head).trimStart().slice(0, 64).toLowerCase();
  return start.startsWith("<!doctype html") || start.startsWith("<html") ? "html" : "text";
}

/** Decodes with the charset of the content type, else an HTML meta charset, else UTF-8. */
function decode(bytes: Uint8Array, contentType: string, html: boolean): string {
  let charset = /charset\s*=\s*"?([\w.:-]+)/i.exec(contentType)?.[1];
  if (charset === undefined && html) {
    const head = new TextDecoder("latin1").decode(bytes.subarray(0, 2048));
    charset = /<meta[^>]+charset\s*=\s*["']?([\w.:-]+)/i.exec(head)?.[1];
  }
  try {
    return new TextDecoder(charset ?? "utf-8").decode(bytes);
  } catch {
    return new TextDecoder("utf-8").decode(bytes);
  }
}
