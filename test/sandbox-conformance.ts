import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import type { Sandbox, SandboxOptions, SandboxSession } from "../src/spec/sandbox.ts";

/** The code of each conformance case, in one sandbox language. */
export interface Dialect {
  /** Declares a = 2, b = 3, a function twice(x) and a class Box(v) with field v. */
  declare: string;
  /** Prints twice(a) + b and Box(7).v on one line, space-separated. */
  useDeclared: string;
  /** Declares a = 10 again and prints it. */
  redeclare: string;
  /** Ends with an expression whose value is 42 (computed from an earlier line). */
  lastExpression: string;
  /** Prints "a 1 [2]" then "b" on two lines. */
  print: string;
  /** Defines ok = 1, then raises an error with message "bad value" on line 3. */
  raiseOnLine3: string;
  /** A syntax error on line 2. */
  syntaxErrorOnLine2: string;
  /** Prints "line 0" ... "line 999", one per line. */
  manyLines: string;
  /** FINAL("the answer"). */
  final: string;
  /** Defines result = {"total": 3}. */
  defineResult: string;
  /** FINAL_VAR for "result", then for a missing "nope". */
  finalVar: string;
  finalVarMissing: string;
  /** Defines items = [1, 2, 3] and label = "x". */
  defineItems: string;
  /** Prints text length, docs[0] id, docs[1], data rows[0] k, comma-joined ("5,a,two,1"). */
  readInputs: string;
  /** Calls llm_query without await/with, and a failing host function `fail` inside try, printing "caught host says no". */
  hostCalls: string;
  /** Calls `slow` on 1..6 concurrently through `batch` (a host function) and prints "1,2,3,4,5,6". */
  concurrentHost: string;
  /** Prints "still here" from the variable kept. */
  keep: string;
  readKept: string;
  busyLoop: string;
  allocationBomb: string;
  /** Prints the context (a string). */
  printContext: string;
  /** Searches the context for NEEDLE id=(digits); prints its length, the id, and whether it was found ("true"). */
  searchContext: string;
  /** Escape attempts; each must fail or find nothing. */
  escapes: Array<{ name: string; code: string; allowedOutputs?: RegExp }>;
}

/**
 * One suite for every sandbox implementation: REPL semantics, host functions, limits, isolation (escape
 * attempts) and large inputs. Call it from each sandbox's test file with the sandbox's dialect.
 */
