import { afterEach, describe, expect, it } from "vitest";
import type { RunEvent } from "../src/engine/run-events.ts";
import type { TraceSink } from "../src/spec/trace-sink.ts";

/** Where one sink under test writes, and how to read back what reached it. */
export interface TraceSinkFixture {
  /** A sink over a working destination; `secrets` are values it must never deliver. */
  open(options: { secrets: string[] }): TraceSink | Promise<TraceSink>;
  /** A sink whose destination fails on every write (a full disk, a collector that is down). */
  openFailing(): TraceSink | Promise<TraceSink>;
  /** Everything the working destination received so far, as text (read after `close`). */
  received(): Promise<string>;
  /** Removes what the fixture made. */
  dispose(): Promise<void>;
}

const SECRET = "conformance-secret-value-0123456789";
const KEY_SHAPED = "sk-conformanceKEYshaped0123456789";

/** One small run tree's events, with real times and a secret in every text field a sink may keep. */
function runEvents(runId: string): RunEvent[] {
  const at = Date.now() - 1000;
  const base = { runId, depth: 0 };
  const usage = { inputTokens: 120, outputTokens: 30, cachedInputTokens: 0, costUsd: 0.001 };
  return [
    {
      type: "run-start",
      at,
      ...base,
      query: `what is ${SECRET}?`,
      model: "openai:gpt-test",
      subModel: "openai:gpt-test-mini",
      contextChars: 42,
    },
    { type: "iteration-start", at: at + 10, ...base, iteration: 1 },
    {
      type: "subcall-start",
      at: at + 200,
      ...base,
      callId: "call-1",
      kind: "llm_query",
      model: "openai:gpt-test-mini",
      promptChars: 12,
    },
    {
      type: "subcall-end",
      at: at + 300,
      ...base,
      callId: "call-1",
      kind: "llm_query",
      model: "openai:gpt-test-mini",
      promptChars: 12,
      ok: false,
      cached: false,
      usage: { ...usage, costUsd: null },
      latencyMs: 100,
      error: `api error with Authorization: Bearer ${KEY_SHAPED}`,
    },
    {
      type: "tool-start",
      at: at + 310,
      ...base,
      callId: "tool-1",
      tool: "lookup",
      args: JSON.stringify({ key: SECRET }),
    },
    {
      type: "tool-end",
      at: at + 320,
      ...base,
      callId: "tool-1",
      tool: "lookup",
      ok: false,
      latencyMs: 10,
      error: `lookup failed for ${SECRET}`,
    },
    {
      type: "iteration-end",
      at: at + 400,
      ...base,
      iteration: 1,
      reply: `the key is ${KEY_SHAPED}\n\`\`\`repl\nprint("${SECRET}")\n\`\`\``,
      usage,
      modelLatencyMs: 150,
      cells: [{ code: `print("${SECRET}")`, output: SECRET, durationMs: 5 }],
      durationMs: 390,
    },
    {
      type: "run-end",
      at: at + 500,
      ...base,
      status: "failed",
      answer: `answer with ${SECRET}`,
      iterations: 1,
      durationMs: 500,
      error: `stopped: ${KEY_SHAPED}`,
    },
  ];
}

/** The one suite every TraceSink passes (src/spec/trace-sink.ts). */
export function describeTraceSinkConformance(
  name: string,
  createFixture: () => Promise<TraceSinkFixture>,
): void {
  describe(`trace sink conformance: ${name}`, () => {
    let fixture: TraceSinkFixture | undefined;
    const fresh = async () => {
      fixture = await createFixture();
      return fixture;
    };
    afterEach(async () => {
      await fixture?.dispose();
      fixture = undefined;
    });

    it("delivers a run's events, written through a detached `write`", async () => {
      const place = await fresh();
      const sink = await place.open({ secrets: [SECRET] });
      const { write } = sink;
      for (const event of runEvents("run-delivered")) write(event);
      await sink.close();
      expect(sink.failure).toBeUndefined();
      const text = await place.received();
      expect(text).toContain("run-delivered");
      expect(text).toContain("lookup");
    });

    it("never delivers a secret: configured values and key-shaped strings are redacted", async () => {
      const place = await fresh();
      const sink = await place.open({ secrets: [SECRET] });
      for (const event of runEvents("run-redacted")) sink.write(event);
      await sink.close();
      const text = await place.received();
      expect(text).toContain("run-redacted");
      expect(text).toContain("[redacted]");
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(KEY_SHAPED);
    });

    it("takes events of unknown types and odd shapes without throwing", async () => {
      const place = await fresh();
      const sink = await place.open({ secrets: [] });
      const odd = [
        { type: "something-new", runId: "r", at: Date.now() },
        {
          type: "subcall-end",
          runId: "never-started",
          at: Date.now(),
          depth: 0,
          callId: "x",
          kind: "llm_query",
        },
        { type: "run-end", runId: "never-started", at: Date.now(), depth: 0, status: "completed" },
      ];
      for (const event of odd) expect(() => sink.write(event)).not.toThrow();
      await sink.close();
    });

    it("never throws into the run when the destination fails, and reports it once, in one line", async () => {
      const place = await fresh();
      const sink = await place.openFailing();
      for (const event of runEvents("run-failing")) expect(() => sink.write(event)).not.toThrow();
      await sink.flush?.();
      await expect(Promise.resolve(sink.close())).resolves.toBeUndefined();
      const failure = sink.failure;
      expect(failure).toMatch(/\S/);
      expect(failure).not.toContain("\n");
      for (const event of runEvents("run-failing-2")) sink.write(event);
      expect(sink.failure).toBe(failure);
    });

    it("closes once: a second close and later writes do nothing", async () => {
      const place = await fresh();
      const sink = await place.open({ secrets: [] });
      for (const event of runEvents("run-closed")) sink.write(event);
      await Promise.all([sink.close(), sink.close()]);
      const before = await place.received();
      await sink.close();
      expect(() => sink.write(runEvents("run-after-close")[0] as RunEvent)).not.toThrow();
      await sink.close();
      const after = await place.received();
      expect(after).toBe(before);
      expect(after).not.toContain("run-after-close");
      expect(sink.failure).toBeUndefined();
    });
  });
}
