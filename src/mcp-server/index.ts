export { type McpHttpServer, type McpHttpServerOptions, startMcpHttpServer } from "./http-server.ts";
export { createRlmMcpServer, type RlmMcpServerOptions } from "./mcp-server.ts";
export { type ReadPathsOptions, readPaths } from "./read-paths.ts";
export {
  type CallLimits,
  lowerLimits,
  type RunCall,
  type RunCallOptions,
  RunService,
  type RunServiceOptions,
} from "./run-service.ts";
