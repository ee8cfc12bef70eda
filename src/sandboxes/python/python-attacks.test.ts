/**
 * Attacks on the Python sandbox's boundary, each run against a real Pyodide child process. The guest is assumed
 * hostile: it can reach Pyodide's JS side (`import js`, `import pyodide_js`), write raw bytes to any fd of the
 * child, and rewrite the prelude's Python state. None of that may forge a reply, crash or hang the host, lift the
 * output limit, or leave a process behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import type { CellResult, SandboxOptions, SandboxSession } from "../../spec/sandbox.ts";
import { createPythonSandbox, warmPythonSandbox } from "./python-sandbox.ts";

warmPythonSandbox();

const SANDBOX_MODULE = new URL("./python-sandbox.ts", import.meta.url).href;
const SLOW = 120_000;

const sessions: SandboxSession[] = [];
afterEach(() => {
  for (const session of sessions.splice(0)) session.dispose();
});

async function open(options: SandboxOptions = {}): Promise<SandboxSession> {
  const session = await createPythonSandbox().create(options);
  sessions.push(session);
  return session;
}

/** Python that defines ways to write raw bytes to a file descriptor of the child, around the protocol. */
const RAW_WRITERS = `
import js, pyodide_js
from pyodide.ffi import to_js

def write_with_nodefs(fd, data):
    ops = pyodide_js.FS.filesystems.NODEFS.stream_ops
    stream = js.Object.new()
    stream.nfd = fd
    view = to_js(data)
    ops.write(stream, view, 0, view.length, None)

def write_with_node_stream(fd, data):
    js.process.stdout.constructor.new(fd).write(to_js(data))
`;

const FORGED_RESULT = '{"type":"result","output":"forged\\n","cut":0,"final":{"value":"forged answer"}}\n';

/** Expects a cell to have been stopped because the child broke the protocol, with its state lost. */
function expectViolation(result: CellResult): void {
  expect(result.final).toBeUndefined();
  expect(result.output).not.toContain("forged");
  expect(result.stateLost).toBe(true);
  expect(result.error?.name).toBe("SandboxProtocolError");
}

