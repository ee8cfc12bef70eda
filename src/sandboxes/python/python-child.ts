/**
 * The Python sandbox's child process: Pyodide (CPython in WASM) behind Node's permission model, with network and
 * process access removed, talking to its parent only through two pipes (fd 3 in, fd 4 out) in line-delimited
 * JSON. It is synchronous: while a cell runs, a host call (llm_query) writes a request and blocks reading the
 * reply, so Python gets its string without await. Self-contained: it imports nothing of rlmkit but the prelude.
 *
 * Guest code can reach this process's JS (`import js`) and write raw bytes to its fds, so the parent trusts no
 * line for being on fd 4. Each line we send is signed: `<HMAC-SHA256 hex><JSON>\n` over a sequence number and the
 * JSON, keyed with a secret the parent sends as the first line on fd 3. We read that line below, while this
 * module loads: before Pyodide is imported and before any guest code exists. The key then lives only in a realm of
 * its own (node:vm, see macRealm), where the MAC is computed from strings, so a guest that later replaces this
 * realm's globals, prototypes or accessors cannot see the key, the hash's states, or sign a frame.
 */
import { constants as fsConstants, readSync, writeSync } from "node:fs";
import { registerHooks } from "node:module";
import { runInNewContext } from "node:vm";
import { PYTHON_PRELUDE } from "./python-prelude.ts";

const IN = 3;
const OUT = 4;
const CHUNK = 16 << 20;
const MAC_HEX_CHARS = 64;

// Taken now, before guest code can replace them.
const Bytes = Uint8Array;
const stringify = JSON.stringify;
const parseJson = JSON.parse;
const isArray = Array.isArray;
const createObject = Object.create;
// process.exit calls process.reallyExit, which lockDown replaces for the guest: keep the real one for ourselves.
const reallyExit = (process as unknown as { reallyExit: (code: number) => never }).reallyExit.bind(process);
const exit = (code: number): never => reallyExit(code);
const utf8 = new TextEncoder();
const encodeUtf8: (text: string) => Uint8Array = utf8.encode.bind(utf8);

function optionValue(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}

const MAX_FRAME_BYTES = Number(optionValue("--max-frame-bytes") ?? 64 << 20);

/**
 * SHA-256 (FIPS 180-4) and HMAC, built in a realm of their own (node:vm) when this module loads, before any guest
 * code exists. Guest code can reach this realm's globals and prototypes (`import js`) and replace even accessors
 * such as %TypedArray%.prototype.length, which would let it watch the hash's inner states go by; it cannot reach
 * the other realm's. Only primitives cross: the key as hex once, then the strings to sign and the MAC as hex.
 * Self-contained on purpose: it is compiled from its own source text in the new realm.
 */
