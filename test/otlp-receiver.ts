/**
 * A local OTLP/HTTP trace receiver for tests: POST /v1/traces with a JSON body (what the OTLP/HTTP JSON exporter
 * sends), decoded into flat spans. It can also refuse every export (HTTP 400) or take the request and never
 * answer, to test a collector that is down. Listens on 127.0.0.1 only; `close` ends every connection it holds.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

export type AttributeValue = string | number | boolean | AttributeValue[] | null;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP span kind: 1 internal, 2 server, 3 client. */
  kind: number;
  startMs: number;
  endMs: number;
  attributes: Record<string, AttributeValue>;
  events: Array<{ name: string; timeMs: number; attributes: Record<string, AttributeValue> }>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  resource: Record<string, AttributeValue>;
}

export interface OtlpReceiver {
  /** Base address, e.g. http://127.0.0.1:43121 (the exporter adds /v1/traces). */
  url: string;
  spans: ReceivedSpan[];
  /** Raw request bodies, to look for what must never be sent. */
  bodies: string[];
  /** Content types of the requests. */
  contentTypes: string[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const MAX_BODY = 32 * 1024 * 1024;

interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}
interface OtlpAnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpAnyValue[] };
}

function decodeValue(value: OtlpAnyValue): AttributeValue {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(decodeValue);
  return null;
}

function decodeAttributes(list: OtlpKeyValue[] | undefined): Record<string, AttributeValue> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, decodeValue(value)]));
}

const nanosToMs = (nanos: string | number) => Number(BigInt(nanos) / 1000n) / 1000;

/** Spans of one ExportTraceServiceRequest in its JSON form. */
export function decodeTraces(body: unknown): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: the OTLP JSON shape, read field by field.
  for (const resourceSpans of (body as any).resourceSpans ?? []) {
    const resource = decodeAttributes(resourceSpans.resource?.attributes);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        spans.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? "",
          name: span.name,
          kind: span.kind,
          startMs: nanosToMs(span.startTimeUnixNano),
          endMs: nanosToMs(span.endTimeUnixNano),
          attributes: decodeAttributes(span.attributes),
          events: (span.events ?? []).map(
            (event: { name: string; timeUnixNano: string; attributes?: OtlpKeyValue[] }) => ({
              name: event.name,
              timeMs: nanosToMs(event.timeUnixNano),
              attributes: decodeAttributes(event.attributes),
            }),
          ),
          status: {
            code: span.status?.code ?? 0,
            ...(span.status?.message ? { message: span.status.message } : {}),
          },
          resource,
        });
      }
    }
  }
  return spans;
}

export async function startOtlpReceiver(
  mode: "accept" | "reject" | "hang" = "accept",
): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const bodies: string[] = [];
  const contentTypes: string[] = [];
  const sockets = new Set<Socket>();
  const answer = (response: ServerResponse, status: number, body: string) => {
    response.writeHead(status, { "content-type": "application/json" }).end(body);
  };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    if (request.method !== "POST" || request.url !== "/v1/traces") {
      answer(response, 404, "{}");
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) request.destroy();
      else chunks.push(chunk);
    });
    request.on("end", () => {
      if (mode === "hang") return;
      const text = Buffer.concat(chunks).toString("utf8");
      bodies.push(text);
      contentTypes.push(String(request.headers["content-type"]));
      if (mode === "reject") {
        answer(response, 400, JSON.stringify({ code: 3, message: "refused by the test receiver" }));
        return;
      }
      try {
        spans.push(...decodeTraces(JSON.parse(text)));
        answer(response, 200, "{}");
      } catch {
        answer(response, 400, JSON.stringify({ code: 3, message: "not OTLP JSON" }));
      }
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    bodies,
    contentTypes,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** An address where nothing listens (a port we held for a moment). */
export async function deadOtlpUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
