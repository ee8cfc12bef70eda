import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import type { Tool } from "ai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectCheckedFetch } from "./connect-checked-fetch.ts";
import { createFetchUrlTool, type FetchUrlOutput, type FetchUrlToolOptions } from "./fetch-url.ts";
import { privateAddressReason } from "./private-address.ts";

const ARTICLE = `<!doctype html><html><head><title>Tides of the North Sea | Example News</title>
<script>window.tracking = true;</script><style>p { color: red }</style></head>
<body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article><h1>Tides of the North Sea</h1>
${Array.from({ length: 8 }, (_, index) => `<p>Paragraph ${index}: the tide rises twice a day along the coast, and the harbour master keeps a careful log of each high water mark for the fishing fleet.</p>`).join("\n")}
<p>See <a href="/sources/tides">the sources</a> for <strong>more</strong>.</p></article>
<footer>Copyright 2026</footer></body></html>`;

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    const path = request.url ?? "/";
    const send = (
      status: number,
      type: string,
      body: string | Buffer,
      headers: Record<string, string> = {},
    ) => {
      response.writeHead(status, { "content-type": type, ...headers });
      response.end(body);
    };
    if (path === "/article") send(200, "text/html; charset=utf-8", ARTICLE);
    else if (path === "/redirect") send(302, "text/plain", "", { location: "/hop" });
    else if (path === "/hop") send(301, "text/plain", "", { location: `${base}/article` });
    else if (path.startsWith("/loop")) send(302, "text/plain", "", { location: `/loop${path.length}` });
    else if (path === "/plain") send(200, "text/plain; charset=utf-8", "line one\nline two");
    else if (path === "/json") send(200, "application/json", '{"answer":42}');
    else if (path === "/pdf") send(200, "application/pdf", "%PDF-1.7 ...");
    else if (path === "/image") send(200, "image/png", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0]));
    else if (path === "/untyped") {
      response.writeHead(200);
      response.end(Buffer.from([1, 2, 0, 3]));
    } else if (path === "/big") send(200, "text/plain", "x".repeat(200_000));
    else if (path === "/to-metadata")
      send(302, "text/plain", "", { location: "http://169.254.169.254/latest/meta-data/" });
    else if (path === "/to-internal") send(307, "text/plain", "", { location: "http://internal.test/admin" });
    else if (path === "/missing") send(404, "text/plain", "no");
    else if (path === "/gzip")
      send(200, "text/plain", gzipSync("zipped text"), { "content-encoding": "gzip" });
    else send(500, "text/plain", "?");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const call = async (tool: Tool, url: string) =>
  (await (tool as Required<Tool>).execute(
    { url },
    { toolCallId: "t", messages: [], context: {} },
  )) as FetchUrlOutput;
const local = (options: FetchUrlToolOptions = {}) =>
  createFetchUrlTool({ allowPrivateUrls: true, ...options });

describe("fetch_url (allowPrivateUrls: true, against a local server)", () => {
  it("reads an article as Markdown with its title, without scripts or navigation", async () => {
    const page = await call(local(), `${base}/article`);
    expect(page.url).toBe(`${base}/article`);
    expect(page.title).toContain("Tides of the North Sea");
    expect(page.text).toContain("Paragraph 3: the tide rises twice a day");
    expect(page.text).toContain(`[the sources](${base}/sources/tides)`);
    expect(page.text).toContain("**more**");
    expect(page.text).not.toContain("tracking");
    expect(page.text).not.toContain("color: red");
    expect(page.truncated).toBe(false);
    expect(page.contentType).toBe("text/html; charset=utf-8");
  });

  it("follows redirects and reports the final URL", async () => {
    const page = await call(local(), `${base}/redirect`);
    expect(page.url).toBe(`${base}/article`);
    expect(page.text).toContain("Paragraph 0");
    await expect(call(local(), `${base}/loop`)).rejects.toThrow("fetch_url stopped after 5 redirects");
  });

  it("returns text types as they are and refuses PDFs and binary", async () => {
    expect(await call(local(), `${base}/plain`)).toMatchObject({ text: "line one\nline two", title: "" });
    expect((await call(local(), `${base}/json`)).text).toBe('{"answer":42}');
    await expect(call(local(), `${base}/pdf`)).rejects.toThrow(/cannot read PDFs/);
    await expect(call(local(), `${base}/image`)).rejects.toThrow(/image\/png \(binary\)/);
    await expect(call(local(), `${base}/untyped`)).rejects.toThrow(/looks binary/);
    await expect(call(local(), `${base}/missing`)).rejects.toThrow(/HTTP 404/);
  });

  it("caps the download and the output", async () => {
    const bytes = await call(local({ maxBytes: 1000 }), `${base}/big`);
    expect(bytes).toMatchObject({ truncated: true });
    expect(bytes.text).toHaveLength(1000);
    const chars = await call(local({ maxChars: 500 }), `${base}/big`);
    expect(chars).toMatchObject({ truncated: true });
    expect(chars.text).toHaveLength(500);
    expect((await call(local(), `${base}/big`)).text).toHaveLength(100_000);
  });

  it("refuses other schemes even when private URLs are allowed", async () => {
    await expect(call(local(), "file:///etc/passwd")).rejects.toThrow(
      "only fetches http and https URLs, not file:",
    );
    await expect(call(local(), "not a url")).rejects.toThrow("needs an absolute http(s) URL");
  });
});

