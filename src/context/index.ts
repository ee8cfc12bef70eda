export { ByteBudget } from "./byte-budget.ts";
export { type BindContextOptions, bindContext, type ContextBindings } from "./context-bindings.ts";
export { type ContextInput, type ContextMetadata, describeContext } from "./context-input.ts";
export {
  FILE_BLOCK_BYTES,
  FileText,
  type FileTextOptions,
  HOST_READ_BUDGET_BYTES,
  MAX_SLICE_BYTES,
} from "./file-text.ts";
export { DEFAULT_LARGE_FILE_BYTES, type LoadContextOptions, loadContext } from "./load-context.ts";