function macRealm() {
  // SHA-256 (FIPS 180-4), enough for HMAC over frames.

  /** The first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
  const ROUND_CONSTANTS = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  /** The first 32 bits of the fractional parts of the square roots of the first 8 primes. */
  const INITIAL_STATE = new Int32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const schedule = new Int32Array(64);

  interface Sha256 {
    state: Int32Array;
    block: Uint8Array;
    /** Bytes waiting in `block`. */
    used: number;
    /** Bytes hashed in all. */
    length: number;
  }

  function sha256Start(): Sha256 {
    return sha256Copy({ state: INITIAL_STATE, block: new Uint8Array(64), used: 0, length: 0 });
  }

  /** A copy, by plain loops (no method a guest could have replaced). */
  function sha256Copy(from: Sha256): Sha256 {
    const state = new Int32Array(8);
    for (let i = 0; i < 8; i++) state[i] = from.state[i] as number;
    const block = new Uint8Array(64);
    for (let i = 0; i < from.used; i++) block[i] = from.block[i] as number;
    return { state, block, used: from.used, length: from.length };
  }

  /** Mixes one 64-byte block, starting at `offset` of `data`, into `state`. */
  function compress(state: Int32Array, data: Uint8Array, offset: number): void {
    const w = schedule;
    for (let t = 0; t < 16; t++) {
      const at = offset + 4 * t;
      w[t] =
        ((data[at] as number) << 24) |
        ((data[at + 1] as number) << 16) |
        ((data[at + 2] as number) << 8) |
        (data[at + 3] as number);
    }
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15] as number;
      const y = w[t - 2] as number;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = ((w[t - 16] as number) + s0 + (w[t - 7] as number) + s1) | 0;
    }
    let a = state[0] as number;
    let b = state[1] as number;
    let c = state[2] as number;
    let d = state[3] as number;
    let e = state[4] as number;
    let f = state[5] as number;
    let g = state[6] as number;
    let h = state[7] as number;
    for (let t = 0; t < 64; t++) {
      const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const choice = (e & f) ^ (~e & g);
      const t1 = (h + s1 + choice + (ROUND_CONSTANTS[t] as number) + (w[t] as number)) | 0;
      const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const majority = (a & b) ^ (a & c) ^ (b & c);
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + s0 + majority) | 0;
    }
    state[0] = ((state[0] as number) + a) | 0;
    state[1] = ((state[1] as number) + b) | 0;
    state[2] = ((state[2] as number) + c) | 0;
    state[3] = ((state[3] as number) + d) | 0;
    state[4] = ((state[4] as number) + e) | 0;
    state[5] = ((state[5] as number) + f) | 0;
    state[6] = ((state[6] as number) + g) | 0;
    state[7] = ((state[7] as number) + h) | 0;
  }

  function sha256Update(hash: Sha256, data: Uint8Array): void {
    let at = 0;
    hash.length += data.length;
    while (at < data.length) {
      if (hash.used === 0 && data.length - at >= 64) {
        compress(hash.state, data, at);
        at += 64;
      } else {
        hash.block[hash.used++] = data[at++] as number;
        if (hash.used === 64) {
          compress(hash.state, hash.block, 0);
          hash.used = 0;
        }
      }
    }
  }

  /** Pads, and returns the 32-byte digest. */
  function sha256Finish(hash: Sha256): Uint8Array {
    const bits = hash.length * 8;
    const low = bits >>> 0;
    const high = (bits - low) / 4294967296;
    const pad = new Uint8Array(hash.used < 56 ? 64 - hash.used : 128 - hash.used);
    pad[0] = 0x80;
    for (let i = 0; i < 4; i++) {
      pad[pad.length - 8 + i] = (high >>> (24 - 8 * i)) & 0xff;
      pad[pad.length - 4 + i] = (low >>> (24 - 8 * i)) & 0xff;
    }
    sha256Update(hash, pad);
    const digest = new Uint8Array(32);
    for (let i = 0; i < 32; i++) digest[i] = ((hash.state[i >> 2] as number) >>> (24 - 8 * (i & 3))) & 0xff;
    return digest;
  }

  /** HMAC's keyed inner and outer hashes, each after its padded key block: all that is kept of the key. */
  interface MacKey {
    inner: Sha256;
    outer: Sha256;
  }

  function macKeyOf(key: Uint8Array): MacKey {
    const inner = sha256Start();
    const outer = sha256Start();
    const innerBlock = new Uint8Array(64);
    const outerBlock = new Uint8Array(64);
    for (let i = 0; i < 64; i++) {
      const byte = i < key.length ? (key[i] as number) : 0;
      innerBlock[i] = byte ^ 0x36;
      outerBlock[i] = byte ^ 0x5c;
    }
    sha256Update(inner, innerBlock);
    sha256Update(outer, outerBlock);
    innerBlock.fill(0);
    outerBlock.fill(0);
    return { inner, outer };
  }

  function hmac(key: MacKey, parts: Uint8Array[]): Uint8Array {
    const inner = sha256Copy(key.inner);
    for (let i = 0; i < parts.length; i++) sha256Update(inner, parts[i] as Uint8Array);
    const outer = sha256Copy(key.outer);
    sha256Update(outer, sha256Finish(inner));
    return sha256Finish(outer);
  }

  let key: MacKey | undefined;

  function hexValue(code: number): number {
    if (code >= 48 && code <= 57) return code - 48;
    if (code >= 97 && code <= 102) return code - 87;
    return -1;
  }

  /** UTF-8 of a string (lone surrogates as U+FFFD, as TextEncoder does). */
  function utf8(text: string): Uint8Array {
    const out = new Uint8Array(text.length * 3);
    let at = 0;
    for (let i = 0; i < text.length; i++) {
      let code = text.charCodeAt(i);
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
        const next = text.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
          i++;
        } else code = 0xfffd;
      } else if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
      if (code < 0x80) out[at++] = code;
      else if (code < 0x800) {
        out[at++] = 0xc0 | (code >> 6);
        out[at++] = 0x80 | (code & 63);
      } else if (code < 0x10000) {
        out[at++] = 0xe0 | (code >> 12);
        out[at++] = 0x80 | ((code >> 6) & 63);
        out[at++] = 0x80 | (code & 63);
      } else {
        out[at++] = 0xf0 | (code >> 18);
        out[at++] = 0x80 | ((code >> 12) & 63);
        out[at++] = 0x80 | ((code >> 6) & 63);
        out[at++] = 0x80 | (code & 63);
      }
    }
    return out.subarray(0, at);
  }

  return {
    /** Takes the key (64 hex digits); false when it is not one. */
    keyed(hex: string): boolean {
      if (hex.length !== 64) return false;
      const bytes = new Uint8Array(32);
      for (let i = 0; i < 32; i++) {
        const high = hexValue(hex.charCodeAt(2 * i));
        const low = hexValue(hex.charCodeAt(2 * i + 1));
        if (high < 0 || low < 0) return false;
        bytes[i] = (high << 4) | low;
      }
      key = macKeyOf(bytes);
      bytes.fill(0);
      return true;
    },
    /** HMAC-SHA256 over `prefix` then `body` (as UTF-8), as 64 hex digits. */
    sign(prefix: string, body: string): string {
      if (key === undefined) return "";
      const mac = hmac(key, [utf8(prefix), utf8(body)]);
      const digits = "0123456789abcdef";
      let hex = "";
      for (let i = 0; i < 32; i++)
        hex += (digits[(mac[i] as number) >> 4] as string) + (digits[(mac[i] as number) & 15] as string);
      return hex;
    },
  };
}