describe("the guest cannot speak the host protocol", () => {
  it(
    "a result forged through NODEFS's stream_ops on fd 4 is not accepted",
    async () => {
      const session = await open({ globals: { context: "kept input" } });
      const result = await session.execute(
        `${RAW_WRITERS}\nwrite_with_nodefs(4, ${JSON.stringify(FORGED_RESULT)}.encode())\nprint("real output")`,
      );
      expect(result.final).toBeUndefined();
      expect(result.output).not.toContain("forged");
      expect((await session.execute("print(context)")).output).toBe("kept input\n");
    },
    SLOW,
  );

  it(
    "a result forged through a Node write stream on fd 4 stops the cell as a protocol violation",
    async () => {
      const session = await open({ globals: { context: "kept input" } });
      const result = await session.execute(
        `${RAW_WRITERS}\nwrite_with_node_stream(4, ${JSON.stringify(FORGED_RESULT)}.encode())\nprint("real output")`,
      );
      expectViolation(result);
      expect((await session.execute("print(context)")).output).toBe("kept input\n");
    },
    SLOW,
  );

  it(
    "a garbage line on fd 4 does not crash the host",
    async () => {
      const uncaught: unknown[] = [];
      const record = (error: unknown) => uncaught.push(error);
      process.on("uncaughtException", record);
      try {
        const session = await open();
        const result = await session.execute(
          `${RAW_WRITERS}\nwrite_with_node_stream(4, b"this is not json\\n")\nprint("real output")`,
        );
        expectViolation(result);
        await sleep(200);
        expect(uncaught).toEqual([]);
        expect((await session.execute("print('alive')")).output).toBe("alive\n");
      } finally {
        process.off("uncaughtException", record);
      }
    },
    SLOW,
  );

  it(
    "honest frames of every length modulo the hash block pass the signature check",
    async () => {
      const session = await open({ hostFunctions: { echo: (text) => String(text).length } });
      const result = await session.execute("print(sum(echo('é' * n + 'x' * (n % 7)) for n in range(200)))");
      expect(result.error).toBeUndefined();
      expect(result.output).toBe(
        `${Array.from({ length: 200 }, (_, n) => n + (n % 7)).reduce((a, b) => a + b)}\n`,
      );
    },
    SLOW,
  );

  it(
    "a toJSON planted on Object.prototype cannot turn a host call into a result",
    async () => {
      const session = await open({ hostFunctions: { f: () => "f" } });
      const result = await session.execute(
        [
          "import js",
          "from pyodide.ffi import create_proxy, jsnull",
          `forged = js.JSON.parse(${JSON.stringify(FORGED_RESULT.trim())})`,
          "js.Object.setPrototypeOf(forged.final, jsnull)",
          "js.Object.setPrototypeOf(forged, jsnull)",
          "js.Object.prototype.toJSON = create_proxy(lambda *args: forged)",
          "f('x')",
          "print('real output')",
        ].join("\n"),
      );
      expect(result.final).toBeUndefined();
      expect(result.output).not.toContain("forged");
      expect((await session.execute("print('alive')")).output).toBe("alive\n");
    },
    SLOW,
  );

  it(
    "an endless line is refused once it passes the frame limit, without waiting for its end",
    async () => {
      const session = await open();
      const result = await session.execute(
        `${RAW_WRITERS}\nchunk = b"x" * (1 << 20)\nfor _ in range(80):\n    write_with_node_stream(4, chunk)\nwhile True:\n    pass`,
      );
      expectViolation(result);
      expect((await session.execute("print('alive')")).output).toBe("alive\n");
    },
    SLOW,
  );

  it(
    "an earlier frame found in the child's memory cannot be replayed",
    async () => {
      let calls = 0;
      const session = await open({
        hostFunctions: {
          count: () => {
            calls++;
            return calls;
          },
        },
      });
      expect((await session.execute("print(count())")).output).toBe("1\n");
      // The child's small buffers come from Node's shared pool, which the guest can read through js.Buffer.
      const result = await session.execute(
        [
          RAW_WRITERS,
          "import re",
          "typed_array = js.Object.getPrototypeOf(js.Uint8Array.prototype)",
          'buffer_of = js.Function.prototype.call.bind(js.Object.getOwnPropertyDescriptor(typed_array, "buffer").get)',
          "pool = js.Uint8Array.new(js.Array.of(1).map(js.Buffer.allocUnsafe).map(buffer_of)[0]).to_bytes()",
          'frames = re.findall(rb\'(?:[0-9a-f]{64})?[{]"type":"host-call"[^\\n]*\\n\', pool)',
          "if frames:",
          "    write_with_node_stream(4, frames[-1])",
          "print('replayed' if frames else 'no frame found')",
        ].join("\n"),
      );
      await sleep(200);
      expect(calls).toBe(1);
      if (result.output.includes("replayed")) expectViolation(result);
      expect((await session.execute("print(count())")).output).toBe("2\n");
    },
    SLOW,
  );

  it(
    "a host call can only name a host function, not a property every object has",
    async () => {
      const session = await open({ hostFunctions: { f: () => "f" } });
      const result = await session.execute(
        "import _rlm_host\nprint(_rlm_host.call('constructor', '[1]'))\nprint(_rlm_host.call('f', '[]'))",
      );
      expect(result.output).toContain("no host function constructor");
      expect(result.output).toMatch(/"value": ?"f"/);
    },
    SLOW,
  );
});

/** Whether a process still exists and is not a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

interface Script {
  child: ChildProcess;
  /** What it printed to stdout so far. */
  stdout(): string;
  /** Its exit code, and what it printed to stderr. */
  closed: Promise<{ code: number | null; stderr: string }>;
}

/** Runs a Node script (ESM, top-level await) that has the Python sandbox module as `sandbox`. */
function runScript(body: string): Script {
  const script = `const sandbox = await import(${JSON.stringify(SANDBOX_MODULE)});\n${body}`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (data: Buffer) => {
    stdout += data.toString();
  });
  child.stderr?.on("data", (data: Buffer) => {
    stderr += data.toString();
  });
  const closed = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, stderr })),
  );
  return { child, stdout: () => stdout, closed };
}

