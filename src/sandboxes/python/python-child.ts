/**
 * The Python sandbox's child process: Pyodide (CPython in WASM) behind Node's permission model, with network and
 * process access removed, talking to its parent only through two pipes (fd 3 in, fd 4 out) in line-delimited
 * JSON. It is synchronous: while a cell runs, a host call (llm_query) writes a request and blocks reading the
 * reply, so Python gets its string without await. Self-contained: it imports nothing of rlmkit but the prelude.
 */
import { constants as fsConstants, readSync, writeSync } from "node:fs";
import { registerHooks } from "node:module";
import { PYTHON_PRELUDE } from "./python-prelude.ts";

const IN = 3;
const OUT = 4;
const CHUNK = 16 << 20;
/** Bytes read but not yet consumed, as a list of chunks (joined once per message, not per read). */
let chunks: Buffer[] = [];

function readChunk(): Buffer {
  const buffer = Buffer.allocUnsafe(CHUNK);
  for (;;) {
    try {
      const read = readSync(IN, buffer, 0, CHUNK, null);
      if (read === 0) process.exit(0);
      return buffer.subarray(0, read);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
    }
  }
}

/** Reads up to and including the next newline; returns the line without it. */
function readLine(): string {
  for (;;) {
    const last = chunks.at(-1);
    const newline = last === undefined ? -1 : last.indexOf(10);
    if (last !== undefined && newline !== -1) {
      const line = Buffer.concat([...chunks.slice(0, -1), last.subarray(0, newline)]).toString("utf8");
      chunks = newline + 1 < last.length ? [last.subarray(newline + 1)] : [];
      return line;
    }
    chunks.push(readChunk());
  }
}

/** Hands exactly `length` raw bytes (a large string sent after its header line) to `sink`, chunk by chunk. */
function readBytes(length: number, sink: (chunk: Buffer) => void): void {
  let left = length;
  while (left > 0) {
    const chunk = chunks.shift() ?? readChunk();
    if (chunk.length > left) {
      sink(chunk.subarray(0, left));
      chunks.unshift(chunk.subarray(left));
      return;
    }
    sink(chunk);
    left -= chunk.length;
  }
}

function readMessage(): Record<string, unknown> {
  return JSON.parse(readLine()) as Record<string, unknown>;
}

function send(message: unknown): void {
  const data = Buffer.from(`${JSON.stringify(message)}\n`);
  let written = 0;
  while (written < data.length) {
    try {
      written += writeSync(OUT, data, written, data.length - written);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
    }
  }
}

/** Takes away what Python could reach through `import js`: network, processes, files, native code. */
function lockDown(): void {
  const denied =
    /^(node:)?(net|tls|http|https|http2|dgram|dns|dns\/promises|child_process|cluster|worker_threads|inspector|inspector\/promises|repl|vm|v8|wasi|fs|fs\/promises|module|os|process|undici)$/;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (denied.test(specifier)) throw new Error(`the Python sandbox cannot load ${specifier}`);
      return nextResolve(specifier, context);
    },
  });
  const globals = globalThis as Record<string, unknown>;
  for (const name of [
    "fetch",
    "WebSocket",
    "EventSource",
    "XMLHttpRequest",
    "Request",
    "Response",
    "Headers",
    "FormData",
  ]) {
    delete globals[name];
  }
  const refuse = () => {
    throw new Error("not available in the Python sandbox");
  };
  const proc = process as unknown as Record<string, unknown>;
  for (const name of [
    "kill",
    "dlopen",
    "binding",
    "_linkedBinding",
    "getBuiltinModule",
    "chdir",
    "setuid",
    "setgid",
    "abort",
    "reallyExit",
    "_kill",
    "setSourceMapsEnabled",
  ]) {
    try {
      Object.defineProperty(proc, name, { value: refuse, writable: false, configurable: false });
    } catch {
      // some are read-only already
    }
  }
  for (const key of Object.keys(process.env)) delete process.env[key];
}

