export { createCalculatorTool } from "./calculator.ts";
export { createFetchUrlTool, type FetchUrlOutput, type FetchUrlToolOptions } from "./fetch-url.ts";
export {
  createWebSearchTool,
  WEB_SEARCH_HELP,
  type WebSearchOutput,
  type WebSearchToolOptions,
} from "./web-search.ts";