describe("variable access is watched like a cell", () => {
  it(
    "reading a variable keeps a plain script alive until the value arrives (a prose FINAL_VAR)",
    async () => {
      const script = runScript(
        [
          "const session = await sandbox.createPythonSandbox().create();",
          "await session.execute(\"x = {'total': 3}\");",
          'console.log(JSON.stringify(await session.getVariable("x")));',
          "console.log((await session.listVariables()).map((v) => v.name).join());",
          "session.dispose();",
        ].join("\n"),
      );
      const { code, stderr } = await script.closed;
      expect({ code, stdout: script.stdout() }, stderr).toEqual({
        code: 0,
        stdout: '{"value":{"total":3}}\nanswer,x\n',
      });
    },
    SLOW,
  );

  it(
    "a __getattr__ that never returns makes getVariable fail clearly, and the session restarts",
    async () => {
      const session = await open({ limits: { cellTimeoutMs: 1000 }, globals: { context: "kept input" } });
      await session.execute(
        "class Evil:\n    def __getattr__(self, name):\n        while True:\n            pass\n    def __repr__(self):\n        while True:\n            pass\nevil = Evil()",
      );
      await expect(session.getVariable("evil")).rejects.toThrow(/time limit/);
      expect((await session.execute("print(context)")).output).toBe("kept input\n");
      expect(await session.getVariable("evil")).toBeUndefined();
    },
    SLOW,
  );

  it(
    "a __len__ that never returns makes listVariables fail clearly",
    async () => {
      const session = await open({ limits: { cellTimeoutMs: 1000 } });
      await session.execute(
        "class Endless(list):\n    def __len__(self):\n        while True:\n            pass\nitems = Endless([1])",
      );
      await expect(session.listVariables()).rejects.toThrow(/time limit/);
      expect((await session.execute("print('alive')")).output).toBe("alive\n");
    },
    SLOW,
  );

  it(
    "setVariable fails clearly when the guest has broken the prelude",
    async () => {
      const session = await open({ limits: { cellTimeoutMs: 1000 } });
      await session.execute(
        "import __main__\nclass Stuck(dict):\n    def __setitem__(self, key, value):\n        while key == 'big':\n            pass\n        dict.__setitem__(self, key, value)\n__main__._ns = Stuck()",
      );
      await expect(session.setVariable("big", "y".repeat(2 << 20))).rejects.toThrow(/time limit/);
      expect((await session.execute("print(len(big))")).output).toBe(`${2 << 20}\n`);
    },
    SLOW,
  );

  it(
    "setup code that never ends makes create fail instead of hanging",
    async () => {
      await expect(
        createPythonSandbox().create({
          setupCode: ["while True:\n    pass"],
          limits: { cellTimeoutMs: 1000 },
        }),
      ).rejects.toThrow(/time limit/);
    },
    SLOW,
  );

  it(
    "a value too large to read back is refused with a clear error",
    async () => {
      const session = await open();
      await session.execute("big = 'x' * 9_000_000");
      await expect(session.getVariable("big")).rejects.toThrow(/too large/);
      expect((await session.execute("print(len(big))")).output).toBe("9000000\n");
    },
    SLOW,
  );
});

describe("output limits are enforced by the host", () => {
  const limit = 1000;
  const bounded = (text: string) => text.length <= limit + 100;

  it(
    "raising the guest's own output buffer limit does not lift the cell's limit",
    async () => {
      const session = await open({ limits: { outputLimitChars: limit } });
      const result = await session.execute("import sys\nsys.stdout.half = 10**9\nprint('x' * 3_000_000)");
      expect(bounded(result.output)).toBe(true);
      expect(result.truncatedChars).toBeGreaterThan(2_900_000);
    },
    SLOW,
  );

  it(
    "rewriting the prelude's limit or its output class does not lift the limit",
    async () => {
      const session = await open({ limits: { outputLimitChars: limit } });
      await session.execute(
        "import __main__, io\n__main__._limit = 10**9\nclass Open(io.StringIO):\n    cut = 0\n    def value(self):\n        return self.getvalue()\n__main__._BoundedOutput = lambda limit: Open()",
      );
      const result = await session.execute("print('y' * 3_000_000)");
      expect(bounded(result.output)).toBe(true);
      expect(result.output.startsWith("yyy")).toBe(true);
    },
    SLOW,
  );

  it(
    "a cut count made up by the guest is clamped",
    async () => {
      const session = await open({ limits: { outputLimitChars: limit } });
      const huge = await session.execute("import sys\nsys.stdout.cut = 10**30\nprint('z')");
      expect(Number.isSafeInteger(huge.truncatedChars)).toBe(true);
      const negative = await session.execute("import sys\nsys.stdout.cut = -5\nprint('z')");
      expect(negative.truncatedChars).toBe(0);
    },
    SLOW,
  );

  it(
    "a huge exception message is cut too",
    async () => {
      const session = await open({ limits: { outputLimitChars: limit } });
      const result = await session.execute("raise ValueError('e' * 3_000_000)");
      expect(result.error?.name).toBe("ValueError");
      expect(result.error?.message.length ?? 0).toBeLessThan(limit + 100);
      expect(bounded(result.output)).toBe(true);
    },
    SLOW,
  );
});

