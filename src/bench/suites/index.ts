import type { BenchSuite } from "../suite.ts";
import { babilongSuite } from "./babilong.ts";
import { LEARNING_SUITE, learningStreamSuite } from "./learning-stream.ts";
import { memorySessionsSuite } from "./memory-sessions.ts";
import { multihopSuite } from "./multihop.ts";
import { oolongSuite } from "./oolong.ts";
import { oolongPairsSuite } from "./oolong-pairs.ts";
import { sniahSuite } from "./sniah.ts";

/** Every suite `rlm bench` knows, in the order `--list` shows them. */
export const SUITES: readonly BenchSuite[] = [
  sniahSuite,
  oolongSuite,
  oolongPairsSuite,
  babilongSuite,
  multihopSuite,
  memorySessionsSuite,
  learningStreamSuite,
];

export {
  babilongSuite,
  LEARNING_SUITE,
  learningStreamSuite,
  memorySessionsSuite,
  multihopSuite,
  oolongPairsSuite,
  oolongSuite,
  sniahSuite,
};
