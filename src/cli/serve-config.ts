/**
 * The flags `rlm serve` and `rlm worker` read the same way: the models runs may name, the sub-model, the base
 * URL and the prices, as the ServeConfig both build their runs from (a worker must run a queued run as the
 * server would).
 */
import { UsageError } from "../errors/usage-error.ts";
import { createEmbedder } from "../memory/embedder.ts";
import { defaultMemoryLocation, openMemoryStore } from "../memory/open-memory-store.ts";
import { findDefaultModel } from "../models/default-model.ts";
import { settingsForModel } from "../models/model-settings.ts";
import { loadPriceTable } from "../models/prices.ts";
import { resolveModel } from "../models/resolve-model.ts";
import type { ServeConfig, ServeMemory } from "../serve/run-spec.ts";
import { isPostgresUrl } from "../shared/postgres-url.ts";
import { type CliIo, writeLine } from "./cli-io.ts";
import { fillOptionalValue, nonNegativeInteger } from "./parse-options.ts";

export interface ServeConfigValues {
  model?: string[];
  "sub-model"?: string;
  "base-url"?: string;
  prices?: string;
}

/** Each model resolved once at start, so a missing key or base URL stops the process before it takes runs. */
function checkModels(specs: string[], settings: { env: CliIo["env"]; baseUrl?: string }): void {
  const root = specs[0];
  for (const spec of specs) {
    try {
      resolveModel(spec, settingsForModel(spec, root, settings));
    } catch (error) {
      throw new UsageError({ message: `--model ${spec}: ${(error as Error).message}` });
    }
  }
}

/**
 * `--model SPEC` (repeated; without one, the default model), `--sub-model`, `--base-url` and `--prices`, checked,
 * as a ServeConfig.
 */
export async function readServeConfig(values: ServeConfigValues, env: CliIo["env"]): Promise<ServeConfig> {
  const settings = { env, ...(values["base-url"] ? { baseUrl: values["base-url"] } : {}) };
  const models = values.model ?? [await findDefaultModel(settings)];
  const subModel = values["sub-model"];
  checkModels([...models, ...(subModel ? [subModel] : [])], settings);
  return {
    models,
    ...(subModel ? { subModel } : {}),
    settings,
    ...(values.prices ? { prices: loadPriceTable(values.prices) } : {}),
  };
}

/** `--memory [DB]` and its flags for `rlm serve` and `rlm worker`. */
export const SERVE_MEMORY_OPTIONS = {
  memory: { type: "string" },
  "memory-recall": { type: "string" },
  "embed-model": { type: "string" },
  "no-cases": { type: "boolean" },
} as const;

export interface ServeMemoryValues {
  memory?: string;
  "memory-recall"?: string;
  "embed-model"?: string;
  "no-cases"?: boolean;
}

/**
 * Lets `--memory` stand without a value: the memory then lives in the `--db` PostgreSQL database when one is
 * given (beside the job queue's tables), else in the default SQLite file.
 */
export function fillServeMemoryFlag(args: string[], env: CliIo["env"]): string[] {
  const at = args.findIndex((arg) => arg === "--db" || arg.startsWith("--db="));
  const db = at < 0 ? undefined : args[at]?.startsWith("--db=") ? args[at]?.slice(5) : args[at + 1];
  return fillOptionalValue(args, "--memory", () =>
    db !== undefined && isPostgresUrl(db) ? db : defaultMemoryLocation(env),
  );
}

/**
 * The memory of the runs, opened (SQLite file or PostgreSQL URL), or undefined without `--memory`. Each API key's
 * runs use a scope of their own (`key:<name>`); runs of an open server share the default scope.
 */
export async function openServeMemory(
  values: ServeMemoryValues,
  io: CliIo,
  settings: ServeConfig["settings"],
): Promise<ServeMemory | undefined> {
  if (values.memory === undefined) {
    const stray = (["memory-recall", "embed-model", "no-cases"] as const).find(
      (flag) => values[flag] !== undefined,
    );
    if (stray) throw new UsageError({ message: `--${stray} needs --memory [DB].` });
    return undefined;
  }
  const recall =
    values["memory-recall"] === undefined
      ? undefined
      : nonNegativeInteger("memory-recall", values["memory-recall"]);
  const embedder = values["embed-model"]
    ? createEmbedder(values["embed-model"], settings ? { settings } : {})
    : undefined;
  const store = await openMemoryStore(values.memory, {
    warn: (line) => writeLine(io.stderr, `warning: ${line}`),
  });
  return {
    store,
    ...(embedder ? { embedder } : {}),
    ...(recall === undefined ? {} : { recall }),
    ...(values["no-cases"] ? { cases: false } : {}),
  };
}
