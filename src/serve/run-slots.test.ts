/** --max-concurrent-runs: places, the waiting line, a 429 when it is full, and leaving it on abort. */
import { describe, expect, it } from "vitest";
import { ApiError } from "./api-error.ts";
import { RunSlots } from "./run-slots.ts";

describe("RunSlots", () => {
  it("runs N at once, lines up the rest in order, refuses past the line, and lets an aborted waiter go", async () => {
    const slots = new RunSlots(1, 2);
    const open = new AbortController().signal;
    const first = slots.enter(open);
    await first.ready;
    const leaving = new AbortController();
    const second = slots.enter(leaving.signal);
    const third = slots.enter(open);
    expect(slots.waiting).toBe(2);
    let refused: unknown;
    try {
      slots.enter(open);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 429, code: "server_busy", headers: { "retry-after": "2" } });
    leaving.abort();
    await expect(second.ready).rejects.toBeDefined();
    expect(slots.waiting).toBe(1);
    first.release();
    await third.ready;
    expect(slots.inFlight).toBe(1);
    third.release();
    third.release();
    expect(slots.inFlight).toBe(0);
    expect(await slots.run(open, async () => "done")).toBe("done");
  });
});
