/** A run never loses its answer: trace failures, partial answers, a reader that goes away, a cut-off trace. */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm, startRlm } from "../../test/rlm-process.ts";
import { startScriptedServer } from "../test/scripted-server.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-answers-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
const rlm = (args: string[]) => runRlm(args, { cwd: root });

describe("rlm run keeps the answer", () => {
  it.skipIf(!existsSync("/dev/full"))("when the trace cannot be written (disk full)", async () => {
    await using server = await startScriptedServer({
      replies: () => ({ text: repl("FINAL('the answer')") }),
    });
    writeFileSync(join(root, "small.txt"), "tiny");
    const args = ["run", "--context", "small.txt", "--query", "q", "--model", "openai-compatible:root"];
    const result = await rlm([...args, "--base-url", server.url, "--trace", "/dev/full", "--json"]);
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout);
    expect(printed.answer).toBe("the answer");
    expect(printed.warnings.join(" ")).toMatch(/trace \/dev\/full could not be written \(ENOSPC\)/);
  });

  it("prints the partial answer with --json when a limit ends the run", async () => {
    await using server = await startScriptedServer({
      replies: () => ({ text: `I think it is 42.\n${repl("print('checking')")}` }),
    });
    writeFileSync(join(root, "small.txt"), "tiny");
    const result = await rlm([
      "run",
      "--context",
      "small.txt",
      "--query",
      "q",
      "--model",
      "openai-compatible:root",
      "--base-url",
      server.url,
      "--max-iterations",
      "1",
      "--json",
    ]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: "max_iterations" });
    expect(JSON.parse(result.stdout).answer ?? JSON.parse(result.stdout).partialAnswer).toBeTruthy();
  });

  it("exits quietly when the reader of its output goes away", async () => {
    const long = "x".repeat(2_000_000);
    await using server = await startScriptedServer({ replies: () => ({ text: repl(`FINAL("${long}")`) }) });
    writeFileSync(join(root, "small.txt"), "tiny");
    const run = startRlm(
      [
        "run",
        "--context",
        "small.txt",
        "--query",
        "q",
        "--model",
        "openai-compatible:root",
        "--base-url",
        server.url,
      ],
      { cwd: root },
    );
    run.child.stdout.once("data", () => run.child.stdout.destroy());
    const code = await run.exited;
    expect(run.stderr()).not.toMatch(/EPIPE|at .*\.ts:\d+/);
    expect(code).toBe(0);
  });
});

describe("rlm trace show", () => {
  it("shows a trace whose last line was cut off, with a warning", async () => {
    const start = {
      type: "run-start",
      at: 1,
      runId: "r",
      depth: 0,
      query: "q",
      model: "m",
      subModel: "m",
      contextChars: 1,
    };
    writeFileSync(join(root, "cut.jsonl"), `${JSON.stringify(start)}\n{"type":"iteration-st`);
    const result = await rlm(["trace", "show", "cut.jsonl"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/cut\.jsonl:2: the last line is cut off/);
    expect(result.stdout).toMatch(/q/);
  });
});

describe("the rlm executable", () => {
  it("checks the Node version first, then runs the CLI", async () => {
    const bin = fileURLToPath(new URL("./bin.ts", import.meta.url));
    const result = await runRlm(["--version"], { cwd: root, script: bin });
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
