import { afterEach, describe, expect, it } from "vitest";
import { describeSandboxConformance, JAVASCRIPT } from "../../../test/sandbox-conformance.ts";
import type { SandboxSession } from "../../spec/sandbox.ts";
import { createIsolatedVmSandbox } from "./isolated-vm-sandbox.ts";

describeSandboxConformance("isolated-vm", () => createIsolatedVmSandbox(), JAVASCRIPT);

describe("isolated-vm: JavaScript-specific behaviour", () => {
  const sessions: SandboxSession[] = [];
  afterEach(() => {
    for (const session of sessions.splice(0)) session.dispose();
  });

  it("stops a busy loop that starts after an await on a host call, and restarts with the inputs", async () => {
    const session = await createIsolatedVmSandbox().create({
      limits: { cellTimeoutMs: 300 },
      globals: { context: "the input" },
      hostFunctions: { tick: async () => "tock" },
    });
    sessions.push(session);
    await session.execute("const lost = 1");
    const result = await session.execute("await tick()\nwhile (true) {}");
    expect(result.limit).toBe("time");
    expect(result.error?.message).toMatch(result.stateLost ? /restarted/ : /intact/);
    const after = await session.execute("print(context, typeof lost, tick())");
    expect(after.output).toBe(result.stateLost ? "the input undefined tock\n" : "the input number tock\n");
  });

  it("abandons a cell that waits on a promise nothing will settle, keeping the variables", async () => {
    const session = await createIsolatedVmSandbox().create();
    sessions.push(session);
    await session.execute("const before = 5");
    const result = await session.execute("await new Promise(() => {})");
    expect(result.limit).toBe("stuck");
    expect(result.stateLost).toBe(false);
    expect((await session.execute("before")).output).toBe("5\n");
  });

  it("hands copies across: the guest cannot change the host's objects", async () => {
    const shared = { list: [1, 2, 3] };
    const session = await createIsolatedVmSandbox().create({
      globals: { shared },
      hostFunctions: { take: (value) => value },
    });
    sessions.push(session);
    await session.execute("shared.list.push(4)\nconst back = take(shared)\nback.list.push(5)");
    expect(shared.list).toEqual([1, 2, 3]);
  });

  it("keeps host prototypes clean when the guest pollutes its own", async () => {
    const session = await createIsolatedVmSandbox().create();
    sessions.push(session);
    await session.execute("Object.prototype.polluted = 'yes'\nString.prototype.trim = () => 'hacked'");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(" a ".trim()).toBe("a");
  });
});