describe("fetch_url refusals (allowPrivateUrls: false)", () => {
  /** Public names go to the local server; `internal.test` is a private address. */
  const names: Record<string, string[]> = {
    "public.test": ["93.184.216.34"],
    "internal.test": ["10.1.2.3"],
    "mixed.test": ["93.184.216.34", "127.0.0.1"],
    "rebound.test": ["::ffff:169.254.169.254"],
  };
  const guarded = () =>
    createFetchUrlTool({
      resolveHost: async (hostname) => names[hostname] ?? [],
      fetch: (input, init) => fetch(String(input).replace("http://public.test", base), init),
    });

  it("refuses private, loopback, link-local, metadata and IPv4-mapped addresses", async () => {
    for (const [url, reason] of [
      [`${base}/article`, "loopback"],
      ["http://10.0.0.1/", "private"],
      ["http://192.168.1.1/", "private"],
      ["http://100.64.0.1/", "carrier-grade NAT"],
      ["http://169.254.169.254/latest/meta-data/", "link-local"],
      ["http://0.0.0.0/", "this network"],
      ["http://2130706433/", "loopback"],
      ["http://0x7f.1/", "loopback"],
      ["http://[::1]/", "loopback"],
      ["http://[::ffff:127.0.0.1]/", "loopback (IPv4 in IPv6)"],
      ["http://[fd00:ec2::254]/", "unique-local"],
      ["http://[fe80::1]/", "link-local"],
    ] as const) {
      await expect(call(guarded(), url), url).rejects.toThrow(reason);
    }
  });

  it("refuses names that resolve to private addresses, any of them", async () => {
    await expect(call(createFetchUrlTool(), "http://localhost/")).rejects.toThrow(
      /refuses localhost: .*loopback/,
    );
    await expect(call(guarded(), "http://internal.test/")).rejects.toThrow("resolves to a private address");
    await expect(call(guarded(), "http://mixed.test/")).rejects.toThrow("resolves to a loopback address");
    await expect(call(guarded(), "http://rebound.test/")).rejects.toThrow("link-local");
    await expect(call(guarded(), "http://nowhere.test/")).rejects.toThrow("could not resolve nowhere.test");
  });

  it("fetches public hosts and re-checks every redirect hop", async () => {
    const page = await call(guarded(), "http://public.test/article");
    expect(page.title).toContain("Tides of the North Sea");
    await expect(call(guarded(), "http://public.test/to-metadata")).rejects.toThrow(
      /refuses 169\.254\.169\.254/,
    );
    await expect(call(guarded(), "http://public.test/to-internal")).rejects.toThrow(/refuses internal\.test/);
  });

  it("refuses other schemes", async () => {
    await expect(call(guarded(), "file:///etc/passwd")).rejects.toThrow("not file:");
    await expect(call(guarded(), "ftp://public.test/")).rejects.toThrow("not ftp:");
  });
});

describe("fetch_url at connect time (DNS rebinding)", () => {
  const port = () => new URL(base).port;

  it("refuses a name whose answer turns private between the check and the connection", async () => {
    let lookups = 0;
    const tool = createFetchUrlTool({
      resolveHost: async () => (lookups++ === 0 ? ["93.184.216.34"] : ["127.0.0.1"]),
    });
    await expect(call(tool, `http://rebind.test:${port()}/article`)).rejects.toThrow(
      /rebind\.test resolved to a loopback address at connect time/,
    );
    expect(lookups).toBe(2);
  });

  it("connects through the checked lookup, returns redirects unfollowed and decodes gzip", async () => {
    const checked = createConnectCheckedFetch(
      async () => ["127.0.0.1"],
      () => undefined,
    );
    const get = (path: string) =>
      checked(new URL(`http://any-name.test:${port()}${path}`), {
        signal: AbortSignal.timeout(10_000),
        headers: {},
      });
    expect(await (await get("/json")).text()).toBe('{"answer":42}');
    const redirect = await get("/redirect");
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get("location")).toBe("/hop");
    await redirect.body?.cancel();
    expect(await (await get("/gzip")).text()).toBe("zipped text");
  });
});

describe("privateAddressReason", () => {
  it("lets public addresses through", () => {
    for (const address of [
      "8.8.8.8",
      "93.184.216.34",
      "2606:4700::1111",
      "::ffff:8.8.8.8",
      "[2001:4860::8888]",
    ]) {
      expect(privateAddressReason(address), address).toBeUndefined();
    }
  });

  it("names what the others are", () => {
    expect(privateAddressReason("172.31.255.255")).toBe("private");
    expect(privateAddressReason("172.32.0.1")).toBeUndefined();
    expect(privateAddressReason("::ffff:7f00:1")).toBe("loopback (IPv4 in IPv6)");
    expect(privateAddressReason("::")).toBe("unspecified");
    expect(privateAddressReason("64:ff9b::a00:1")).toBe("private (IPv4 in IPv6)");
    expect(privateAddressReason("64:ff9b:1::a00:1")).toBe("local-use NAT64");
    expect(privateAddressReason("64:ff9b:1:ffff::1")).toBe("local-use NAT64");
    expect(privateAddressReason("64:ff9b:2::1")).toBeUndefined();
    expect(privateAddressReason("2002:a9fe:a9fe::1")).toBe("link-local (cloud metadata) (IPv4 in IPv6)");
    expect(privateAddressReason("example.com")).toBe("not an IP address");
  });
});
