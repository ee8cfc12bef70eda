import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { timeoutSignal } from "./timeout-signal.ts";

describe("timeoutSignal", () => {
  it("aborts with a TimeoutError once its time is up, as AbortSignal.timeout does", async () => {
    const deadline = timeoutSignal(5);
    await new Promise((resolve) => deadline.signal.addEventListener("abort", resolve));
    expect(deadline.signal.reason).toBeInstanceOf(DOMException);
    expect((deadline.signal.reason as DOMException).name).toBe("TimeoutError");
  });

  it("never aborts once cleared", async () => {
    const deadline = timeoutSignal(5);
    deadline.clear();
    deadline.clear();
    await sleep(30);
    expect(deadline.signal.aborted).toBe(false);
  });
});