async function main(): Promise<void> {
  // Pyodide reads fs flag constants through process.binding, which the permission model forbids.
  Object.defineProperty(process, "binding", {
    configurable: true,
    writable: true,
    value: (name: string) => {
      if (name === "constants") return { fs: fsConstants };
      throw new Error(`process.binding(${name}) is not available`);
    },
  });
  const { loadPyodide } = (await import("pyodide")) as typeof import("pyodide");
  const indexURL = new URL(".", import.meta.resolve("pyodide")).pathname;
  const packagesAt = process.argv.indexOf("--packages");
  const packages = packagesAt === -1 ? undefined : process.argv[packagesAt + 1];
  const pyodide = await loadPyodide({
    indexURL,
    stdout: () => {},
    stderr: () => {},
    // Packages beyond the standard library come only from the folder the user named, never from the network.
    ...(packages ? { lockFileURL: `${packages}/pyodide-lock.json`, packageBaseUrl: `${packages}/` } : {}),
  });
  lockDown();
  pyodide.registerJsModule("_rlm_host", {
    call(name: string, argsJson: string): string {
      send({ type: "host-call", name, args: JSON.parse(argsJson) });
      const reply = readMessage();
      return JSON.stringify(reply.ok ? { value: reply.value ?? null } : { error: String(reply.error) });
    },
  });
  pyodide.runPython(PYTHON_PRELUDE);
  const runCell = pyodide.globals.get("_run_cell") as (code: string) => string;
  const describe = pyodide.globals.get("_describe") as () => { toJs(options: object): unknown };
  const namespace = pyodide.globals.get("_ns") as {
    get(name: string): unknown;
    set(name: string, value: unknown): void;
    has(name: string): boolean;
  };
  send({ type: "ready" });
  for (;;) {
    const message = readMessage();
    try {
      switch (message.type) {
        case "setup":
          pyodide.globals.get("_setup")(pyodide.toPy(message.hostNames), message.outputLimit);
          send({ type: "done" });
          break;
        case "execute":
          if (packages) {
            // A package missing from the folder is not an error here: the import then fails in the cell, clearly.
            await pyodide
              .loadPackagesFromImports(String(message.code), {
                messageCallback: () => {},
                errorCallback: () => {},
              })
              .catch(() => undefined);
          }
          send({ type: "result", ...JSON.parse(runCell(String(message.code))) });
          break;
        case "set":
          if (typeof message.textBytes === "number") {
            // A large string: its bytes go straight into a Python bytearray's memory, then Python's own UTF-8
            // codec decodes them (one copy, no JS string on the way).
            const target = pyodide.globals.get("_new_buffer")(message.textBytes);
            const view = target.getBuffer("u8");
            let offset = 0;
            readBytes(message.textBytes, (chunk) => {
              (view.data as Uint8Array).set(chunk, offset);
              offset += chunk.length;
            });
            view.release();
            target.destroy();
            pyodide.globals.get("_decode_buffer")(String(message.name));
          } else {
            namespace.set(String(message.name), pyodide.toPy(message.value));
          }
          send({ type: "done" });
          break;
        case "get": {
          const name = String(message.name);
          if (!namespace.has(name)) send({ type: "value" });
          else {
            const value = namespace.get(name) as { toJs?: (options: object) => unknown } | unknown;
            const plain =
              value !== null &&
              typeof value === "object" &&
              typeof (value as { toJs?: unknown }).toJs === "function"
                ? (value as { toJs: (options: object) => unknown }).toJs({
                    dict_converter: Object.fromEntries,
                  })
                : value;
            send({ type: "value", value: plain });
          }
          break;
        }
        case "list":
          send({ type: "value", value: describe().toJs({ dict_converter: Object.fromEntries }) });
          break;
        default:
          send({ type: "error", error: `unknown message ${String(message.type)}` });
      }
    } catch (error) {
      send({ type: "error", error: error instanceof Error ? error.message : String(error) });
      // After a fatal error the runtime is unusable: exit, and the parent starts a fresh one.
      if ((error as { pyodide_fatal_error?: boolean }).pyodide_fatal_error) process.exit(70);
    }
  }
}

main().catch((error: unknown) => {
  try {
    send({
      type: "fatal",
      error: error instanceof Error ? `${error.message} ${error.stack}` : String(error),
    });
  } finally {
    process.exit(1);
  }
});
