/** The `rlm` CLI as a real process, for tests: run it to the end, or start it and signal it mid-run. */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The CLI's entry point in the sources (Node 24 runs them directly). */
export const RLM_MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

/** A bare environment: no keys of the developer's, and no Ollama to find by accident. */
export const RLM_ENV: Record<string, string> = {
  PATH: process.env.PATH ?? "",
  OLLAMA_BASE_URL: "http://127.0.0.1:9",
};

export interface RlmProcessOptions {
  cwd?: string;
  /** Added to RLM_ENV. */
  env?: Record<string, string>;
  /** The script to run instead of RLM_MAIN (e.g. the bin). */
  script?: string;
}

export interface RlmOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `rlm ARGS` to its end. */
export function runRlm(args: string[], options: RlmProcessOptions = {}): Promise<RlmOutcome> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [options.script ?? RLM_MAIN, ...args],
      { env: { ...RLM_ENV, ...options.env }, ...(options.cwd ? { cwd: options.cwd } : {}) },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Starts `rlm ARGS`; `exited` resolves to the exit code, `stdout()` and `stderr()` to what it wrote so far. */
export function startRlm(args: string[], options: RlmProcessOptions = {}) {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [options.script ?? RLM_MAIN, ...args],
    {
      env: { ...RLM_ENV, ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (data: Buffer) => {
    stdout += data.toString();
  });
  child.stderr.on("data", (data: Buffer) => {
    stderr += data.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** Waits until `ready()` holds (e.g. a scripted server got its first request), checking every 50 ms. */
export async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((resolve) => setTimeout(resolve, 50));
}

/**
 * Runs `rlm ARGS` through the CLI's entry function in this process (fast, for the many short commands of a
 * test), with stdout and stderr captured; HOME is `home`, so nothing of the developer's is read or written.
 */
export async function runRlmHere(args: string[], home: string): Promise<RlmOutcome> {
  const { PassThrough } = await import("node:stream");
  const { runCli } = await import("../src/cli/run-cli.ts");
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (chunk) => {
    out += chunk;
  });
  stderr.on("data", (chunk) => {
    err += chunk;
  });
  const code = await runCli(args, { stdout, stderr, env: { ...RLM_ENV, HOME: home } });
  return { code, stdout: out, stderr: err };
}

/**
 * The flags that point `rlm` at a scripted OpenAI-compatible server (src/test/scripted-server.ts): the root model
 * asks for "root", llm_query for "sub" (the server's replies tell them apart by `body.model`).
 */
export function scriptedModelFlags(url: string): string[] {
  return ["--model", "openai-compatible:root", "--sub-model", "openai-compatible:sub", "--base-url", url];
}