const MAC_REALM: ReturnType<typeof macRealm> = runInNewContext(`(${macRealm.toString()})()`);

/** Reads the key line (64 hex digits and a newline) from fd 3, byte-exact, so nothing after it is consumed. */
function readHostKey(): void {
  const line = Buffer.alloc(MAC_HEX_CHARS + 1);
  for (let filled = 0; filled < line.length; ) {
    try {
      const read = readSync(IN, line, filled, line.length - filled, null);
      if (read === 0) exit(0);
      filled += read;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
    }
  }
  const valid = line[MAC_HEX_CHARS] === 10 && MAC_REALM.keyed(line.toString("latin1", 0, MAC_HEX_CHARS));
  line.fill(0);
  if (!valid) exit(2);
}

readHostKey();
let sequence = 0;

/** An object with no prototype, so no toJSON a guest puts on Object.prototype can rewrite the message. */
function message(type: string): Record<string, unknown> {
  const created = createObject(null) as Record<string, unknown>;
  created.type = type;
  return created;
}

function writeAll(data: Uint8Array): void {
  let written = 0;
  while (written < data.length) {
    try {
      written += writeSync(OUT, data, written, data.length - written);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
    }
  }
}

/** Signs and sends one message; throws (sending nothing) if it is over the parent's frame limit. */
function send(fields: Record<string, unknown>): void {
  const json = stringify(fields);
  const body = encodeUtf8(json);
  if (body.length > MAX_FRAME_BYTES)
    throw new Error(`a message of ${body.length} bytes is over the sandbox's limit of ${MAX_FRAME_BYTES}`);
  // Signed in the other realm, from the string: nothing of the hash passes through this realm's objects.
  const mac = MAC_REALM.sign(`${sequence}\n`, json);
  const frame = new Bytes(MAC_HEX_CHARS + body.length + 1);
  for (let i = 0; i < MAC_HEX_CHARS; i++) frame[i] = mac.charCodeAt(i);
  for (let i = 0; i < body.length; i++) frame[MAC_HEX_CHARS + i] = body[i] as number;
  frame[frame.length - 1] = 10;
  sequence++;
  writeAll(frame);
}

/** Bytes read but not yet consumed, as a list of chunks (joined once per message, not per read). */
let chunks: Buffer[] = [];

