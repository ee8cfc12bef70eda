/**
 * The `--mcp FILE` file: the common `mcpServers` JSON shape (Claude Desktop, Cursor, VS Code...), read and checked.
 * Every mistake is a UsageError of one line that names the file and the server.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { UsageError } from "../../errors/usage-error.ts";

/** A server started as a child process that speaks MCP over its stdin and stdout. */
export interface StdioServerConfig {
  kind: "stdio";
  name: string;
  command: string;
  args: string[];
  /** Set over the minimal environment (see `inheritEnv`). */
  env: Record<string, string>;
  /** When true, the child gets all of our environment (API keys included), not the minimal one. */
  inheritEnv: boolean;
  /** Resolved against the MCP file's folder. */
  cwd: string | undefined;
}

/** A server reached over streamable HTTP (or, with `"type": "sse"`, the older HTTP+SSE transport). */
export interface HttpServerConfig {
  kind: "http" | "sse";
  name: string;
  url: string;
  headers: Record<string, string>;
}

export type McpServerConfig = StdioServerConfig | HttpServerConfig;

const SHAPE = '{ "mcpServers": { "NAME": { "command", "args"?, "env"?, "cwd"? } or { "url", "headers"? } } }';

function oneLine(text: string, max = 200): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Expands `${VAR}` and `${VAR:-default}` from our environment (as Claude Code does), so that a key can be handed
 * to one server on purpose: `"env": { "GITHUB_TOKEN": "${GITHUB_TOKEN}" }`. An unset variable with no default is
 * a mistake.
 */
function expand(value: string, fail: (message: string) => never): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (_match, name: string, fallback?: string) => {
      const found = process.env[name];
      if (found !== undefined && found !== "") return found;
      if (fallback !== undefined) return fallback;
      return fail(`the environment variable ${name} is not set (it is used as \${${name}})`);
    },
  );
}

function stringRecord(
  value: unknown,
  field: string,
  fail: (message: string) => never,
): Record<string, string> {
  if (value === undefined) return {};
  if (!isObject(value)) return fail(`"${field}" must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry === "number" || typeof entry === "boolean") out[key] = String(entry);
    else if (typeof entry === "string") out[key] = expand(entry, fail);
    else return fail(`"${field}.${key}" must be a string`);
  }
  return out;
}

/** Checks one entry of `mcpServers`; undefined when it is switched off (`"disabled": true`). */
function parseServer(
  name: string,
  entry: unknown,
  baseDir: string,
  where: string,
): McpServerConfig | undefined {
  const fail = (message: string): never => {
    throw new UsageError({ message: `${where}: server "${name}": ${message}.` });
  };
  if (name.trim() === "") throw new UsageError({ message: `${where}: a server has an empty name.` });
  if (!isObject(entry)) return fail(`must be an object such as { "command": "...", "args": [...] }`);
  if (entry.disabled === true) return undefined;
  const type = entry.type;
  if (type !== undefined && typeof type !== "string") return fail(`"type" must be a string`);
  const { command, url } = entry;
  if (command !== undefined && url !== undefined) return fail(`has both "command" and "url"; give one`);

  if (command !== undefined) {
    if (type !== undefined && type !== "stdio") return fail(`"type" "${type}" does not go with "command"`);
    if (typeof command !== "string" || command.trim() === "")
      return fail(`"command" must be a non-empty string`);
    const args = entry.args ?? [];
    if (!Array.isArray(args) || !args.every((arg) => typeof arg === "string" || typeof arg === "number")) {
      return fail(`"args" must be an array of strings`);
    }
    if (entry.cwd !== undefined && typeof entry.cwd !== "string") return fail(`"cwd" must be a string`);
    if (entry.inheritEnv !== undefined && typeof entry.inheritEnv !== "boolean") {
      return fail(`"inheritEnv" must be true or false`);
    }
    return {
      kind: "stdio",
      name,
      command: expand(command, fail),
      args: args.map((arg) => expand(String(arg), fail)),
      env: stringRecord(entry.env, "env", fail),
      inheritEnv: entry.inheritEnv === true,
      cwd: typeof entry.cwd === "string" ? resolve(baseDir, expand(entry.cwd, fail)) : undefined,
    };
  }

  if (url !== undefined) {
    if (typeof url !== "string") return fail(`"url" must be a string`);
    const kind =
      type === undefined || type === "http" || type === "streamable-http" || type === "streamableHttp"
        ? "http"
        : type === "sse"
          ? "sse"
          : fail(`"type" "${type}" is not one of "http", "streamable-http", "sse"`);
    const expanded = expand(url, fail);
    let parsed: URL;
    try {
      parsed = new URL(expanded);
    } catch {
      return fail(`"url" is not a URL: ${oneLine(expanded, 100)}`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      return fail(`"url" must start with http:// or https://`);
    }
    return { kind, name, url: parsed.href, headers: stringRecord(entry.headers, "headers", fail) };
  }

  return fail(`needs "command" or "url"`);
}

/** Reads and checks the MCP file; `flag` names it in messages (`--mcp FILE`). */
export async function readMcpConfig(file: string, flag = "--mcp"): Promise<McpServerConfig[]> {
  const where = `${flag} ${file}`;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError({
      message: `${where}: ${code === "ENOENT" ? "no such file" : `cannot be read (${oneLine(String((error as Error).message ?? error))})`}.`,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError({
      message: `${where}: not valid JSON (${oneLine(error instanceof Error ? error.message : String(error))}).`,
    });
  }
  if (!isObject(json) || !isObject(json.mcpServers)) {
    throw new UsageError({ message: `${where}: needs an object "mcpServers": ${SHAPE}.` });
  }
  const baseDir = dirname(resolve(file));
  const servers: McpServerConfig[] = [];
  for (const [name, entry] of Object.entries(json.mcpServers)) {
    const server = parseServer(name, entry, baseDir, where);
    if (server) servers.push(server);
  }
  return servers;
}
