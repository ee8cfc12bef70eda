export { type LoadMcpToolsOptions, loadMcpTools, type McpTools } from "./load-mcp-tools.ts";