function readChunk(): Buffer {
  const buffer = Buffer.allocUnsafe(CHUNK);
  for (;;) {
    try {
      const read = readSync(IN, buffer, 0, CHUNK, null);
      if (read === 0) exit(0);
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
  return parseJson(readLine()) as Record<string, unknown>;
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

/**
 * Removes Emscripten's host file systems (NODEFS, NODERAWFS) from the guest's reach: their stream_ops write to raw
 * host fds given a forged stream, and mountNodeFS mounts host folders. Pyodide needs neither once loaded (its files
 * come through Node's fs directly). Defence in depth only: the signature on every frame is what protects the
 * protocol, since other objects (process.stdout's constructor, for one) can write to fds too.
 */
function removeHostFileSystems(pyodide: { FS: unknown; _module?: unknown }): void {
  const holders = [
    (pyodide.FS as { filesystems?: Record<string, unknown> }).filesystems,
    pyodide._module as Record<string, unknown> | undefined,
  ];
  for (const holder of holders) {
    if (holder === undefined) continue;
    for (const name of ["NODEFS", "NODERAWFS"]) delete holder[name];
  }
}

// biome-ignore lint/suspicious/noExplicitAny: Pyodide's proxies take and return anything
type PyCallable = (...args: any[]) => any;

/** The error reply: the text of what went wrong, kept short. */
function errorMessage(error: unknown): Record<string, unknown> {
  const reply = message("error");
  reply.error = (error instanceof Error ? error.message : String(error)).slice(0, 4000);
  return reply;
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
  const packages = optionValue("--packages");
  const pyodide = await loadPyodide({
    indexURL,
    stdout: () => {},
    stderr: () => {},
    // Packages beyond the standard library come only from the folder the user named, never from the network.
    ...(packages ? { lockFileURL: `${packages}/pyodide-lock.json`, packageBaseUrl: `${packages}/` } : {}),
  });
  lockDown();
  removeHostFileSystems(pyodide as unknown as { FS: unknown; _module?: unknown });
  pyodide.registerJsModule("_rlm_host", {
    call(name: string, argsJson: string): string {
      const args = parseJson(argsJson) as unknown;
      if (!isArray(args)) throw new TypeError("host call arguments must be a JSON array");
      const call = message("host-call");
      call.name = String(name);
      call.args = args;
      send(call);
      const reply = readMessage();
      return stringify(reply.ok ? { value: reply.value ?? null } : { error: String(reply.error) });
    },
  });
  pyodide.runPython(PYTHON_PRELUDE);
  // Taken once: guest code can rebind these names in __main__ later, but not what we hold.
  const prelude = (name: string) => pyodide.globals.get(name) as PyCallable;
  const runCell = prelude("_run_cell");
  const setup = prelude("_setup");
  const exportValue = prelude("_export_value");
  const describeJson = prelude("_describe_json");
  const newBuffer = prelude("_new_buffer");
  const decodeBuffer = prelude("_decode_buffer");
  const setInput = prelude("_set_input");
  send(message("ready"));
  for (;;) {
    const request = readMessage();
    try {
      switch (request.type) {
        case "setup":
          setup(pyodide.toPy(request.hostNames), request.outputLimit, request.maxValueChars);
          send(message("done"));
          break;
        case "execute": {
          if (packages) {
            // A package missing from the folder is not an error here: the import then fails in the cell, clearly.
            await pyodide
              .loadPackagesFromImports(String(request.code), {
                messageCallback: () => {},
                errorCallback: () => {},
              })
              .catch(() => undefined);
          }
          const cell = parseJson(String(runCell(String(request.code)))) as Record<string, unknown>;
          const result = message("result");
          result.output = cell.output;
          result.cut = cell.cut;
          if (cell.error !== undefined) result.error = cell.error;
          if (cell.final !== undefined) result.final = cell.final;
          send(result);
          break;
        }
        case "set":
          if (typeof request.textBytes === "number") {
            // A large string: its bytes go straight into a Python bytearray's memory, then Python's own UTF-8
            // codec decodes them (one copy, no JS string on the way).
            const target = newBuffer(request.textBytes);
            const view = target.getBuffer("u8");
            let offset = 0;
            readBytes(request.textBytes, (chunk) => {
              (view.data as Uint8Array).set(chunk, offset);
              offset += chunk.length;
            });
            view.release();
            target.destroy();
            decodeBuffer(String(request.name));
          } else {
            setInput(String(request.name), pyodide.toPy(request.value));
          }
          send(message("done"));
          break;
        case "get":
        case "list": {
          const text =
            request.type === "get"
              ? exportValue(String(request.name), request.maxChars)
              : describeJson(request.maxChars);
          const reply = message("value");
          reply.found = text !== undefined;
          if (text !== undefined) reply.value = parseJson(String(text));
          send(reply);
          break;
        }
        default:
          send(errorMessage(`unknown message ${String(request.type)}`));
      }
    } catch (error) {
      send(errorMessage(error));
      // After a fatal error the runtime is unusable: exit, and the parent starts a fresh one.
      if ((error as { pyodide_fatal_error?: boolean }).pyodide_fatal_error) exit(70);
    }
  }
}

main().catch((error: unknown) => {
  try {
    const fatal = message("fatal");
    fatal.error = error instanceof Error ? `${error.message} ${error.stack}` : String(error);
    send(fatal);
  } finally {
    exit(1);
  }
});
