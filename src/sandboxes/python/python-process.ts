import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHmac, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../../errors/config-error.ts";
import type { HostFunction } from "../../spec/sandbox.ts";

/**
 * The pipe protocol, host side. The child is not trusted: guest code can write raw bytes to any of its file
 * descriptors. So every line the child sends is signed: `<HMAC-SHA256 in hex><JSON>\n`, keyed with a secret this
 * process sends as the child's very first input (read before Pyodide loads or any guest code runs), over the
 * frame's sequence number and its JSON. A line that fails the check, is not JSON of a known shape, is longer than
 * MAX_FRAME_BYTES, or comes when nothing asked for it, is a protocol violation: the child is killed and what was
 * waiting fails. Nothing the child sends can make this process throw.
 */

/** The most bytes one line from the child may have; a longer one is a violation, refused before it is all read. */
export const MAX_FRAME_BYTES = 64 << 20;
/** The most characters of JSON a value read back from the guest may have (getVariable, listVariables, FINAL). */
export const MAX_VALUE_CHARS = 8 << 20;
const KEY_BYTES = 32;
const MAC_HEX_CHARS = 64;

/** An error the guest raised, as the child reports it. */
export interface GuestError {
  name: string;
  message: string;
  line?: number;
  traceback?: string;
}

/** The replies to requests, checked for shape. */
export type ChildReply =
  | { type: "ready" }
  | { type: "done" }
  | { type: "result"; output: string; cut: number; error?: GuestError; final?: { value: unknown } }
  | { type: "value"; found: boolean; value?: unknown }
  | { type: "error"; error: string };

/** What the host sends; each request has one reply type (or "error"). */
export type HostRequest =
  | { type: "setup"; hostNames: string[]; outputLimit: number; maxValueChars: number }
  | { type: "set"; name: string; value: unknown }
  | { type: "execute"; code: string }
  | { type: "get"; name: string; maxChars: number }
  | { type: "list"; maxChars: number };

const REPLY_TO: Record<HostRequest["type"] | "start", ChildReply["type"]> = {
  start: "ready",
  setup: "done",
  set: "done",
  execute: "result",
  get: "value",
  list: "value",
};

interface HostCall {
  type: "host-call";
  name: string;
  args: unknown[];
}

type ChildMessage = ChildReply | HostCall | { type: "fatal"; error: string };

/** The child broke the protocol; the process has been killed. */
export class ProtocolViolation extends Error {
  override name = "SandboxProtocolError";
}

