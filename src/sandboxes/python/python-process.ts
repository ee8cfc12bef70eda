import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../../errors/config-error.ts";
import type { HostFunction } from "../../spec/sandbox.ts";

/** Messages the child sends, besides host calls. */
export interface ChildReply {
  type: string;
  [field: string]: unknown;
}

const CHILD_SCRIPT = fileURLToPath(
  new URL(`./python-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);
const READY_TIMEOUT_MS = 120_000;
const LARGE_STRING_CHARS = 1 << 20;
/** How long after a take the pool starts its next spare. */
const REFILL_DELAY_MS = 2_000;

let unshareWorks: boolean | undefined;

/** Whether `unshare` can give the child its own empty network (and pid) namespace here (Linux). */
function canUnshare(): boolean {
  if (unshareWorks === undefined) {
    try {
      execFileSync("unshare", ["--user", "--map-root-user", "--net", "--pid", "--fork", "true"], {
        stdio: "ignore",
        timeout: 5000,
      });
      unshareWorks = true;
    } catch {
      unshareWorks = false;
    }
  }
  return unshareWorks;
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

/** How the child is started: Node with the permission model, no code from strings, in its own namespaces. */
function childCommand(options: PythonProcessOptions): {
  command: string;
  args: string[];
  isolatedNetwork: boolean;
} {
  const pyodide = pyodideDirectory();
  const reads = [dirname(CHILD_SCRIPT), pyodide, ...packageFiles(dirname(CHILD_SCRIPT))];
  if (options.packagesDirectory) reads.push(options.packagesDirectory);
  const node = [
    "--permission",
    ...reads.map((path) => `--allow-fs-read=${path}`),
    "--disallow-code-generation-from-strings",
    CHILD_SCRIPT,
    ...(options.packagesDirectory ? ["--packages", options.packagesDirectory] : []),
  ];
  if (process.platform === "linux" && canUnshare()) {
    const isolation = ["--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child"];
    return { command: "unshare", args: [...isolation, process.execPath, ...node], isolatedNetwork: true };
  }
  return { command: process.execPath, args: node, isolatedNetwork: false };
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
 * One Pyodide child process and its two pipes. Requests are answered in order; while one runs, the child may ask
 * for host calls, which are run here and answered on the same pipe.
 */
export class PythonProcess {
  readonly child: ChildProcess;
  readonly isolatedNetwork: boolean;
  readonly ready: Promise<void>;
  private buffer = "";
  private readonly waiting: Array<{ resolve: (reply: ChildReply) => void; reject: (error: Error) => void }> =
    [];
  private hostFunctions: Record<string, HostFunction> = {};
  private stderrTail = "";
  /** Milliseconds spent in host calls during the current request (not counted against the cell's time). */
  hostCallMs = 0;
  exited = false;

  constructor(options: PythonProcessOptions = {}) {
    const { command, args, isolatedNetwork } = childCommand(options);
    this.isolatedNetwork = isolatedNetwork;
    this.child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"], env: {} });
    const fromChild = this.child.stdio[4] as NodeJS.ReadableStream & { unref?: () => void };
    fromChild.setEncoding("utf8");
    fromChild.on("data", (data: string) => this.receive(data));
    this.child.stderr?.setEncoding("utf8");
    this.child.stderr?.on("data", (data: string) => {
      this.stderrTail = (this.stderrTail + data).slice(-2000);
    });
    this.child.on("exit", () => {
      this.exited = true;
      const error = new Error(
        `the Python process ended${this.stderrTail ? `: ${this.stderrTail.trim().split("\n").at(-1)}` : ""}`,
      );
      for (const waiter of this.waiting.splice(0)) waiter.reject(error);
    });
    this.child.on("error", () => undefined);
    (this.child.stdio[3] as NodeJS.WritableStream).on("error", () => undefined);
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("the Python process did not start in time")),
        READY_TIMEOUT_MS,
      );
      timer.unref();
      this.waiting.push({
        resolve: (reply) => {
          clearTimeout(timer);
          if (reply.type === "ready") resolve();
          else reject(new Error(`the Python process failed to start: ${String(reply.error ?? reply.type)}`));
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
    this.ready.catch(() => undefined);
    this.unref();
  }

  /** Lets the parent exit while this (idle) process is alive. */
  unref(): void {
    this.child.unref();
    for (const stream of [this.child.stdio[2], this.child.stdio[3], this.child.stdio[4]]) {
      (stream as unknown as { unref?: () => void } | null)?.unref?.();
    }
  }

  /** Keeps the parent alive while a request is in flight. */
  ref(): void {
    this.child.ref();
    for (const stream of [this.child.stdio[3], this.child.stdio[4]]) {
      (stream as unknown as { ref?: () => void } | null)?.ref?.();
    }
  }

  setHostFunctions(functions: Record<string, HostFunction>): void {
    this.hostFunctions = functions;
  }

  private receive(data: string): void {
    this.buffer += data;
    for (let newline = this.buffer.indexOf("\n"); newline !== -1; newline = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      const message = JSON.parse(line) as ChildReply;
      if (message.type === "host-call") void this.answerHostCall(message);
      else this.waiting.shift()?.resolve(message);
    }
  }

  private async answerHostCall(message: ChildReply): Promise<void> {
    const started = performance.now();
    const fn = this.hostFunctions[String(message.name)];
    let reply: Record<string, unknown>;
    try {
      if (fn === undefined) throw new Error(`no host function ${String(message.name)}`);
      reply = { ok: true, value: (await fn(...((message.args as unknown[]) ?? []))) ?? null };
    } catch (error) {
      reply = { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    this.hostCallMs += performance.now() - started;
    this.write(`${JSON.stringify(reply)}\n`);
  }

  private write(data: string | Buffer): void {
    if (!this.exited) (this.child.stdio[3] as NodeJS.WritableStream).write(data);
  }

  /** Sends a request and resolves to the child's reply. */
  request(message: Record<string, unknown>): Promise<ChildReply> {
    if (this.exited) return Promise.reject(new Error("the Python process has ended"));
    return new Promise<ChildReply>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      const value = message.value;
      if (typeof value === "string" && value.length > LARGE_STRING_CHARS) {
        // A large string goes as raw UTF-8 after a header that gives its byte length: no JSON escaping.
        const header = { ...message, value: undefined, textBytes: Buffer.byteLength(value, "utf8") };
        this.write(`${JSON.stringify(header)}\n`);
        this.write(value);
      } else {
        this.write(`${JSON.stringify(message)}\n`);
      }
    });
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
    taken.ref();
    try {
      await taken.ready;
    } finally {
      taken.unref();
    }
    return taken;
  }

  dispose(): void {
    this.spare?.kill();
    this.spare = undefined;
  }
}
