/**
 * The flags `rlm serve` and `rlm worker` read the same way: the models runs may name, the sub-model, the base
 * URL and the prices, as the ServeConfig both build their runs from (a worker must run a queued run as the
 * server would).
 */
import { UsageError } from "../errors/usage-error.ts";
import { findDefaultModel } from "../models/default-model.ts";
import { settingsForModel } from "../models/model-settings.ts";
import { loadPriceTable } from "../models/prices.ts";
import { resolveModel } from "../models/resolve-model.ts";
import type { ServeConfig } from "../serve/run-spec.ts";
import type { CliIo } from "./cli-io.ts";

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
