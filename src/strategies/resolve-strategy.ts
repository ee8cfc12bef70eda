import { createRLM, type RLMOptions } from "../engine/rlm.ts";
import { ConfigError } from "../errors/config-error.ts";
import { createDirectStrategy } from "./direct.ts";
import { createMapReduceStrategy } from "./mapreduce.ts";
import { createMemAgentStrategy } from "./memagent.ts";
import { createRagStrategy } from "./rag.ts";
import type { Strategy } from "./strategy.ts";
import { STRATEGY_NAMES, type StrategyName } from "./strategy-names.ts";
import { checkStrategyOptions } from "./strategy-session.ts";

type StrategyFactory = (options: RLMOptions) => Strategy;

// Typed by the names list, so the list and the table cannot drift apart.
const STRATEGIES: Record<StrategyName, StrategyFactory> = {
  rlm: (options) => {
    const rlm = createRLM(options);
    return { name: "rlm", run: (request) => rlm.run(request) };
  },
  direct: createDirectStrategy,
  memagent: createMemAgentStrategy,
  mapreduce: createMapReduceStrategy,
  rag: createRagStrategy,
};

export { STRATEGY_NAMES };

/** The one place a `--strategy` name becomes a Strategy; all take the same options as the RLM. */
/** Throws a ConfigError listing the known strategies when `name` is not one of them. */
export function checkStrategyName(name: string): void {
  if (!(STRATEGY_NAMES as readonly string[]).includes(name)) {
    throw new ConfigError({
      message: `Unknown strategy "${name}". Known strategies: ${STRATEGY_NAMES.join(", ")}.`,
    });
  }
}

/** Throws for an unknown name, invalid limits, or a cost limit over a model of unknown price. */
export function resolveStrategy(name: string, options: RLMOptions): Strategy {
  checkStrategyName(name);
  if (options.privacy !== undefined && name !== "rlm") {
    throw new ConfigError({ message: `Privacy mode works with the rlm strategy, not ${name}.` });
  }
  checkStrategyOptions(options);
  return STRATEGIES[name as StrategyName](options);
}
