/** A server's one OTel sink: a collector that refuses costs one warning line for the whole process, not one per run. */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { startOtlpReceiver } from "../../test/otlp-receiver.ts";
import type { RunEvent } from "../engine/run-events.ts";
import { openServerOtel } from "./server-otel.ts";

const run = (runId: string, at: number): RunEvent[] => [
  {
    type: "run-start",
    at,
    runId,
    depth: 0,
    query: "q",
    model: "openai:gpt-test",
    subModel: "openai:gpt-test",
    contextChars: 1,
  },
  {
    type: "run-end",
    at: at + 5,
    runId,
    depth: 0,
    status: "completed",
    answer: "a",
    iterations: 0,
    durationMs: 5,
  },
];

describe("openServerOtel", () => {
  it("says where spans go, and a refusing collector's failure once, however many runs", async () => {
    await using receiver = await startOtlpReceiver("reject");
    const lines: string[] = [];
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: {} };
    const otel = await openServerOtel({ otel: receiver.url }, io, (line) => lines.push(line));
    expect(lines).toEqual([`OpenTelemetry spans go to ${receiver.url}/v1/traces`]);
    for (const event of run("run-1", Date.now())) otel?.write(event);
    // The first batch goes out within the exporter's delay (1 s) and is refused.
    while (receiver.bodies.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    for (const event of run("run-2", Date.now())) otel?.write(event);
    await otel?.close();
    await otel?.close();
    const warnings = lines.filter((line) => line.startsWith("warning:"));
    expect(warnings).toEqual([
      `warning: the OpenTelemetry export to ${receiver.url}/v1/traces failed (HTTP 400); spans are missing there`,
    ]);
  });

  it("is off without --otel and without OTEL_EXPORTER_OTLP_ENDPOINT", async () => {
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: {} };
    expect(await openServerOtel({}, io, () => {})).toBeUndefined();
  });
});