describe("waiting for host calls does not count as the cell's CPU time", () => {
  it(
    "a 3 s host call inside a cell with a 1 s CPU limit completes and keeps state",
    async () => {
      const session = await open({
        limits: { cellTimeoutMs: 1000 },
        hostFunctions: {
          slow: async () => {
            await sleep(3000);
            return "late";
          },
        },
      });
      await session.execute("kept = 'still here'");
      const result = await session.execute("print(slow())");
      expect(result.limit).toBeUndefined();
      expect(result.output).toBe("late\n");
      expect((await session.execute("print(kept)")).output).toBe("still here\n");
    },
    SLOW,
  );

  it(
    "a busy loop after a slow host call is still stopped",
    async () => {
      const session = await open({
        limits: { cellTimeoutMs: 1000 },
        hostFunctions: {
          slow: async () => {
            await sleep(1500);
            return "late";
          },
        },
      });
      const result = await session.execute("slow()\nwhile True:\n    pass");
      expect(result.limit).toBe("time");
    },
    SLOW,
  );

  it(
    "time the host's thread spends inside host functions for the cell does count",
    async () => {
      const session = await open({
        limits: { cellTimeoutMs: 1000, cellWallTimeoutMs: 60_000 },
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
      const result = await session.execute("n = 0\nwhile True:\n    n += busy()");
      expect(result.limit).toBe("time");
      // Stopped by the CPU limit, long before the 60 s wall limit.
      expect(result.durationMs).toBeLessThan(30_000);
    },
    SLOW,
  );
});

describe("the Python child ends with its parent", () => {
  it.each(["SIGKILL", "SIGTERM", "SIGHUP"] as const)(
    "%s to the parent takes a busy child with it",
    async (signal) => {
      const script = runScript(
        [
          "const { readdirSync, readFileSync } = await import('node:fs');",
          "const tree = (pid) => readdirSync('/proc/' + pid + '/task').flatMap((task) => {",
          "  const text = readFileSync('/proc/' + pid + '/task/' + task + '/children', 'utf8').trim();",
          "  return text === '' ? [] : text.split(/\\s+/).map(Number).flatMap((c) => [c, ...tree(c)]);",
          "});",
          "const session = await sandbox.createPythonSandbox().create({ limits: { cellTimeoutMs: 600000 } });",
          "setTimeout(() => console.log('PIDS ' + JSON.stringify(tree(process.pid))), 1500);",
          "await session.execute('while True:\\n    pass');",
        ].join("\n"),
      );
      let pids: number[] = [];
      try {
        for (let waited = 0; pids.length === 0 && waited < 90_000; waited += 100) {
          await sleep(100);
          const line = /PIDS (\[.*\])/.exec(script.stdout());
          if (line?.[1]) pids = JSON.parse(line[1]) as number[];
        }
        expect(pids.length).toBeGreaterThan(0);
        expect(pids.every(isAlive)).toBe(true);
        script.child.kill(signal);
        await script.closed;
        let alive = pids.filter(isAlive);
        for (let waited = 0; alive.length > 0 && waited < 10_000; waited += 100) {
          await sleep(100);
          alive = pids.filter(isAlive);
        }
        expect(alive).toEqual([]);
      } finally {
        script.child.kill("SIGKILL");
        // Only the processes this test started, by pid.
        for (const pid of pids.filter(isAlive)) process.kill(pid, "SIGKILL");
      }
    },
    SLOW,
  );
});

/**
 * Found by the second attack review: with %TypedArray%.prototype.length replaced by a getter, a host call let the
 * guest watch HMAC's inner and outer states pass through typed arrays, rebuild the MAC, and sign its own frames.
 * The MAC is now computed in a realm of its own from strings.
 */
const STATE_LEAK_AND_FORGE = [
  "import js, pyodide_js, json",
  "from pyodide.ffi import create_proxy, to_js",
  "import _rlm_host",
  "",
  "TA = js.Object.getPrototypeOf(js.Uint8Array.prototype)",
  'origdesc = js.Object.getOwnPropertyDescriptor(TA, "length")',
  "orig = origdesc.get",
  'st = {"armed": False, "busy": False, "first32": None, "inner": None, "outer": None, "seq": None, "log": []}',
  "",
  "class Stop(Exception):",
  "    pass",
  "",
  "def getter(this):",
  "    n = orig.call(this)",
  '    if not st["armed"] or st["busy"] or n > 4096:',
  "        return n",
  '    st["busy"] = True',
  "    try:",
  "        if n <= 12:",
  "            b = bytes(this.to_bytes())",
  '            if b.endswith(b"\\n") and b[:-1].isdigit():',
  '                st["seq"] = int(b[:-1])',
  "        elif n == 32:",
  "            b = bytes(this.to_bytes())",
  '            if st["first32"] is None:',
  '                st["first32"] = b',
  '            elif b != st["first32"]:',
  '                st["inner"], st["outer"] = st["first32"], b',
  '                st["armed"] = False',
  '                raise Stop("got it")',
  '        st["log"].append(n)',
  "    finally:",
  '        st["busy"] = False',
  "    return 0",
  "",
  "proxy = create_proxy(getter, capture_this=True)",
  "desc = js.Object.new()",
  "desc.get = proxy",
  "desc.configurable = True",
  'js.Object.defineProperty(TA, "length", desc)',
  'st["armed"] = True',
  "try:",
  '    _rlm_host.call("x" * 100, "[]")',
  "except Exception as e:",
  '    print("call raised:", type(e).__name__, str(e)[:80])',
  'st["armed"] = False',
  'print("seq", st["seq"], "log", st["log"][:30])',
  'print("inner", st["inner"] and st["inner"].hex())',
  'print("outer", st["outer"] and st["outer"].hex())',
  "",
  "# --- SHA-256 from a given state ---",
  "K = [0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2]",
  "M = 0xffffffff",
  "def rotr(x, n): return ((x >> n) | (x << (32 - n))) & M",
  "def compress(h, blk):",
  '    w = [int.from_bytes(blk[4*i:4*i+4], "big") for i in range(16)]',
  "    for t in range(16, 64):",
  "        s0 = rotr(w[t-15], 7) ^ rotr(w[t-15], 18) ^ (w[t-15] >> 3)",
  "        s1 = rotr(w[t-2], 17) ^ rotr(w[t-2], 19) ^ (w[t-2] >> 10)",
  "        w.append((w[t-16] + s0 + w[t-7] + s1) & M)",
  "    a, b, c, d, e, f, g, hh = h",
  "    for t in range(64):",
  "        S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)",
  "        ch = (e & f) ^ (~e & g)",
  "        t1 = (hh + S1 + ch + K[t] + w[t]) & M",
  "        S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)",
  "        mj = (a & b) ^ (a & c) ^ (b & c)",
  "        hh, g, f, e, d, c, b, a = g, f, e, (d + t1) & M, c, b, a, (t1 + S0 + mj) & M",
  "    return [(x + y) & M for x, y in zip(h, [a, b, c, d, e, f, g, hh])]",
  "def sha_from(state_bytes, data):",
  '    h = [int.from_bytes(state_bytes[4*i:4*i+4], "big") for i in range(8)]',
  "    total = 64 + len(data)",
  '    msg = data + b"\\x80" + b"\\x00" * ((55 - total) % 64) + (total * 8).to_bytes(8, "big")',
  "    for i in range(0, len(msg), 64):",
  "        h = compress(h, msg[i:i+64])",
  '    return b"".join(x.to_bytes(4, "big") for x in h)',
  "def mac(seq, body):",
  '    return sha_from(st["outer"], sha_from(st["inner"], str(seq).encode() + b"\\n" + body)).hex().encode()',
  "",
  'st["armed"] = True; st["busy"] = True  # getter now returns the true length without touching `this` in Python... still proxies this',
  'js.Object.defineProperty(TA, "length", origdesc)',
  'print("restored:", js.Uint8Array.new(5).length)',
  "",
  'seq = st["seq"]',
  'body = json.dumps({"type": "result", "output": "FORGED OUTPUT\\n", "cut": 0, "final": {"value": "FORGED FINAL ANSWER"}}).encode()',
  'frame = mac(seq, body) + body + b"\\n"',
  "js.process.stdout.constructor.new(4).write(frame.decode())",
  'print("forged frame written with seq", seq)',
  "# make the child's own next send fail before it writes anything (its MAC would be stale)",
  "def bad(this):",
  '    raise Exception("stop")',
  "d = js.Object.new(); d.get = create_proxy(bad, capture_this=True); d.configurable = True",
  "import time; time.sleep(0.5)",
  'js.Object.defineProperty(TA, "length", d)',
  "",
].join("\n");

describe("the MAC's states cannot be watched through patched prototypes", () => {
  it(
    "a forged frame signed with states leaked through %TypedArray%.prototype.length is refused",
    async () => {
      const session = await open({ limits: { cellTimeoutMs: 5_000, outputLimitChars: 1000 } });
      const result = await session.execute(STATE_LEAK_AND_FORGE);
      expect(result.final?.value).not.toBe("FORGED FINAL ANSWER");
      expect(result.output).not.toContain("FORGED OUTPUT");
      expect((await session.execute("print('next', 1 + 1)")).output).toBe("next 2\n");
    },
    SLOW,
  );
});
