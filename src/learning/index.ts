export {
  CaseBank,
  type CaseBankOptions,
  type CaseView,
  caseKey,
  casesBlock,
  caseValue,
  chooseCases,
  createCaseBank,
  DEFAULT_CASES_SHOWN,
  DEFAULT_LEARNING_RATE,
  DEFAULT_PRIOR,
  DEFAULT_TEMPERATURE,
  type FeedbackResult,
  type OutcomeSource,
  type RankedCase,
  type Reward,
  rewardOf,
  seededRandom,
} from "./case-bank.ts";
export { type CaseSummary, summarizeRun } from "./case-summary.ts";
export {
  type ApplyOptions,
  type ApplyResult,
  createPlaybook,
  DEFAULT_PLAYBOOK_BUDGET,
  DEFAULT_PRUNE_FACTOR,
  Playbook,
  type PlaybookOptions,
  type PlaybookView,
  type ProposedOperation,
  renderPlaybook,
  type ShownBullet,
} from "./playbook.ts";
export {
  DEFAULT_SECTION,
  MISTAKES_SECTION,
  PLAYBOOK_OP_KEY,
  type PlaybookBullet,
  type PlaybookOperation,
  type PlaybookOpRecord,
  type PlaybookState,
  type PlaybookTag,
  replayOperations,
} from "./playbook-operations.ts";
export { citedIds, type PlaybookLearnerOptions, playbookLearner } from "./reflector.ts";
export { parseReflection, REFLECTOR_SYSTEM, type Reflection } from "./reflector-prompt.ts";
