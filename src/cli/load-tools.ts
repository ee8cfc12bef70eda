/** `rlm run --tools FILE.mjs` and `--sub-tools FILE.mjs`: the user's tools, loaded from a module of theirs. */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { RLMOptions } from "../engine/rlm.ts";
import { prepareTools } from "../engine/user-tools.ts";
import { UsageError } from "../errors/usage-error.ts";
import type { Sandbox } from "../spec/sandbox.ts";
import type { Tools } from "../spec/tool.ts";
import { positiveNumber } from "./parse-options.ts";

const SHAPE = "export default { lookup_price: { description, parameters?, execute(args) } }";

function firstLine(text: string): string {
  const line = (text.split("\n", 1)[0] ?? "").trim();
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

/**
 * Imports a module whose default export is an object of tools and checks it: each tool has an execute function
 * and a name the REPL can take (`language`; undefined for sub-tools). Every mistake is a UsageError of one line.
 */
export async function loadTools(
  flag: string,
  path: string,
  language: "javascript" | "python" | undefined,
): Promise<Tools> {
  const where = `${flag} ${path}`;
  const full = resolve(path);
  if (!existsSync(full) || !statSync(full).isFile())
    throw new UsageError({ message: `${where}: no such file.` });
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(full).href)) as { default?: unknown };
  } catch (error) {
    throw new UsageError({
      message: `${where}: the module could not be loaded (${firstLine(error instanceof Error ? error.message : String(error))}).`,
    });
  }
  const tools = module.default;
  if (typeof tools !== "object" || tools === null || Array.isArray(tools)) {
    throw new UsageError({ message: `${where}: the module needs a default export of tools: ${SHAPE}.` });
  }
  const entries = Object.entries(tools);
  if (entries.length === 0) throw new UsageError({ message: `${where}: the default export holds no tools.` });
  for (const [name, tool] of entries) {
    if (typeof (tool as { execute?: unknown } | null)?.execute !== "function") {
      throw new UsageError({ message: `${where}: the tool "${name}" has no execute function (${SHAPE}).` });
    }
  }
  prepareTools(tools as Tools, language, where);
  return tools as Tools;
}

/** The tool options of `rlm run`: --tools, --sub-tools, --tool-timeout (--max-tool-calls is a limit). */
export async function readToolOptions(
  values: { tools?: string; "sub-tools"?: string; "tool-timeout"?: string },
  strategyName: string,
  sandbox: Sandbox | undefined,
): Promise<Pick<RLMOptions, "tools" | "subTools" | "toolTimeoutMs">> {
  const flags = (["tools", "sub-tools"] as const).filter((flag) => values[flag] !== undefined);
  if (flags.length > 0 && strategyName !== "rlm") {
    throw new UsageError({ message: `--${flags[0]} works with the rlm strategy, not ${strategyName}.` });
  }
  const timeout = positiveNumber("tool-timeout", values["tool-timeout"]);
  if (timeout !== undefined && timeout > 86_400) {
    throw new UsageError({
      message: `--tool-timeout must be at most 86400 seconds, got ${values["tool-timeout"]}.`,
    });
  }
  const language = sandbox?.language ?? "javascript";
  const tools = values.tools === undefined ? undefined : await loadTools("--tools", values.tools, language);
  const subTools =
    values["sub-tools"] === undefined
      ? undefined
      : await loadTools("--sub-tools", values["sub-tools"], undefined);
  return {
    ...(tools ? { tools } : {}),
    ...(subTools ? { subTools } : {}),
    ...(timeout === undefined ? {} : { toolTimeoutMs: timeout * 1000 }),
  };
}
