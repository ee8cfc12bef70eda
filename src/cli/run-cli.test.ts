import { spawnSync } from "node:child_process";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { startScriptedServer } from "../test/scripted-server.ts";
import { VERSION } from "../version.ts";
import type { CliIo } from "./cli-io.ts";
import { runCli } from "./run-cli.ts";

function captureIo(env: Record<string, string | undefined> = { OLLAMA_BASE_URL: "http://127.0.0.1:9" }) {
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
  const io: CliIo = { stdout, stderr, env };
  return { io, out: () => out, err: () => err };
}

describe("rlm CLI", () => {
  it("prints help and version with exit 0", async () => {
    const help = captureIo();
    expect(await runCli(["--help"], help.io)).toBe(0);
    expect(help.out()).toContain("Usage: rlm <command>");
    expect(help.out()).toContain("models");
    const version = captureIo();
    expect(await runCli(["--version"], version.io)).toBe(0);
    expect(version.out().trim()).toBe(VERSION);
  });

  it("shows a command's help", async () => {
    const capture = captureIo();
    expect(await runCli(["models", "--help"], capture.io)).toBe(0);
    expect(capture.out()).toContain("Usage: rlm models");
  });

  it("exits 2 with one clear line for an unknown command or option", async () => {
    const unknown = captureIo();
    expect(await runCli(["frobnicate"], unknown.io)).toBe(2);
    expect(unknown.err()).toBe(
      'rlm: error: Unknown command "frobnicate". Commands: run, agent, chat, mcp, serve, worker, keys, bench, memory, feedback, cases, playbook, models, trace. Run `rlm --help`.\n',
    );
    const option = captureIo();
    expect(await runCli(["models", "--nope"], option.io)).toBe(2);
    expect(option.err().trim().split("\n")).toHaveLength(1);
    expect(option.err()).toContain("--nope");
    expect(option.err()).toContain("rlm models --help");
  });

  it("exits 2 and prints help on stderr when no command is given", async () => {
    const capture = captureIo();
    expect(await runCli([], capture.io)).toBe(2);
    expect(capture.err()).toContain("Usage: rlm <command>");
    expect(capture.out()).toBe("");
  });

  it("lists configured and reachable providers as JSON, and nothing else on stdout", async () => {
    await using server = await startScriptedServer({
      replies: [],
      models: ["qwen3-8b"],
      ollamaModels: ["llama3:8b"],
    });
    const capture = captureIo({
      OPENAI_API_KEY: "sk-abcdefghijklmnop1234",
      OLLAMA_BASE_URL: server.origin,
      OPENAI_COMPATIBLE_BASE_URL: server.url,
    });
    expect(await runCli(["models", "--json"], capture.io)).toBe(0);
    const report = JSON.parse(capture.out());
    const byName = Object.fromEntries(
      report.providers.map((status: { provider: string }) => [status.provider, status]),
    );
    expect(byName.openai.configured).toBe(true);
    expect(byName.anthropic.configured).toBe(false);
    expect(byName.ollama).toMatchObject({ reachable: true, models: ["ollama:llama3:8b"] });
    expect(byName["openai-compatible"]).toMatchObject({
      reachable: true,
      models: ["openai-compatible:qwen3-8b"],
    });
    expect(report.defaultModel).toBe("openai:gpt-5-mini");
    expect(capture.out()).not.toContain("sk-abcdefghijklmnop1234");
  });

  it("explains how to configure a model when none is", async () => {
    const capture = captureIo();
    expect(await runCli(["models"], capture.io)).toBe(0);
    expect(capture.out()).toContain("default model: none");
    expect(capture.out()).toContain("RLM_MODEL");
  });
});

describe("the rlm executable", () => {
  const main = fileURLToPath(new URL("./main.ts", import.meta.url));
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [main, ...args], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", OLLAMA_BASE_URL: "http://127.0.0.1:9", ...env },
    });

  it("runs as a process with the documented exit codes", () => {
    const help = run(["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("Usage: rlm");
    const bad = run(["models", "--json", "--what"]);
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});
