export * from "./context/index.ts";
export * from "./engine/index.ts";
export * from "./errors/index.ts";
export * from "./models/index.ts";
export * from "./sandboxes/index.ts";
export * from "./spec/index.ts";
export * from "./trace/index.ts";
export { VERSION } from "./version.ts";