const CHILD_SCRIPT = fileURLToPath(
  new URL(`./python-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);
const READY_TIMEOUT_MS = 120_000;
const STDERR_TAIL_BYTES = 2000;
const LARGE_STRING_CHARS = 1 << 20;
/** How long after a take the pool starts its next spare. */
const REFILL_DELAY_MS = 2_000;

/** Runs `command args` once and says whether it exited 0 (for probing what this system offers). */
function commandWorks(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: "ignore", timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

let unshareWorks: boolean | undefined;
let pdeathsigWorks: boolean | undefined;

/** Whether `unshare` can give the child its own empty network (and pid) namespace here (Linux). */
function canUnshare(): boolean {
  unshareWorks ??= commandWorks("unshare", ["--user", "--map-root-user", "--net", "--pid", "--fork", "true"]);
  return unshareWorks;
}

/**
 * Whether util-linux `setpriv --pdeathsig` is here. It asks the kernel to SIGKILL the child when this process
 * dies, however it dies (SIGKILL included, where no handler of ours runs); the signal carries across unshare's
 * exec, and unshare's --kill-child passes it on to the sandboxed Node.
 */
function canSetDeathSignal(): boolean {
  pdeathsigWorks ??= process.platform === "linux" && commandWorks("setpriv", ["--pdeathsig", "KILL", "true"]);
  return pdeathsigWorks;
}

function pyodideDirectory(): string {
  try {
    return dirname(fileURLToPath(import.meta.resolve("pyodide")));
  } catch {
    throw new ConfigError({
      message:
        "The Python sandbox needs the optional package pyodide: install it with `npm install pyodide@314`.",
    });
  }
}

/** The package.json files Node reads to resolve the child's modules (nearest first). */
function packageFiles(from: string): string[] {
  const files: string[] = [];
  for (let directory = from; ; directory = dirname(directory)) {
    const candidate = join(directory, "package.json");
    if (existsSync(candidate)) files.push(candidate);
    if (dirname(directory) === directory) return files;
  }
}

export interface PythonProcessOptions {
  /** A folder of Pyodide packages (wheels and a pyodide-lock.json) the sandbox may load; nothing is downloaded. */
  packagesDirectory?: string;
}

/**
 * How the child is started: Node with the permission model, no code from strings, in its own namespaces, and
 * (where setpriv allows) bound to die with this process.
 */
function childCommand(options: PythonProcessOptions): {
  command: string;
  args: string[];
  isolatedNetwork: boolean;
} {
  const pyodide = pyodideDirectory();
  const reads = [dirname(CHILD_SCRIPT), pyodide, ...packageFiles(dirname(CHILD_SCRIPT))];
  if (options.packagesDirectory) reads.push(options.packagesDirectory);
  const node = [
    process.execPath,
    "--permission",
    ...reads.map((path) => `--allow-fs-read=${path}`),
    "--disallow-code-generation-from-strings",
    CHILD_SCRIPT,
    "--max-frame-bytes",
    String(MAX_FRAME_BYTES),
    ...(options.packagesDirectory ? ["--packages", options.packagesDirectory] : []),
  ];
  const isolatedNetwork = process.platform === "linux" && canUnshare();
  const isolation = isolatedNetwork
    ? ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child"]
    : [];
  const deathSignal = canSetDeathSignal() ? ["setpriv", "--pdeathsig", "KILL"] : [];
  const [command, ...args] = [...deathSignal, ...isolation, ...node] as [string, ...string[]];
  return { command, args, isolatedNetwork };
}

/** The resident memory of a process and all its descendants, in bytes (Linux /proc; 0 elsewhere). */
export function treeRss(pid: number): number {
  let total = 0;
  const visit = (id: number) => {
    try {
      const status = readFileSync(`/proc/${id}/status`, "utf8");
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      for (const task of readdirSync(`/proc/${id}/task`)) {
        const children = readFileSync(`/proc/${id}/task/${task}/children`, "utf8").trim();
        for (const child of children === "" ? [] : children.split(/\s+/)) visit(Number(child));
      }
    } catch {
      // the process is gone, or this is not Linux
    }
  };
  visit(pid);
  return total;
}

/**
 * Splits a byte stream into lines in linear time: chunks are kept as they come, only the new chunk is searched
 * for a newline, and a line's chunks are joined once. A line longer than `maxBytes` is reported as soon as it
 * passes the bound, without buffering the rest.
 */
class LineSplitter {
  private readonly maxBytes: number;
  private readonly onLine: (line: Buffer) => void;
  private readonly onTooLong: () => void;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(maxBytes: number, onLine: (line: Buffer) => void, onTooLong: () => void) {
    this.maxBytes = maxBytes;
    this.onLine = onLine;
    this.onTooLong = onTooLong;
  }

  /** Takes the next chunk; returns false once a line was too long (the caller stops feeding). */
  push(chunk: Buffer): boolean {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(10, start);
      const end = newline === -1 ? chunk.length : newline;
      if (this.pendingBytes + (end - start) > this.maxBytes) {
        this.pending = [];
        this.onTooLong();
        return false;
      }
      if (newline === -1) {
        if (end > start) this.pending.push(chunk.subarray(start));
        this.pendingBytes += end - start;
        return true;
      }
      const tail = chunk.subarray(start, newline);
      const line = this.pending.length === 0 ? tail : Buffer.concat([...this.pending, tail]);
      this.pending = [];
      this.pendingBytes = 0;
      this.onLine(line);
      start = newline + 1;
    }
  }
}

/** Checks each frame's MAC against the process key and the next sequence number; returns the JSON bytes. */
class FrameVerifier {
  private readonly key: KeyObject;
  private sequence = 0;

  constructor(key: KeyObject) {
    this.key = key;
  }

  /** The frame's JSON, or undefined when its MAC is wrong (or it is too short to carry one). */
  verify(line: Buffer): Buffer | undefined {
    if (line.length < MAC_HEX_CHARS) return undefined;
    const body = line.subarray(MAC_HEX_CHARS);
    const expected = Buffer.from(
      createHmac("sha256", this.key).update(`${this.sequence}\n`).update(body).digest("hex"),
      "latin1",
    );
    if (!timingSafeEqual(expected, line.subarray(0, MAC_HEX_CHARS))) return undefined;
    this.sequence++;
    return body;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const optionalString = (value: unknown) => value === undefined || typeof value === "string";

function validGuestError(value: unknown): value is GuestError {
  return (
    isRecord(value) &&
    typeof value.name === "string" &&
    typeof value.message === "string" &&
    (value.line === undefined || value.line === null || typeof value.line === "number") &&
    optionalString(value.traceback)
  );
}

/** The message, if `value` has the shape of one the child may send; otherwise why not. */
function checkMessage(value: unknown): ChildMessage | string {
  if (!isRecord(value)) return "a message that is not a JSON object";
  switch (value.type) {
    case "ready":
    case "done":
      return { type: value.type };
    case "error":
    case "fatal":
      return typeof value.error === "string"
        ? { type: value.type, error: value.error }
        : "an error without text";
    case "host-call":
      return typeof value.name === "string" && Array.isArray(value.args)
        ? { type: "host-call", name: value.name, args: value.args }
        : "a malformed host call";
    case "value":
      if (typeof value.found !== "boolean") return "a malformed value";
      return value.found
        ? { type: "value", found: true, value: value.value }
        : { type: "value", found: false };
    case "result": {
      if (typeof value.output !== "string" || typeof value.cut !== "number") return "a malformed result";
      if (value.error !== undefined && !validGuestError(value.error))
        return "a result with a malformed error";
      if (value.final !== undefined && !(isRecord(value.final) && "value" in value.final))
        return "a result with a malformed final answer";
      const error = value.error as (GuestError & { line?: number | null }) | undefined;
      return {
        type: "result",
        output: value.output,
        cut: value.cut,
        ...(error
          ? {
              error: {
                name: error.name,
                message: error.message,
                ...(typeof error.line === "number" ? { line: error.line } : {}),
                ...(error.traceback === undefined ? {} : { traceback: error.traceback }),
              },
            }
          : {}),
        ...(value.final === undefined ? {} : { final: { value: (value.final as { value: unknown }).value } }),
      };
    }
    default:
      return "a message of unknown type";
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Processes still running, killed if this process exits normally (the death signal covers the other ways). */
const running = new Set<PythonProcess>();
let exitHookInstalled = false;

function killOnExit(child: PythonProcess): void {
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const each of running) each.kill();
    });
  }
}

interface Waiter {
  expects: ChildReply["type"];
  resolve: (reply: ChildReply) => void;
  reject: (error: Error) => void;
}

/**
 * One Pyodide child process and its two pipes. Requests are answered in order; while one runs, the child may ask
 * for host calls, which are run here and answered on the same pipe.
 */
export class PythonProcess {
  readonly child: ChildProcess;
  readonly isolatedNetwork: boolean;
  readonly ready: Promise<void>;
  private readonly waiting: Waiter[] = [];
  private readonly splitter: LineSplitter;
  private readonly verifier: FrameVerifier;
  private hostFunctions: Record<string, HostFunction> = {};
  /** The last bytes the child wrote to stderr (kept raw: a guest may flood fd 2, and decoding it all costs). */
  private stderrTail = Buffer.alloc(0);
  private holds = 0;
  private readonly refHolds: Array<() => void> = [];
  private hostCallsInFlight = 0;
  private hostWaitSince = 0;
  private hostWaitedMs = 0;
  /** Time spent inside host functions before they returned or handed back a promise, since the last reset. */
  private hostWorkMs = 0;
  /** Why the child was stopped for breaking the protocol, if it was. */
  violation: string | undefined;
  exited = false;

  constructor(options: PythonProcessOptions = {}) {
    const { command, args, isolatedNetwork } = childCommand(options);
    this.isolatedNetwork = isolatedNetwork;
    const key = randomBytes(KEY_BYTES);
    this.verifier = new FrameVerifier(createSecretKey(key));
    this.splitter = new LineSplitter(
      MAX_FRAME_BYTES + MAC_HEX_CHARS,
      (line) => this.receiveLine(line),
      () => this.violate(`a message longer than ${MAX_FRAME_BYTES} bytes`),
    );
    this.child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"], env: {} });
    killOnExit(this);
    // The key goes first, before the child loads Pyodide; it reads exactly this line.
    this.write(`${key.toString("hex")}\n`);
    key.fill(0);
    const fromChild = this.child.stdio[4] as NodeJS.ReadableStream;
    fromChild.on("data", (chunk: Buffer) => this.receive(chunk));
    // Without its reply pipe the child can do nothing useful (the guest may have closed it).
    fromChild.on("end", () => this.kill());
    fromChild.on("error", () => this.kill());
    this.child.stderr?.on("data", (chunk: Buffer) => {
      this.stderrTail = Buffer.concat([this.stderrTail, chunk.subarray(-STDERR_TAIL_BYTES)]).subarray(
        -STDERR_TAIL_BYTES,
      );
    });
    this.child.on("exit", () => {
      this.exited = true;
      running.delete(this);
      const last = this.stderrTail.toString("utf8").trim().split("\n").at(-1)?.slice(0, 300);
      const error = new Error(`the Python process ended${last ? `: ${last}` : ""}`);
      for (const waiter of this.waiting.splice(0)) waiter.reject(error);
    });
    this.child.on("error", () => undefined);
    (this.child.stdio[3] as NodeJS.WritableStream).on("error", () => undefined);
    this.ready = this.awaitReady();
    this.ready.catch(() => undefined);
    this.setReferenced(false);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  private awaitReady(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error("the Python process did not start in time"));
        this.kill();
      }, READY_TIMEOUT_MS);
      timer.unref();
      this.waiting.push({
        expects: REPLY_TO.start,
        resolve: (reply) => {
          clearTimeout(timer);
          if (reply.type === "ready") resolve();
          else
            reject(
              new Error(`the Python process failed to start: ${reply.type === "error" ? reply.error : ""}`),
            );
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  private setReferenced(referenced: boolean): void {
    if (referenced) this.child.ref();
    else this.child.unref();
    for (const stream of [this.child.stdio[2], this.child.stdio[3], this.child.stdio[4]]) {
      const handle = stream as unknown as { ref?: () => void; unref?: () => void } | null;
      if (referenced) handle?.ref?.();
      else handle?.unref?.();
    }
  }

  /**
   * Keeps this process (and so the parent's event loop) alive until the returned release is called. Idle
   * processes are unreferenced, so the parent can exit while a spare waits; every request holds one.
   */
  hold(): () => void {
    if (this.holds++ === 0) this.setReferenced(true);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holds === 0) this.setReferenced(false);
    };
  }

  /** Keeps the parent alive until the matching unref (for callers outside a request, such as benchmarks). */
  ref(): void {
    this.refHolds.push(this.hold());
  }

  unref(): void {
    this.refHolds.pop()?.();
  }

  setHostFunctions(functions: Record<string, HostFunction>): void {
    this.hostFunctions = functions;
  }

  /** Starts counting host-call waiting from zero (at the start of a request). */
  resetHostWait(): void {
    this.hostWaitedMs = 0;
    this.hostWorkMs = 0;
    this.hostWaitSince = performance.now();
  }

  /**
   * Milliseconds since the last reset during which at least one host call was in flight, the one in flight now
   * included: the child is blocked then, so this time is not the guest's CPU time.
   */
  hostWaitMs(): number {
    const waited =
      this.hostWaitedMs + (this.hostCallsInFlight > 0 ? performance.now() - this.hostWaitSince : 0);
    // Work the host's thread did inside host functions (count_tokens, chunk) was done for the guest: it counts.
    return Math.max(0, waited - this.hostWorkMs);
  }

  private hostCallStarted(): void {
    if (this.hostCallsInFlight++ === 0) this.hostWaitSince = performance.now();
  }

  private hostCallEnded(): void {
    if (--this.hostCallsInFlight === 0) this.hostWaitedMs += performance.now() - this.hostWaitSince;
  }

  private receive(chunk: Buffer): void {
    if (this.violation !== undefined) return;
    try {
      this.splitter.push(chunk);
    } catch (error) {
      this.violate(`a message that could not be read (${messageOf(error)})`);
    }
  }

  private receiveLine(line: Buffer): void {
    if (this.violation !== undefined) return;
    const body = this.verifier.verify(line);
    if (body === undefined) {
      this.violate("a message without a valid signature");
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {
      this.violate("a message that is not JSON");
      return;
    }
    const message = checkMessage(parsed);
    if (typeof message === "string") {
      this.violate(message);
      return;
    }
    this.dispatch(message);
  }

  private dispatch(message: ChildMessage): void {
    if (message.type === "fatal") {
      const error = new Error(`the Python process failed: ${message.error.slice(0, 2000)}`);
      for (const waiter of this.waiting.splice(0)) waiter.reject(error);
      this.kill();
      return;
    }
    const waiter = this.waiting[0];
    if (waiter === undefined) {
      this.violate(`a ${message.type} message that nothing asked for`);
      return;
    }
    if (message.type === "host-call") {
      // Host calls come only from guest code, which runs only inside a request (never while starting).
      if (waiter.expects === "ready") {
        this.violate("a host call before the process was ready");
        return;
      }
      void this.answerHostCall(message);
      return;
    }
    if (message.type !== waiter.expects && message.type !== "error") {
      this.violate(`a ${message.type} message in reply to a request for ${waiter.expects}`);
      return;
    }
    this.waiting.shift();
    waiter.resolve(message);
  }

  /** Stops the child for breaking the protocol; whatever waits fails with the reason. */
  private violate(reason: string): void {
    if (this.violation !== undefined) return;
    this.violation = reason;
    this.kill();
    const error = new ProtocolViolation(`the Python process sent ${reason}`);
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
  }

  private async answerHostCall(call: HostCall): Promise<void> {
    this.hostCallStarted();
    let reply: string;
    try {
      // Only the functions given, never a property every object inherits (constructor, __proto__, ...).
      const fn = Object.hasOwn(this.hostFunctions, call.name) ? this.hostFunctions[call.name] : undefined;
      if (typeof fn !== "function") throw new Error(`no host function ${call.name}`);
      const started = performance.now();
      let pending: unknown;
      try {
        pending = fn(...call.args);
      } finally {
        this.hostWorkMs += performance.now() - started;
      }
      reply = JSON.stringify({ ok: true, value: (await pending) ?? null });
    } catch (error) {
      reply = JSON.stringify({ ok: false, error: messageOf(error) });
    } finally {
      this.hostCallEnded();
    }
    this.write(`${reply}\n`);
  }

  private write(data: string): void {
    if (!this.exited) (this.child.stdio[3] as NodeJS.WritableStream).write(data);
  }

  /** Sends a request and resolves to the child's reply (of the type the request asks for, or an error). */
  request(message: HostRequest): Promise<ChildReply> {
    if (this.exited || this.violation !== undefined)
      return Promise.reject(new Error("the Python process has ended"));
    const release = this.hold();
    const reply = new Promise<ChildReply>((resolve, reject) => {
      this.waiting.push({ expects: REPLY_TO[message.type], resolve, reject });
      if (
        message.type === "set" &&
        typeof message.value === "string" &&
        message.value.length > LARGE_STRING_CHARS
      ) {
        // A large string goes as raw UTF-8 after a header that gives its byte length: no JSON escaping.
        const header = {
          type: "set",
          name: message.name,
          textBytes: Buffer.byteLength(message.value, "utf8"),
        };
        this.write(`${JSON.stringify(header)}\n`);
        this.write(message.value);
      } else {
        this.write(`${JSON.stringify(message)}\n`);
      }
    });
    reply.then(release, release);
    return reply;
  }

  kill(): void {
    if (!this.exited) this.child.kill("SIGKILL");
  }
}

/** Keeps one started Python process in reserve, so a session (or a restart) does not wait for Pyodide to load. */
export class PythonPool {
  private readonly options: PythonProcessOptions;
  private spare: PythonProcess | undefined;

  constructor(options: PythonProcessOptions = {}) {
    this.options = options;
  }

  /** Starts the spare now (call early to hide Pyodide's start-up time). */
  warm(): void {
    if (this.spare === undefined || this.spare.exited) this.spare = new PythonProcess(this.options);
  }

  /**
   * A started process. The next spare starts a little later, so that loading Pyodide (a CPU-heavy second or two)
   * does not compete with the new session's first work, which is usually taking in its context.
   */
  async take(): Promise<PythonProcess> {
    this.warm();
    const taken = this.spare as PythonProcess;
    this.spare = undefined;
    setTimeout(() => this.warm(), REFILL_DELAY_MS).unref();
    const release = taken.hold();
    try {
      await taken.ready;
    } finally {
      release();
    }
    return taken;
  }

  dispose(): void {
    this.spare?.kill();
    this.spare = undefined;
  }
}