export function describeSandboxConformance(
  label: string,
  makeSandbox: () => Sandbox,
  dialect: Dialect,
): void {
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
      it("keeps declarations across cells and allows declaring them again", async () => {
        const session = await open();
        expect((await session.execute(dialect.declare)).error).toBeUndefined();
        expect((await session.execute(dialect.useDeclared)).output).toBe("7 7\n");
        expect((await session.execute(dialect.redeclare)).output).toBe("10\n");
      });

      it("shows the last expression's value and captures printing", async () => {
        const session = await open();
        expect((await session.execute(dialect.lastExpression)).output).toBe("42\n");
        const printed = await session.execute(dialect.print);
        expect(printed.output).toBe("a 1 [2]\nb\n");
        expect(printed.truncatedChars).toBe(0);
      });

      it("returns a guest exception as a result with its line", async () => {
        const session = await open();
        const result = await session.execute(dialect.raiseOnLine3);
        expect(result.error?.message).toContain("bad value");
        expect(result.error?.line).toBe(3);
        expect((await session.execute("print(ok)")).output).toBe("1\n");
      });

      it("reports a syntax error with its line", async () => {
        const session = await open();
        const result = await session.execute(dialect.syntaxErrorOnLine2);
        expect(result.error?.name).toBe("SyntaxError");
        expect(result.error?.line).toBe(2);
      });

      it("truncates long output keeping head and tail, and says how much was cut", async () => {
        const session = await open({ limits: { outputLimitChars: 100 } });
        const result = await session.execute(dialect.manyLines);
        expect(result.output.startsWith("line 0\n")).toBe(true);
        expect(result.output.endsWith("line 999\n")).toBe(true);
        expect(result.truncatedChars).toBeGreaterThan(5000);
        expect(result.output).toContain(`[${result.truncatedChars} characters cut]`);
        expect(result.output.length).toBeLessThan(200);
      });

      it("reports FINAL and FINAL_VAR, and tells the model about a missing variable", async () => {
        const session = await open();
        expect((await session.execute(dialect.final)).final).toEqual({ value: "the answer" });
        await session.execute(dialect.defineResult);
        expect((await session.execute(dialect.finalVar)).final).toEqual({ value: { total: 3 } });
        const missing = await session.execute(dialect.finalVarMissing);
        expect(missing.final).toBeUndefined();
        expect(missing.error?.message).toContain('no variable named "nope"');
        expect((await session.execute("print(1)")).final).toBeUndefined();
      });

      it("lists, reads and sets variables", async () => {
        const session = await open({ globals: { context: "abc" } });
        await session.execute(dialect.defineItems);
        const names = (await session.listVariables()).map((variable) => variable.name);
        expect(names).toEqual(expect.arrayContaining(["context", "items", "label"]));
        expect(names).not.toContain("print");
        expect(await session.getVariable("items")).toEqual({ value: [1, 2, 3] });
        expect(await session.getVariable("missing")).toBeUndefined();
        await session.setVariable("extra", "more");
        expect((await session.execute("print(extra + context)")).output).toBe("moreabc\n");
        expect((await session.execute("SHOW_VARS()")).output).toContain("items");
      });

      it("takes context as a string, a document list or JSON", async () => {
        const session = await open({
          globals: { text: "hello", docs: [{ id: "a", text: "one" }, "two"], data: { rows: [{ k: 1 }] } },
        });
        expect((await session.execute(dialect.readInputs)).output).toBe("5,a,two,1\n");
      });
    });

    describe("host functions", () => {
      it("give a value directly, and an error the guest can catch", async () => {
        const session = await open({
          hostFunctions: {
            llm_query: async (prompt) => {
              await sleep(5);
              return `echo:${String(prompt)}`;
            },
            fail: async () => {
              throw new Error("host says no");
            },
          },
        });
        const result = await session.execute(dialect.hostCalls);
        expect(result.error).toBeUndefined();
        expect(result.output).toBe(
          "str echo:x echo:y\ncaught host says no\n".replace("str", dialect === PYTHON ? "str" : "string"),
        );
      });

      it("run host work concurrently when asked to", async () => {
        let active = 0;
        let peak = 0;
        const slow = async (value: unknown) => {
          active++;
          peak = Math.max(peak, active);
          await sleep(50);
          active--;
          return value;
        };
        const session = await open({
          hostFunctions: { slow, batch: (values) => Promise.all((values as unknown[]).map(slow)) },
        });
        expect((await session.execute(dialect.concurrentHost)).output).toBe("1,2,3,4,5,6\n");
        expect(peak).toBe(6);
      });
    });

    describe("limits", () => {
      it("stops a busy loop and the host survives", async () => {
        const session = await open({ limits: { cellTimeoutMs: 500 }, globals: { context: "kept input" } });
        await session.execute(dialect.keep);
        const result = await session.execute(dialect.busyLoop);
        expect(result.limit).toBe("time");
        expect(result.error?.message).toMatch(result.stateLost ? /restarted/ : /intact/);
        expect((await session.execute(dialect.printContext)).output).toBe("kept input\n");
        if (!result.stateLost) expect((await session.execute(dialect.readKept)).output).toBe("still here\n");
      });

      it("stops an allocation bomb and the host survives", async () => {
        const session = await open({ limits: { memoryLimitMb: 256 }, globals: { context: "kept input" } });
        const result = await session.execute(dialect.allocationBomb);
        expect(result.limit).toBe("memory");
        expect(result.stateLost).toBe(true);
        expect(result.error?.message).toMatch(/memory/i);
        expect((await session.execute(dialect.printContext)).output).toBe("kept input\n");
      });

      it("cancels a running cell through its AbortSignal", async () => {
        const session = await open({ limits: { cellTimeoutMs: 20_000 } });
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 200);
        const result = await session.execute(dialect.busyLoop, { signal: controller.signal });
        expect(result.limit).toBe("cancelled");
        expect((await session.execute("print(1 + 1)")).output).toBe("2\n");
      });
    });

    describe("isolation: escape attempts", () => {
      it.each(dialect.escapes.map((attempt) => [attempt.name, attempt] as const))(
        "%s",
        async (_name, attempt) => {
          process.env.RLMKIT_CONFORMANCE_SECRET = "s3cr3t-value-0123456789";
          try {
            const session = await open({
              globals: { context: "text", docs: [{ id: "a", text: "b" }] },
              hostFunctions: {
                llm_query: () => "reply",
                fail: () => {
                  throw new Error("nope");
                },
                structured: () => ({ a: 1 }),
              },
            });
            const result = await session.execute(attempt.code);
            const combined = `${result.output}${result.error?.message ?? ""}`;
            expect(combined).not.toContain("s3cr3t-value");
            expect(combined).not.toContain("root:x:0:0");
            if (attempt.allowedOutputs) expect(result.output).toMatch(attempt.allowedOutputs);
            else expect(result.error, `${attempt.name} should fail: ${result.output}`).toBeDefined();
            expect((await session.execute("print('alive')")).output).toBe("alive\n");
          } finally {
            delete process.env.RLMKIT_CONFORMANCE_SECRET;
          }
        },
      );

      it("keeps sessions apart", async () => {
        const first = await open();
        const second = await open();
        await first.setVariable("mine", "first only");
        await first.execute(dialect.keep);
        expect((await second.getVariable("mine")) ?? "absent").toBe("absent");
        expect((await second.getVariable("kept")) ?? "absent").toBe("absent");
      });
    });

    describe("large inputs", () => {
      it("holds a 20 MB context and searches it", async () => {
        const line = "2024-05-01 INFO request served in 12 ms\n";
        const big = `${line.repeat(250_000)}NEEDLE id=7781234\n${line.repeat(250_000)}`;
        const session = await open({ globals: { context: big } });
        expect((await session.execute(dialect.searchContext)).output).toBe(`${big.length} 7781234 true\n`);
      });
    });
  });
}

