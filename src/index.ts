export * from "./errors/index.ts";
export * from "./models/index.ts";
export { VERSION } from "./version.ts";
