/** The names `--strategy` takes, in the order help lists them. A light module: the CLI's help reads it at start. */
export const STRATEGY_NAMES = ["rlm", "direct", "memagent", "mapreduce", "rag"] as const;

export type StrategyName = (typeof STRATEGY_NAMES)[number];