export const JAVASCRIPT: Dialect = {
  declare:
    "const a = 2\nlet b = 3\nfunction twice(x) { return 2 * x }\nclass Box { constructor(v) { this.v = v } }",
  useDeclared: "print(twice(a) + b, new Box(7).v)",
  redeclare: "const a = 10\nprint(a)",
  lastExpression: "const v = await Promise.resolve(41)\nv + 1",
  print: "print('a', 1, [2])\nconsole.log('b')",
  raiseOnLine3: "const ok = 1\n\nthrow new RangeError('bad value')",
  syntaxErrorOnLine2: "const a = 1\nconst = 2",
  manyLines: "for (let i = 0; i < 1000; i++) print('line ' + i)",
  final: "FINAL('the answer')",
  defineResult: "const result = { total: 3 }",
  finalVar: "FINAL_VAR('result')",
  finalVarMissing: "FINAL_VAR('nope')",
  defineItems: "const items = [1, 2, 3]\nlet label = 'x'",
  readInputs: "print([text.length, docs[0].id, docs[1], data.rows[0].k].join())",
  hostCalls:
    "const a = llm_query('x')\nconst b = await llm_query('y')\nprint(typeof a, a, b)\ntry { fail() } catch (e) { print('caught', e.message) }",
  concurrentHost:
    "const out = await Promise.all([1, 2, 3, 4, 5, 6].map(async (n) => await slow(n)))\nprint(out.join())",
  keep: "const kept = 'still here'",
  readKept: "print(kept)",
  busyLoop: "while (true) {}",
  allocationBomb: "const hog = []\nwhile (true) hog.push('x'.repeat(1e5) + Math.random())",
  printContext: "print(context)",
  searchContext:
    "const m = context.match(/NEEDLE id=(\\d+)/)\nprint(context.length, m[1], context.indexOf('NEEDLE') > 0)",
  escapes: [
    {
      name: "no Node globals, timers or network",
      code: "print(['require', 'process', 'module', 'Buffer', 'fetch', 'XMLHttpRequest', 'WebSocket', 'setTimeout', 'setInterval', 'setImmediate', '__dirname', 'global', 'WebAssembly'].filter((name) => typeof globalThis[name] !== 'undefined').join() || 'none')",
      allowedOutputs: /^none\n$/,
    },
    { name: "import of fs", code: "const m = await import('node:fs')\nprint(Object.keys(m))" },
    {
      name: "import of child_process",
      code: "const m = await import('child_process')\nprint(Object.keys(m))",
    },
    { name: "import of a relative file", code: "const m = await import('./package.json')\nprint(m)" },
    {
      name: "the host's Function through host functions, values and errors",
      code: [
        "const escapes = [",
        "  () => llm_query.constructor('return typeof process')(),",
        "  () => print.constructor.constructor('return typeof process')(),",
        "  () => context.constructor.constructor('return typeof process')(),",
        "  () => docs.constructor.constructor('return typeof process')(),",
        "  () => Object.getPrototypeOf(docs[0]).constructor.constructor('return typeof process')(),",
        "  () => { try { fail() } catch (e) { return e.constructor.constructor('return typeof process')() } },",
        "  () => llm_query('x').constructor.constructor('return typeof process')(),",
        "  () => structured().constructor.constructor('return typeof require')(),",
        "  () => (function () { return this })().process === undefined ? 'undefined' : 'leak',",
        "]",
        "print(escapes.map((attempt) => { try { return attempt() } catch (e) { return 'threw' } }).filter((r) => r !== 'undefined' && r !== 'threw').join() || 'none')",
      ].join("\n"),
      allowedOutputs: /^none\n$/,
    },
    {
      name: "a search of every global for the host's secrets",
      code: "const found = []\nfor (const name of Object.getOwnPropertyNames(globalThis)) { try { if (JSON.stringify(globalThis[name] ?? '').includes('s3cr3t')) found.push(name) } catch {} }\nprint(found.length)",
      allowedOutputs: /^0\n$/,
    },
    {
      name: "prototype pollution stays in the guest",
      code: "Object.prototype.polluted = 'yes'\nJSON.parse = () => 'hacked'\nprint(typeof ({}).polluted)",
      allowedOutputs: /^string\n$/,
    },
    {
      name: "eval stays in the guest",
      code: "print(eval('typeof process'), Function('return typeof require')(), typeof Atomics.wait)",
      allowedOutputs: /^undefined undefined undefined\n$/,
    },
    { name: "host functions reject functions and proxies", code: "llm_query({ toString() { return 'x' } })" },
    {
      name: "an ArrayBuffer bomb fails inside the guest",
      code: "const held = []\nfor (let i = 0; i < 100; i++) held.push(new Uint8Array(50 * 1024 * 1024))\nprint(held.length)",
    },
  ],
};

