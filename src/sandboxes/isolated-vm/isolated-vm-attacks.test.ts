/**
 * Attacks on the isolated-vm sandbox's boundary by hostile guest code (code a model wrote, perhaps following
 * instructions hidden in the data it read). Every test runs a real isolate. A regression must fail, never hang:
 * each host-side call that could hang is raced against a long guard (no speed is asserted; the guard only turns
 * "never returns" into a failure).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { SandboxOptions, SandboxSession } from "../../spec/sandbox.ts";
import { createIsolatedVmSandbox } from "./isolated-vm-sandbox.ts";

/** Long enough that only a hang reaches it. */
const GUARD_MS = 20_000;
const TEST_TIMEOUT_MS = 90_000;
/** The repository root: no guest-visible text may name it. */
const HOST_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** `work`, or a failure naming `what` if it has not settled after `ms`. */
async function within<T>(work: Promise<T>, what: string, ms = GUARD_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not return within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Text that reveals where the host's files are. */
function expectNoHostPaths(text: string): void {
  expect(text).not.toContain(HOST_ROOT);
  expect(text).not.toContain("node_modules");
  expect(text).not.toContain("file://");
  expect(text).not.toContain("node:internal");
}

describe("isolated-vm: attacks on the boundary", () => {
  const sessions: SandboxSession[] = [];
  afterEach(() => {
    for (const session of sessions.splice(0)) session.dispose();
  });
  const open = async (options: SandboxOptions = {}) => {
    const session = await within(createIsolatedVmSandbox().create(options), "create");
    sessions.push(session);
    return session;
  };
  const run = (session: SandboxSession, code: string) => within(session.execute(code), `the cell ${code}`);

  describe("host memory and time spent for the guest are bounded (found by the attack review)", () => {
    it(
      "refuses arguments over the per-call size and over what calls in flight may hold",
      async () => {
        const session = await open({
          hostFunctions: {
            hold: async (text) => {
              await sleep(300);
              return String(text).length;
            },
          },
        });
        const result = await run(
          session,
          [
            "const big = 'x'.repeat(32 * 1024 * 1024)",
            "const settled = await Promise.allSettled(Array.from({ length: 16 }, () => (async () => await hold(big))()))",
            "const refused = settled.filter((s) => s.status === 'rejected' && /in flight/.test(s.reason.message)).length",
            "let tooBig = ''",
            "try { hold('y'.repeat(70 * 1024 * 1024)) } catch (error) { tooBig = error.name }",
            "print(settled.length - refused, refused > 0, tooBig)",
          ].join("\n"),
        );
        expect(result.error).toBeUndefined();
        expect(result.output).toBe("8 true RangeError\n");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "charges time host functions spend for a cell to the cell's CPU limit",
      async () => {
        const session = await open({
          limits: { cellTimeoutMs: 1_000, cellWallTimeoutMs: 60_000 },
          hostFunctions: {
            busy: () => {
              const until = performance.now() + 200;
              while (performance.now() < until) {
                // host work done for the guest, on the host's thread
              }
              return 1;
            },
          },
        });
        const result = await run(session, "let n = 0\nwhile (true) n += busy()");
        // Stopped by the CPU limit (or refused further host work), long before the 60 s wall limit.
        expect(
          result.limit === "time" || /CPU time in host functions/.test(result.error?.message ?? ""),
        ).toBe(true);
        expect(result.durationMs).toBeLessThan(30_000);
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe("no guest code runs outside a time budget", () => {
    it(
      "does not resume a cell's async work when a host call resolves after the cell ended",
      async () => {
        let calls = 0;
        const session = await open({
          limits: { cellTimeoutMs: 500 },
          hostFunctions: {
            llm_query: async () => {
              calls++;
              await sleep(1_000);
              return "late";
            },
          },
        });
        await run(
          session,
          "const kept = 1;\n(async () => { await llm_query('x'); for (;;) {} })();\nprint('started')",
        );
        await sleep(1_500);
        expect(calls).toBe(1);
        const next = await run(session, "print('next', kept)");
        expect(next.output).toBe("next 1\n");
        expect(next.stateLost).toBe(false);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "drops a host call's result once the cell that made it has ended",
      async () => {
        const session = await open({
          limits: { cellTimeoutMs: 500 },
          hostFunctions: {
            later: async () => {
              await sleep(1_000);
              return "value";
            },
          },
        });
        // Not the last expression: a last expression's promise would be awaited as the cell's value.
        await run(session, "(async () => { globalThis.got = await later() })();\nprint('started')");
        await sleep(1_500);
        expect((await run(session, "print(typeof got)")).output).toBe("undefined\n");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "drops a host call's error once the cell that made it has ended",
      async () => {
        const session = await open({
          limits: { cellTimeoutMs: 500 },
          hostFunctions: {
            laterFail: async () => {
              await sleep(1_000);
              throw new Error("late failure");
            },
          },
        });
        await run(
          session,
          "(async () => { try { await laterFail() } catch { for (;;) {} } })();\nprint('started')",
        );
        await sleep(1_500);
        const next = await run(session, "print('next')");
        expect(next.output).toBe("next\n");
        expect(next.stateLost).toBe(false);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "stops work that a host call resumes just as its cell ends, and the next cell says the state was lost",
      async () => {
        const session = await open({
          limits: { cellTimeoutMs: 500 },
          globals: { context: "the input" },
          hostFunctions: { tick: async () => "tock" },
        });
        // The host answers at once, while the cell is still busy: the answer is queued in the isolate and runs
        // right after the cell's own task ends.
        const first = await run(
          session,
          "(async () => { await tick(); for (;;) {} })();\nconst end = Date.now() + 200\nwhile (Date.now() < end) {}\nprint('first')",
        );
        expect(first.output).toBe("first\n");
        const second = await run(session, "print('second')");
        expect(second.stateLost).toBe(true);
        expect(second.error?.message).toMatch(/restarted/);
        expect((await run(session, "print('third', context)")).output).toBe("third the input\n");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "stops a FinalizationRegistry callback that keeps the isolate busy between cells",
      async () => {
        const session = await open({ limits: { cellTimeoutMs: 500 }, globals: { context: "the input" } });
        // The registered objects die young; the garbage the loop makes forces collections, after which V8 runs
        // the callbacks as tasks of their own, outside any cell.
        await run(
          session,
          [
            "const registry = new FinalizationRegistry(() => { for (;;) {} })",
            "for (let i = 0; i < 2000; i++) registry.register({ held: new Array(1000).fill(i) }, i)",
            "for (let i = 0; i < 200; i++) new Array(100000).fill(i)",
          ].join("\n"),
        );
        // When V8 runs the callbacks depends on its collector and on the machine's load: keep running cells that
        // make more garbage (so collections keep coming) until one finds the sandbox stopped (between cells, or
        // during that cell), never hanging. A cell that only printed could wait for a collection that never came.
        let stopped: Awaited<ReturnType<typeof run>> | undefined;
        for (let attempt = 0; attempt < 40 && stopped === undefined; attempt++) {
          await sleep(250);
          const next = await run(
            session,
            "for (let i = 0; i < 100; i++) new Array(100000).fill(i)\nprint('next')",
          );
          if (next.stateLost) stopped = next;
        }
        expect(stopped?.error?.message).toMatch(/restarted|limit/);
        expect((await run(session, "print('after', context)")).output).toBe("after the input\n");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "refuses host calls from guest code that a host-side read runs (a getter), outside any cell",
      async () => {
        let calls = 0;
        const session = await open({
          hostFunctions: {
            llm_query: () => {
              calls++;
              return "answer";
            },
          },
        });
        await run(
          session,
          [
            "const sneaky = { get blocking() { return llm_query('from a getter') } }",
            "const sneakyLater = { toJSON() { (async () => { await llm_query('later'); for (;;) {} })(); return 1 } }",
          ].join("\n"),
        );
        await expect(within(session.getVariable("sneaky"), "getVariable(sneaky)")).rejects.toThrow(
          /only be called while a cell runs/,
        );
        expect(await within(session.getVariable("sneakyLater"), "getVariable(sneakyLater)")).toEqual({
          value: 1,
        });
        await sleep(300);
        expect(calls).toBe(0);
        expect((await run(session, "print('alive')")).output).toBe("alive\n");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "restarts the sandbox when a host-side read goes over the memory limit, and the next cell says so",
      async () => {
        const session = await open({ limits: { memoryLimitMb: 128 }, globals: { context: "the input" } });
        await run(
          session,
          "const hog = { toJSON() { const held = []; for (;;) held.push('x'.repeat(1e6) + held.length) } }",
        );
        // Over the memory limit the sandbox restarts; on a loaded machine the read's time limit may come first.
        // Either way the read fails clearly and the session goes on.
        await expect(within(session.getVariable("hog"), "getVariable(hog)")).rejects.toThrow(
          /restarted|timed out|time limit|took longer|took too long/,
        );
        const next = await run(session, "print('next')");
        if (next.stateLost) expect(next.error?.message).toMatch(/restarted/);
        expect((await run(session, "print('after', context)")).output).toBe("after the input\n");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "runs a stuck cell's work, when a later cell releases it, under the later cell's limit",
      async () => {
        const session = await open({ limits: { cellTimeoutMs: 500 } });
        const stuck = await run(
          session,
          "globalThis.go = null\nawait new Promise((resolve) => { go = resolve })\nfor (;;) {}",
        );
        expect(stuck.limit).toBe("stuck");
        const released = await run(session, "go()\nprint('released')");
        expect(released.limit).toBe("time");
        expect((await run(session, "print('after')")).output).toBe("after\n");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "does not count time spent waiting for host calls against the cell's CPU limit",
      async () => {
        const wait = async () => {
          await sleep(3_000);
          return "waited";
        };
        const session = await open({ limits: { cellTimeoutMs: 1_000 }, hostFunctions: { wait } });
        const blocking = await run(session, "print(wait())");
        expect(blocking.error).toBeUndefined();
        expect(blocking.output).toBe("waited\n");
        const awaited = await run(session, "print(await wait())");
        expect(awaited.error).toBeUndefined();
        expect(awaited.output).toBe("waited\n");
        const parallel = await run(
          session,
          "const both = await Promise.all([1, 2].map(async () => await wait()))\nprint(both.join())",
        );
        expect(parallel.error).toBeUndefined();
        expect(parallel.output).toBe("waited,waited\n");
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe("the prelude's internals are out of the guest's reach", () => {
    it(
      "ignores a guest that replaces the internals behind print, reads and cells",
      async () => {
        const session = await open({ limits: { outputLimitChars: 1_000 } });
        await run(
          session,
          [
            "const spin = () => { for (;;) {} }",
            "const huge = () => ({ output: 'x'.repeat(5e7), cut: -5 })",
            "try { Object.assign(__rlm, { read: spin, describe: spin, partial: huge, run: huge }) } catch {}",
            "try { globalThis.__rlm = { read: spin, describe: spin, partial: huge, run: huge } } catch {}",
            "const kept = 'safe'",
          ].join("\n"),
        );
        expect(await within(session.getVariable("kept"), "getVariable")).toEqual({ value: "safe" });
        const names = (await within(session.listVariables(), "listVariables")).map((v) => v.name);
        expect(names).toContain("kept");
        const next = await run(session, "print('ok')");
        expect(next.output).toBe("ok\n");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "keeps print, console, FINAL, FINAL_VAR and SHOW_VARS working when the guest overwrites them",
      async () => {
        const session = await open();
        await run(
          session,
          [
            "const noop = () => {}",
            "for (const name of ['print', 'FINAL', 'FINAL_VAR', 'SHOW_VARS']) {",
            "  try { globalThis[name] = noop } catch {}",
            "  try { Object.defineProperty(globalThis, name, { value: noop }) } catch {}",
            "  try { delete globalThis[name] } catch {}",
            "}",
            "try { console.log = noop } catch {}",
            "try { globalThis.console = { log: noop } } catch {}",
          ].join("\n"),
        );
        const printed = await run(session, "const answer_value = { total: 3 }\nprint('a')\nconsole.log('b')");
        expect(printed.output).toBe("a\nb\n");
        expect((await run(session, "FINAL('done')")).final).toEqual({ value: "done" });
        expect((await run(session, "FINAL_VAR('answer_value')")).final).toEqual({ value: { total: 3 } });
        expect((await run(session, "SHOW_VARS()")).output).toContain("answer_value");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "cuts output on the host even when the guest breaks the prelude's own cutting",
      async () => {
        const session = await open({ limits: { outputLimitChars: 1_000 } });
        const result = await run(
          session,
          "String.prototype.slice = function () { return String(this) }\nfor (let i = 0; i < 50; i++) print('y'.repeat(1e6))",
        );
        expect(result.output.length).toBeLessThan(1_200);
        expect(result.truncatedChars).toBeGreaterThan(40_000_000);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "reports print, FINAL, SHOW_VARS, getVariable and listVariables correctly over monkeypatched built-ins",
      async () => {
        const session = await open();
        await run(session, "const obj = { a: [1, 2] }");
        await run(
          session,
          [
            "JSON.stringify = () => '\"hacked\"'",
            "JSON.parse = () => 'hacked'",
            "Object.keys = () => []",
            "Object.getOwnPropertyNames = () => []",
            "Object.prototype.hasOwnProperty = () => false",
            "Array.isArray = () => false",
            "Array.prototype.map = function () { return ['hacked'] }",
            "Array.prototype.join = function () { return 'hacked' }",
            "Array.prototype.filter = function () { return [] }",
            "String.prototype.slice = function () { return 'hacked' }",
            "Set.prototype.has = () => true",
            "WeakSet.prototype.has = () => true",
          ].join("\n"),
        );
        const printed = await run(session, "print(obj, 'b')");
        expect(printed.output).toBe('{"a":[1,2]} b\n');
        expect((await run(session, "FINAL(obj)")).final).toEqual({ value: { a: [1, 2] } });
        expect((await run(session, "SHOW_VARS()")).output).toContain("obj: object (1)");
        expect(await within(session.getVariable("obj"), "getVariable")).toEqual({ value: { a: [1, 2] } });
        const names = (await within(session.listVariables(), "listVariables")).map((v) => v.name);
        expect(names).toContain("obj");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "keeps host calls working when the guest pollutes Object.prototype with transfer options",
      async () => {
        const session = await open({
          hostFunctions: { structured: () => ({ a: 1 }), later: async () => ({ a: 2 }) },
        });
        const result = await run(
          session,
          [
            "let leaked = 'nothing'",
            "Object.prototype.result = { reference: true }",
            "Object.prototype.reference = true",
            "Object.prototype.arguments = { reference: true }",
            "Object.defineProperty(Object.prototype, 'ok', { get() { leaked = typeof this.applySync; return undefined }, configurable: true })",
            "const a = structured({ x: 1 })",
            "const b = await later()",
            "print(a.a, b.a, leaked)",
          ].join("\n"),
        );
        expect(result.error).toBeUndefined();
        expect(result.output).toBe("1 2 nothing\n");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "bounds reads of a variable whose serialisation never ends",
      async () => {
        const session = await open({ limits: { cellTimeoutMs: 1_000 } });
        await run(
          session,
          [
            "const evil = { toJSON() { for (;;) {} } }",
            "Object.defineProperty(globalThis, 'trap', { get() { for (;;) {} }, enumerable: true, configurable: true })",
            "const fine = 'still readable'",
          ].join("\n"),
        );
        await expect(within(session.getVariable("evil"), "getVariable(evil)")).rejects.toThrow(/evil/);
        await expect(within(session.getVariable("trap"), "getVariable(trap)")).rejects.toThrow(/trap/);
        const fine = await within(session.getVariable("fine"), "getVariable(fine)");
        expect(fine === undefined || (fine as { value: unknown }).value === "still readable").toBe(true);
        expect((await run(session, "print('alive')")).output).toBe("alive\n");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "bounds listing variables when a value's keys never end",
      async () => {
        const session = await open({ limits: { cellTimeoutMs: 1_000 } });
        await run(session, "const trapped = new Proxy({}, { ownKeys() { for (;;) {} } })");
        const listed = await within(
          session.listVariables().then(
            (variables) => ({ variables }),
            (error: unknown) => ({ error }),
          ),
          "listVariables",
        );
        if ("variables" in listed) expect(listed.variables.map((v) => v.name)).toContain("trapped");
        else expect(String(listed.error)).toMatch(/variables/);
        expect((await run(session, "print('alive')")).output).toBe("alive\n");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "bounds the size of values read back (getVariable, FINAL) and of error messages",
      async () => {
        const session = await open();
        await run(session, "const big = 'x'.repeat(12e6)");
        await expect(within(session.getVariable("big"), "getVariable(big)")).rejects.toThrow(/too large/);
        const final = await run(session, "FINAL(big)");
        expect(final.final).toBeUndefined();
        expect(final.error?.message).toMatch(/too large/);
        const thrown = await run(session, "throw new Error('e'.repeat(5e7))");
        expect(thrown.error?.message.length).toBeLessThan(50_000);
        const thrownValue = await run(session, "throw 'v'.repeat(5e7)");
        expect(thrownValue.error?.message.length).toBeLessThan(50_000);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "sets a variable even when the guest put a trap on its name",
      async () => {
        const session = await open({ limits: { cellTimeoutMs: 1_000 } });
        await run(
          session,
          "Object.defineProperty(globalThis, 'extra', { get() { return 'trap' }, set() { for (;;) {} }, configurable: true })",
        );
        await within(session.setVariable("extra", "set by the host"), "setVariable");
        expect((await run(session, "print(extra)")).output).toBe("set by the host\n");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "fails to create a session whose setup code never ends, instead of hanging",
      async () => {
        const creating = createIsolatedVmSandbox()
          .create({ limits: { cellTimeoutMs: 1_000 }, setupCode: ["for (;;) {}"] })
          .then(
            (session) => {
              sessions.push(session);
              return "created";
            },
            (error: unknown) => String(error),
          );
        expect(await within(creating, "create")).toMatch(/setup/i);
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe("host paths stay out of what the guest and the model see", () => {
    it(
      "shows host and isolated-vm errors without host file paths",
      async () => {
        const session = await open({
          hostFunctions: {
            fail: () => {
              throw new Error("host says no");
            },
            afail: async () => {
              await sleep(1);
              throw new TypeError("async host says no");
            },
            pathy: () => {
              throw new Error(`cannot open ${HOST_ROOT}src/secret.ts`);
            },
            llm_query: (value) => value,
          },
        });
        const result = await run(
          session,
          [
            "const probes = [",
            "  () => fail(),",
            "  async () => await fail(),",
            "  () => afail(),",
            "  async () => await afail(),",
            "  () => pathy(),",
            "  () => llm_query(() => 1),",
            "  async () => await llm_query(() => 1),",
            "]",
            "const seen = []",
            "for (const probe of probes) {",
            "  try { await probe(); seen.push('no error') } catch (e) { seen.push(e.name + ': ' + e.message + '\\n' + e.stack) }",
            "}",
            "print(seen.join('\\n---\\n'))",
          ].join("\n"),
        );
        expect(result.error).toBeUndefined();
        expectNoHostPaths(result.output);
        const seen = result.output.split("\n---\n");
        expect(seen).toHaveLength(7);
        expect(seen[0]).toMatch(/^Error: host says no/);
        expect(seen[1]).toMatch(/^Error: host says no/);
        expect(seen[2]).toMatch(/^TypeError: async host says no/);
        expect(seen[3]).toMatch(/^TypeError: async host says no/);
        expect(seen[4]).toMatch(/^Error: cannot open /);
        expect(seen[5]).toMatch(/could not be cloned/);
        expect(seen[6]).toMatch(/could not be cloned/);
        for (const code of ["fail()", "await afail()", "pathy()", "llm_query(() => 1)"]) {
          const uncaught = await run(session, code);
          expect(uncaught.error).toBeDefined();
          expectNoHostPaths(`${uncaught.error?.name}: ${uncaught.error?.message}\n${uncaught.output}`);
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "keeps host errors catchable by their type in the guest",
      async () => {
        const session = await open({
          hostFunctions: {
            bad: () => {
              throw new RangeError("out of range");
            },
          },
        });
        const result = await run(
          session,
          "try { bad() } catch (e) { print(e instanceof RangeError, e.name, e.message) }\ntry { await bad() } catch (e) { print(e instanceof RangeError, e.name, e.message) }",
        );
        expect(result.output).toBe("true RangeError out of range\ntrue RangeError out of range\n");
      },
      TEST_TIMEOUT_MS,
    );
  });
});
