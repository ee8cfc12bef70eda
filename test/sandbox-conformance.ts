import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import type { Sandbox, SandboxOptions, SandboxSession } from "../src/spec/sandbox.ts";

/**
 * One suite for every sandbox implementation: REPL semantics, host functions, limits, isolation (escape
 * attempts) and large inputs. Call it from each sandbox's test file.
 */
export function describeSandboxConformance(label: string, makeSandbox: () => Sandbox): void {
  describe(`sandbox conformance: ${label}`, () => {
    const sessions: SandboxSession[] = [];
    afterEach(() => {
      for (const session of sessions.splice(0)) session.dispose();
    });
    const open = async (options: SandboxOptions = {}) => {
      const session = await makeSandbox().create(options);
      sessions.push(session);
      return session;
    };

    describe("REPL semantics", () => {
      it("keeps top-level declarations across cells and allows declaring them again", async () => {
        const session = await open();
        expect(
          (
            await session.execute(
              "const a = 2\nlet b = 3\nfunction twice(x) { return 2 * x }\nclass Box { constructor(v) { this.v = v } }",
            )
          ).error,
        ).toBeUndefined();
        expect((await session.execute("print(twice(a) + b, new Box(7).v)")).output).toBe("7 7\n");
        expect((await session.execute("const a = 10\nprint(a)")).output).toBe("10\n");
        expect((await session.execute("const { x, y: [z] } = { x: 1, y: [2] }\nprint(x + z)")).output).toBe(
          "3\n",
        );
      });

      it("supports top-level await and shows the last expression's value", async () => {
        const session = await open();
        const result = await session.execute("const v = await Promise.resolve(41)\nv + 1");
        expect(result.output).toBe("42\n");
        expect((await session.execute("({ a: [1, 2], b: 'x' })")).output).toBe('{"a":[1,2],"b":"x"}\n');
      });

      it("captures print and console.log", async () => {
        const session = await open();
        const result = await session.execute("print('a', 1, [2])\nconsole.log('b')\nconsole.error('c')");
        expect(result.output).toBe("a 1 [2]\nb\nc\n");
        expect(result.truncatedChars).toBe(0);
      });

      it("returns a guest exception as a result with its line", async () => {
        const session = await open();
        const result = await session.execute("const ok = 1\n\nthrow new RangeError('bad value')");
        expect(result.error).toMatchObject({ name: "RangeError", message: "bad value", line: 3 });
        expect((await session.execute("ok")).output).toBe("1\n");
      });

      it("reports a syntax error with its line", async () => {
        const session = await open();
        const result = await session.execute("const a = 1\nconst = 2");
        expect(result.error?.name).toBe("SyntaxError");
        expect(result.error?.line).toBe(2);
      });

      it("truncates long output keeping head and tail, and says how much was cut", async () => {
        const session = await open({ limits: { outputLimitChars: 100 } });
        const result = await session.execute("for (let i = 0; i < 1000; i++) print('line ' + i)");
        expect(result.output.startsWith("line 0\n")).toBe(true);
        expect(result.output.endsWith("line 999\n")).toBe(true);
        expect(result.truncatedChars).toBeGreaterThan(5000);
        expect(result.output).toContain(`[${result.truncatedChars} characters cut]`);
        expect(result.output.length).toBeLessThan(200);
      });

      it("reports FINAL and FINAL_VAR, and tells the model about a missing variable", async () => {
        const session = await open();
        expect((await session.execute("FINAL('the answer')")).final).toEqual({ value: "the answer" });
        await session.execute("const result = { total: 3 }");
        expect((await session.execute("FINAL_VAR('result')")).final).toEqual({ value: { total: 3 } });
        const missing = await session.execute("FINAL_VAR('nope')");
        expect(missing.final).toBeUndefined();
        expect(missing.error?.message).toContain('no variable named "nope"');
        expect((await session.execute("print(1)")).final).toBeUndefined();
      });

      it("lists, reads and sets variables", async () => {
        const session = await open({ globals: { context: "abc" } });
        await session.execute("const items = [1, 2, 3]\nlet label = 'x'\nfunction helper() {}");
        const names = (await session.listVariables()).map((variable) => variable.name);
        expect(names).toEqual(expect.arrayContaining(["context", "items", "label", "helper"]));
        expect(names).not.toContain("print");
        expect(await session.getVariable("items")).toEqual({ value: [1, 2, 3] });
        expect(await session.getVariable("missing")).toBeUndefined();
        await session.setVariable("extra", { n: 5 });
        expect((await session.execute("extra.n + context.length")).output).toBe("8\n");
        expect((await session.execute("SHOW_VARS()")).output).toContain("items: array (3)");
      });

      it("takes context as a string, a document list or JSON", async () => {
        const session = await open({
          globals: {
            text: "hello",
            docs: [{ id: "a", text: "one" }, "two"],
            data: { rows: [{ k: 1 }] },
          },
        });
        expect(
          (await session.execute("[text.length, docs[0].id, docs[1], data.rows[0].k].join()")).output,
        ).toBe("5,a,two,1\n");
      });
    });

    describe("host functions", () => {
      it("give a value with or without await, and an error the guest can catch", async () => {
        const session = await open({
          hostFunctions: {
            llm_query: async (prompt) => {
              await sleep(5);
              return `echo:${String(prompt)}`;
            },
            fail: async () => {
              throw new Error("host says no");
            },
            structured: () => ({ list: [1, 2], nested: { ok: true } }),
          },
        });
        const result = await session.execute(
          "const a = llm_query('x')\nconst b = await llm_query('y')\nprint(typeof a, a, b)\ntry { fail() } catch (e) { print('caught', e.message) }\nprint(structured().nested.ok)",
        );
        expect(result.error).toBeUndefined();
        expect(result.output).toBe("string echo:x echo:y\ncaught host says no\ntrue\n");
      });

      it("run awaited calls concurrently", async () => {
        let active = 0;
        let peak = 0;
        const session = await open({
          hostFunctions: {
            slow: async (value) => {
              active++;
              peak = Math.max(peak, active);
              await sleep(50);
              active--;
              return value;
            },
          },
        });
        const result = await session.execute(
          "const out = await Promise.all([1, 2, 3, 4, 5, 6].map(async (n) => await slow(n)))\nout.join()",
        );
        expect(result.output).toBe("1,2,3,4,5,6\n");
        expect(peak).toBe(6);
      });

      it("see copies: the guest cannot change the host's objects", async () => {
        const shared = { list: [1, 2, 3] };
        const session = await open({ globals: { shared }, hostFunctions: { take: (value) => value } });
        await session.execute("shared.list.push(4)\nconst back = take(shared)\nback.list.push(5)");
        expect(shared.list).toEqual([1, 2, 3]);
      });
    });

    describe("limits", () => {
      it("stops a busy loop, keeps the host alive and the variables", async () => {
        const session = await open({ limits: { cellTimeoutMs: 300 } });
        await session.execute("const kept = 'still here'");
        const result = await session.execute("while (true) {}");
        expect(result.limit).toBe("time");
        expect(result.error?.message).toMatch(/limit/);
        expect(result.stateLost).toBe(false);
        expect((await session.execute("kept")).output).toBe("still here\n");
      });

      it("stops a busy loop that starts after an await on a host call", async () => {
        const session = await open({
          limits: { cellTimeoutMs: 300 },
          globals: { context: "the input" },
          hostFunctions: { tick: async () => "tock" },
        });
        await session.execute("const lost = 1");
        const result = await session.execute("await tick()\nwhile (true) {}");
        expect(result.limit).toBe("time");
        expect(result.error?.message).toMatch(result.stateLost ? /restarted/ : /intact/);
        const after = await session.execute("print(context, typeof lost, tick())");
        expect(after.output).toBe(
          result.stateLost ? "the input undefined tock\n" : "the input number tock\n",
        );
      });

      it("stops an allocation bomb and the host survives", async () => {
        const session = await open({ limits: { memoryLimitMb: 64 }, globals: { context: "kept input" } });
        const result = await session.execute(
          "const hog = []\nwhile (true) hog.push('x'.repeat(1e5) + Math.random())",
        );
        expect(result.limit).toBe("memory");
        expect(result.stateLost).toBe(true);
        expect(result.error?.message).toMatch(/memory/i);
        expect((await session.execute("context")).output).toBe("kept input\n");
      });

      it("abandons a cell that waits on a promise nothing will settle", async () => {
        const session = await open();
        await session.execute("const before = 5");
        const result = await session.execute("await new Promise(() => {})");
        expect(result.limit).toBe("stuck");
        expect(result.stateLost).toBe(false);
        expect((await session.execute("before")).output).toBe("5\n");
      });

      it("cancels a running cell through its AbortSignal", async () => {
        const session = await open({ limits: { cellTimeoutMs: 20_000 } });
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 100);
        const result = await session.execute("while (true) {}", { signal: controller.signal });
        expect(result.limit).toBe("cancelled");
        expect((await session.execute("1 + 1")).output).toBe("2\n");
      });
    });

    describe("isolation: escape attempts", () => {
      const probe = async (code: string, options: SandboxOptions = {}) => {
        const session = await open(options);
        return session.execute(code);
      };

      it("has no Node globals, timers or network", async () => {
        const result = await probe(
          "['require', 'process', 'module', 'Buffer', 'fetch', 'XMLHttpRequest', 'WebSocket', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', '__dirname', 'global', 'Deno', 'Bun'].map((name) => name + ':' + typeof globalThis[name]).join(' ')",
        );
        for (const name of [
          "require",
          "process",
          "module",
          "Buffer",
          "fetch",
          "XMLHttpRequest",
          "WebSocket",
        ]) {
          expect(result.output).toContain(`${name}:undefined`);
        }
        for (const name of ["setTimeout", "setInterval", "setImmediate", "__dirname", "global"]) {
          expect(result.output).toContain(`${name}:undefined`);
        }
      });

      it("cannot import host modules", async () => {
        for (const specifier of ["fs", "node:fs", "node:child_process", "node:net", "./package.json"]) {
          const result = await probe(
            `const m = await import(${JSON.stringify(specifier)})\nprint(Object.keys(m))`,
          );
          expect(result.error, specifier).toBeDefined();
        }
      });

      it("cannot reach the host's Function through host functions, values or errors", async () => {
        const result = await probe(
          [
            "const escapes = [",
            "  () => llm_query.constructor('return typeof process')(),",
            "  () => print.constructor.constructor('return typeof process')(),",
            "  () => context.constructor.constructor('return typeof process')(),",
            "  () => docs.constructor.constructor('return typeof process')(),",
            "  () => Object.getPrototypeOf(docs[0]).constructor.constructor('return typeof process')(),",
            "  () => { try { fail() } catch (e) { return e.constructor.constructor('return typeof process')() } },",
            "  () => { try { fail() } catch (e) { return Object.getPrototypeOf(e).constructor.constructor('return typeof require')() } },",
            "  () => llm_query('x').constructor.constructor('return typeof process')(),",
            "  () => structured().constructor.constructor('return typeof process')(),",
            "  () => (function () { return this })().process === undefined ? 'undefined' : 'leak',",
            "]",
            "escapes.map((attempt) => { try { return attempt() } catch (e) { return 'threw' } }).join()",
          ].join("\n"),
          {
            globals: { context: "text", docs: [{ id: "a", text: "b" }] },
            hostFunctions: {
              llm_query: () => "reply",
              fail: () => {
                throw new Error("nope");
              },
              structured: () => ({ a: 1 }),
            },
          },
        );
        expect(result.error).toBeUndefined();
        for (const outcome of result.output.trim().split(","))
          expect(["undefined", "threw"]).toContain(outcome);
      });

      it("cannot read the host's secrets or files", async () => {
        process.env.RLMKIT_CONFORMANCE_SECRET = "s3cr3t-value-0123456789";
        try {
          const result = await probe(
            [
              "const found = []",
              "for (const name of Object.getOwnPropertyNames(globalThis)) {",
              "  try { if (JSON.stringify(globalThis[name] ?? '').includes('s3cr3t')) found.push(name) } catch {}",
              "}",
              "print(found.length, typeof readFile, typeof open)",
            ].join("\n"),
          );
          expect(result.output).toBe("0 undefined undefined\n");
        } finally {
          delete process.env.RLMKIT_CONFORMANCE_SECRET;
        }
      });

      it("cannot pollute the host's prototypes", async () => {
        const result = await probe(
          "Object.prototype.polluted = 'yes'\nArray.prototype.push = () => 0\nString.prototype.trim = () => 'hacked'\nJSON.parse = () => 'hacked'\n'done'",
        );
        expect(result.output).toBe("done\n");
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(" a ".trim()).toBe("a");
        expect(JSON.parse("1")).toBe(1);
      });

      it("keeps eval and Function inside the sandbox", async () => {
        const result = await probe(
          "print(eval('typeof process'), Function('return typeof require')(), (0, eval)('typeof fetch'), typeof Atomics.wait)",
        );
        expect(result.output).toBe("undefined undefined undefined undefined\n");
      });

      it("cannot take memory outside the heap limit through ArrayBuffers or WebAssembly", async () => {
        const session = await open({ limits: { memoryLimitMb: 64 } });
        const buffers = await session.execute(
          "const held = []\nfor (let i = 0; i < 100; i++) held.push(new Uint8Array(50 * 1024 * 1024))\nheld.length",
        );
        expect(buffers.output).not.toBe("100\n");
        expect(buffers.error ?? buffers.limit).toBeDefined();
        expect((await session.execute("typeof WebAssembly")).output).toBe("undefined\n");
        expect((await session.execute("'alive'")).output).toBe("alive\n");
      });

      it("hands host functions only copies: functions and proxies cannot cross", async () => {
        const seen: unknown[] = [];
        const session = await open({ hostFunctions: { take: (value) => seen.push(value) } });
        const result = await session.execute(
          [
            "const attempts = [",
            "  () => take({ toString() { return 'x' } }),",
            "  () => take(new Proxy({}, { get() { throw new Error('trap') } })),",
            "  () => take(() => 1),",
            "]",
            "attempts.map((attempt) => { try { attempt(); return 'crossed' } catch (e) { return e.name } }).join()",
          ].join("\n"),
        );
        expect(result.output).not.toContain("crossed");
        expect(seen).toEqual([]);
      });

      it("keeps sessions apart", async () => {
        const first = await open();
        const second = await open();
        await first.execute("globalThis.sharedSecret = 42\nconst mine = 1");
        expect((await second.execute("typeof sharedSecret + ' ' + typeof mine")).output).toBe(
          "undefined undefined\n",
        );
      });
    });

    describe("large inputs", () => {
      it("holds a 20 MB context and searches it", async () => {
        const line = "2024-05-01 INFO request served in 12 ms\n";
        const big = `${line.repeat(250_000)}NEEDLE id=7781234\n${line.repeat(250_000)}`;
        const session = await open({ globals: { context: big } });
        const result = await session.execute(
          "const m = context.match(/NEEDLE id=(\\d+)/)\nprint(context.length, m[1], context.indexOf('NEEDLE') > 0)",
        );
        expect(result.output).toBe(`${big.length} 7781234 true\n`);
      });
    });
  });
}