export const PYTHON: Dialect = {
  declare:
    "a = 2\nb = 3\ndef twice(x):\n    return 2 * x\nclass Box:\n    def __init__(self, v):\n        self.v = v",
  useDeclared: "print(twice(a) + b, Box(7).v)",
  redeclare: "a = 10\nprint(a)",
  lastExpression: "v = 41\nv + 1",
  print: "print('a', 1, [2])\nprint('b')",
  raiseOnLine3: "ok = 1\n\nraise ValueError('bad value')",
  syntaxErrorOnLine2: "a = 1\na = = 2",
  manyLines: "for i in range(1000):\n    print('line ' + str(i))",
  final: "FINAL('the answer')",
  defineResult: "result = {'total': 3}",
  finalVar: "FINAL_VAR('result')",
  finalVarMissing: "FINAL_VAR('nope')",
  defineItems: "items = [1, 2, 3]\nlabel = 'x'",
  readInputs: "print(','.join(str(x) for x in [len(text), docs[0]['id'], docs[1], data['rows'][0]['k']]))",
  hostCalls:
    "a = llm_query('x')\nb = llm_query('y')\nprint(type(a).__name__, a, b)\ntry:\n    fail()\nexcept Exception as e:\n    print('caught', e)",
  concurrentHost: "print(','.join(str(x) for x in batch([1, 2, 3, 4, 5, 6])))",
  keep: "kept = 'still here'",
  readKept: "print(kept)",
  busyLoop: "while True:\n    pass",
  allocationBomb: "hog = []\nwhile True:\n    hog.append(bytearray(10_000_000))",
  printContext: "print(context)",
  searchContext:
    "import re\nm = re.search(r'NEEDLE id=(\\d+)', context)\nprint(len(context), m.group(1), 'true' if context.find('NEEDLE') > 0 else 'false')",
  escapes: [
    { name: "reading a host file", code: "print(open('/etc/passwd').read())" },
    {
      name: "listing the host's root (the guest sees its own in-memory file system)",
      code: "import os\nprint([n for n in os.listdir('/') if n in ('etc', 'usr', 'root', 'var', 'opt', 'work', 'srv', 'boot')])",
      allowedOutputs: /^\[\]\n$/,
    },
    { name: "os.system", code: "import os\nos.system('echo owned > /tmp/rlmkit-owned')" },
    { name: "subprocess", code: "import subprocess\nprint(subprocess.run(['id'], capture_output=True))" },
    {
      name: "a socket to the internet",
      code: "import socket\ns = socket.create_connection(('1.1.1.1', 80), timeout=2)",
    },
    {
      name: "urllib",
      code: "import urllib.request\nprint(urllib.request.urlopen('http://127.0.0.1:1/').read())",
    },
    { name: "import js: fetch", code: "import js\nprint(js.fetch('http://127.0.0.1:1/'))" },
    { name: "import js: require", code: "import js\nprint(js.require('fs'))" },
    {
      name: "import js: process.getBuiltinModule",
      code: "import js\nprint(js.process.getBuiltinModule('child_process'))",
    },
    { name: "import js: process.kill", code: "import js\njs.process.kill(1, 9)" },
    { name: "pyodide run_js", code: 'from pyodide.code import run_js\nprint(run_js("typeof require"))' },
    {
      name: "import js: dynamic import of fs",
      code: "import js\nfrom pyodide.ffi import run_sync\nprint(js.eval(\"import('node:fs')\"))",
    },
    {
      name: "the host's environment",
      code: "import os, js\nprint(len([k for k in os.environ if 'SECRET' in k]), len(list(js.Object.keys(js.process.env))))",
      allowedOutputs: /^0 0\n$/,
    },
  ],
};
