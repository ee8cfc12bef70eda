import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { UsageError } from "../errors/usage-error.ts";
import { scrubHostPaths } from "../sandboxes/cell-messages.ts";
import { Semaphore } from "../shared/semaphore.ts";
import type { HostFunction } from "../spec/sandbox.ts";
import type { StandardSchemaV1 } from "../spec/standard-schema.ts";
import type { Tool, ToolCallOptions, Tools } from "../spec/tool.ts";
import type { Budget } from "./budget.ts";
import type { RunEvent } from "./run-events.ts";

/**
 * The user's own tools (`createRLM({ tools })`): checked once at createRLM, then put into the REPL as host
 * functions with the boundary rules of llm_query. Arguments and results cross as copies (JSON), each call has a
 * time limit and the signal of its cell, counts against `limits.maxToolCalls` over the run tree, waits for a slot
 * of `limits.concurrency`, and is traced as tool-start / tool-end. What fails reaches the code as an error with a
 * one-line message: never a host stack or path.
 *
 * Arguments: one object of named arguments, `lookup_price({ sku: "A1" })` (Python: `lookup_price(sku="A1")`,
 * whose keyword arguments arrive as a trailing object). Positional arguments fill the parameters in the order
 * the schema declares them (`lookup_price("A1")`), and a trailing object after them adds named ones. A tool
 * without declared properties gets a single argument as it is.
 */

/** Time one tool call may take, by default. */
export const DEFAULT_TOOL_TIMEOUT_MS = 60_000;
/** Tool calls over the run tree, by default. */
export const DEFAULT_MAX_TOOL_CALLS = 1_000;
/** The most JSON one tool result may be, in characters (1 MiB). */
export const MAX_TOOL_RESULT_CHARS = 1_048_576;
const MAX_DESCRIPTION_CHARS = 1_000;
const MAX_MESSAGE_CHARS = 500;
const MAX_TRACED_ARGS_CHARS = 500;

/** A tool checked and ready to call. */
export interface PreparedTool {
  name: string;
  description: string;
  /** The arguments' JSON Schema, when it can be had (the prompt's summary; what sub-models are given). */
  jsonSchema: Record<string, unknown> | undefined;
  /** Declared property names in order: positional arguments fill them. */
  properties: string[];
  /** Checks (and may transform) the arguments; undefined when the tool declares none. */
  validate: ((value: unknown) => Promise<{ value: unknown } | { problems: string }>) | undefined;
  execute: Tool["execute"];
}

/** An error the calling code sees; its message is one line, with no host stack or path. */
export class ToolError extends Error {
  constructor(message: string, name = "ToolError") {
    super(message);
    this.name = name;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Names

/** The REPL's own names, in either language. */
const REPL_NAMES = [
  "context",
  "llm_query",
  "llm_query_batched",
  "rlm_query",
  "rlm_query_batched",
  "grep",
  "chunk",
  "count_tokens",
  "memory_search",
  "memory_add",
  "FINAL",
  "FINAL_VAR",
  "SHOW_VARS",
  "print",
  "answer",
];

const JAVASCRIPT_NAMES = [
  // reserved words and literals
  ..."await break case catch class const continue debugger default delete do else enum export extends false finally for function if implements import in instanceof interface let new null package private protected public return static super switch this throw true try typeof var void while with yield async of undefined NaN Infinity arguments eval".split(
    " ",
  ),
  // the REPL's and the language's globals
  ..."console globalThis Object Function Array Number String Boolean Symbol BigInt Math JSON Date RegExp Error TypeError RangeError SyntaxError ReferenceError EvalError URIError AggregateError Promise Proxy Reflect Map Set WeakMap WeakSet WeakRef FinalizationRegistry ArrayBuffer SharedArrayBuffer DataView Atomics Intl Iterator isNaN isFinite parseInt parseFloat encodeURI encodeURIComponent decodeURI decodeURIComponent escape unescape structuredClone queueMicrotask Int8Array Uint8Array Uint8ClampedArray Int16Array Uint16Array Int32Array Uint32Array Float32Array Float64Array BigInt64Array BigUint64Array".split(
    " ",
  ),
];

const PYTHON_NAMES = [
  // keywords
  ..."False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case type".split(
    " ",
  ),
  // builtins
  ..."abs aiter all anext any ascii bin bool breakpoint bytearray bytes callable chr classmethod compile complex copyright credits delattr dict dir divmod enumerate eval exec exit filter float format frozenset getattr globals hasattr hash help hex id input int isinstance issubclass iter len license list locals map max memoryview min next object oct open ord pow property quit range repr reversed round set setattr slice sorted staticmethod str sum super tuple vars zip Exception BaseException ValueError TypeError KeyError IndexError RuntimeError NameError".split(
    " ",
  ),
];

/** A REPL tool's name: an identifier of JavaScript and Python alike. */
const REPL_TOOL_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
/** A sub-tool's name: what model APIs take. */
const SUB_TOOL_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function nameProblem(name: string, language: "javascript" | "python" | undefined): string | undefined {
  if (language === undefined) {
    return SUB_TOOL_NAME.test(name)
      ? undefined
      : "a tool name must be a letter, then letters, digits, _ or - (at most 64)";
  }
  if (!REPL_TOOL_NAME.test(name)) {
    return "a tool name must be an identifier: a letter, then letters, digits or _ (at most 64; names that start with _ are the REPL's own)";
  }
  if (REPL_NAMES.includes(name) || /^context_\d+$/.test(name)) return "it is a name of the REPL's own";
  const reserved = language === "python" ? PYTHON_NAMES : JAVASCRIPT_NAMES;
  if (reserved.includes(name)) {
    return `it is a reserved word or built-in of ${language === "python" ? "Python" : "JavaScript"}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Schemas

const AI_SDK_SCHEMA = Symbol.for("vercel.ai.schema");

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isThenable(value: unknown): boolean {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

function problemsOf(issues: ReadonlyArray<IssueLike>): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = (issue.path ?? [])
        .map((part) => String(typeof part === "object" && part !== null ? part.key : part))
        .join(".");
      return path === "" ? issue.message : `${path}: ${issue.message}`;
    })
    .join("; ");
}

interface IssueLike {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>;
}

interface NormalSchema {
  jsonSchema: Record<string, unknown> | undefined;
  validate: PreparedTool["validate"];
}

function fromStandard(schema: StandardSchemaV1): NormalSchema {
  const standard = schema["~standard"];
  let json: unknown;
  try {
    if (standard.vendor === "zod") json = z.toJSONSchema(schema as unknown as z.ZodType, { io: "input" });
    else {
      const converter = (standard as { jsonSchema?: { input?: (options: object) => unknown } }).jsonSchema;
      json = converter?.input?.({ target: "draft-07" });
    }
  } catch {
    json = undefined;
  }
  return {
    jsonSchema: isRecord(json) ? json : undefined,
    validate: async (value) => {
      const result = await standard.validate(value);
      return result.issues ? { problems: problemsOf(result.issues) } : { value: result.value };
    },
  };
}

/** An AI SDK Schema (`jsonSchema(...)`, `zodSchema(...)`, what `asSchema` makes). */
function fromAiSdk(schema: Record<string | symbol, unknown>): NormalSchema {
  let json: unknown;
  try {
    json = schema.jsonSchema;
  } catch {
    json = undefined;
  }
  const check = schema.validate;
  const jsonSchema = isRecord(json) && !isThenable(json) ? json : undefined;
  if (typeof check === "function") {
    return {
      jsonSchema,
      validate: async (value) => {
        const result = (await check.call(schema, value)) as
          | { success: true; value: unknown }
          | { success: false; error: unknown };
        if (result.success) return { value: result.value };
        const cause = (result.error as { cause?: unknown } | undefined)?.cause;
        return {
          problems: Array.isArray(cause)
            ? problemsOf(cause as IssueLike[])
            : oneLine(result.error instanceof Error ? result.error.message : String(result.error)),
        };
      },
    };
  }
  return jsonSchema === undefined ? { jsonSchema, validate: undefined } : fromJsonSchema(jsonSchema, "");
}

function fromJsonSchema(json: Record<string, unknown>, where: string): NormalSchema {
  let schema: StandardSchemaV1;
  try {
    schema = z.fromJSONSchema(json as Parameters<typeof z.fromJSONSchema>[0]) as unknown as StandardSchemaV1;
  } catch (error) {
    throw new UsageError({
      message: `${where}: not a JSON Schema rlmkit can use (${oneLine(error instanceof Error ? error.message : String(error))}).`,
    });
  }
  return { jsonSchema: json, validate: fromStandard(schema).validate };
}

function normalSchema(parameters: unknown, where: string): NormalSchema {
  if (parameters === undefined || parameters === null) return { jsonSchema: undefined, validate: undefined };
  let schema: unknown = parameters;
  if (typeof schema === "function") {
    // The AI SDK's lazy schema: a function that makes the schema.
    try {
      schema = (schema as () => unknown)();
    } catch (error) {
      throw new UsageError({
        message: `${where}: the schema function failed (${oneLine(error instanceof Error ? error.message : String(error))}).`,
      });
    }
  }
  if (!isRecord(schema) && typeof schema !== "function") {
    throw new UsageError({
      message: `${where} must be a schema: zod (or any Standard Schema), or a JSON Schema object.`,
    });
  }
  const record = schema as Record<string | symbol, unknown>;
  if ("~standard" in record) return fromStandard(record as unknown as StandardSchemaV1);
  if (record[AI_SDK_SCHEMA] === true) return fromAiSdk(record);
  return fromJsonSchema(record as Record<string, unknown>, where);
}

function propertiesOf(json: Record<string, unknown> | undefined): string[] {
  const properties = json?.properties;
  return isRecord(properties) ? Object.keys(properties) : [];
}

// ---------------------------------------------------------------------------------------------------------------
// Checking tools at createRLM

function oneLine(text: string, max = MAX_MESSAGE_CHARS): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}

function describeOf(tool: Record<string, unknown>, where: string): string {
  let description = tool.description;
  if (typeof description === "function") {
    try {
      description = (description as (options: { context: object }) => unknown)({ context: {} });
    } catch {
      description = undefined;
    }
  }
  if (description !== undefined && typeof description !== "string") {
    throw new UsageError({ message: `${where}.description must be a string.` });
  }
  return oneLine(description ?? "", MAX_DESCRIPTION_CHARS);
}

/**
 * Checks tools once (at createRLM; on the CLI before anything runs) and prepares them for calls. `language` is
 * the REPL's, whose names a tool may not take; undefined for sub-tools, which only models call. Throws a
 * UsageError that names the tool and says what is wrong.
 */
export function prepareTools(
  tools: Tools | undefined,
  language: "javascript" | "python" | undefined,
  label = language === undefined ? "subTools" : "tools",
): PreparedTool[] {
  if (tools === undefined || tools === null) return [];
  if (!isRecord(tools)) {
    throw new UsageError({
      message: `${label} must be an object of tools by name, e.g. { lookup_price: { description, execute } }.`,
    });
  }
  return Object.entries(tools).map(([name, tool]) => {
    const where = `${label}.${name}`;
    const problem = nameProblem(name, language);
    if (problem !== undefined) {
      throw new UsageError({
        message: `${label}: "${oneLine(name, 80)}" cannot be a tool's name: ${problem}.`,
      });
    }
    if (!isRecord(tool) || typeof tool.execute !== "function") {
      throw new UsageError({
        message: `${where} needs an execute function: { description, parameters?, execute(args) }.`,
      });
    }
    const schema = normalSchema(tool.parameters ?? tool.inputSchema, `${where}.parameters`);
    return {
      name,
      description: describeOf(tool, where),
      jsonSchema: schema.jsonSchema,
      properties: propertiesOf(schema.jsonSchema),
      validate: schema.validate,
      execute: tool.execute as Tool["execute"],
    };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The system prompt's listing

function typeText(schema: unknown, python: boolean, depth = 0): string {
  const any = python ? "Any" : "any";
  if (!isRecord(schema) || depth > 2) return any;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) {
    return schema.enum
      .slice(0, 6)
      .map((value) => JSON.stringify(value))
      .join(" | ");
  }
  const variants = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(variants) && variants.length > 0) {
    return variants
      .slice(0, 3)
      .map((variant) => typeText(variant, python, depth + 1))
      .join(" | ");
  }
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string":
      return python ? "str" : "string";
    case "integer":
      return python ? "int" : "number";
    case "number":
      return python ? "float" : "number";
    case "boolean":
      return python ? "bool" : "boolean";
    case "null":
      return python ? "None" : "null";
    case "array": {
      const item = typeText(schema.items, python, depth + 1);
      return python ? `list[${item}]` : `${item.includes(" ") ? `(${item})` : item}[]`;
    }
    case "object":
      return python ? "dict" : "object";
    default:
      return any;
  }
}

/** How the code calls a tool, in the REPL's language: `lookup_price({ sku: string, currency?: string })`. */
export function toolSignature(tool: PreparedTool, language: "javascript" | "python"): string {
  const python = language === "python";
  const json = tool.jsonSchema;
  const properties = isRecord(json?.properties) ? json.properties : undefined;
  const required = new Set(Array.isArray(json?.required) ? (json.required as unknown[]).map(String) : []);
  let args: string;
  if (properties !== undefined && Object.keys(properties).length > 0) {
    const entries = Object.entries(properties).map(([name, schema]) => {
      const type = typeText(schema, python);
      if (python) return required.has(name) ? `${name}: ${type}` : `${name}: ${type} = None`;
      return `${name}${required.has(name) ? "" : "?"}: ${type}`;
    });
    // Python: the required parameters first, as a def would have them.
    if (python) entries.sort((a, b) => Number(a.endsWith("= None")) - Number(b.endsWith("= None")));
    args = python ? entries.join(", ") : `{ ${entries.join(", ")} }`;
  } else if (json !== undefined && json.type !== undefined && json.type !== "object") {
    args = `value: ${typeText(json, python)}`;
  } else {
    args = python ? "**kwargs" : "args?";
  }
  const signature = `${tool.name}(${args})`;
  return signature.length > 300 ? `${signature.slice(0, 297)}...` : signature;
}

/** The tools as the system prompt lists them. */
export function toolListing(
  tools: PreparedTool[],
  language: "javascript" | "python",
): Array<{ call: string; description: string }> {
  return tools.map((tool) => ({ call: toolSignature(tool, language), description: tool.description }));
}

// ---------------------------------------------------------------------------------------------------------------
// Calls

/** What a tool call needs from the run. */
export interface ToolRunContext {
  runId: string;
  depth: number;
  parentRunId?: string;
  /** The run tree's budget: its limits, and the key of the tree's tool-call count. */
  budget: Budget;
  emit: (event: RunEvent) => void;
  /** Registers a call in flight, so the run waits for it to settle (and its events) before it ends. */
  track: (work: Promise<unknown>) => void;
  /** Time one call may take, in ms. */
  timeoutMs: number;
}

/** Per run tree (keyed by its Budget): tool calls made, and the slots of calls in flight. */
const trees = new WeakMap<Budget, { calls: number; slots: Semaphore }>();

function treeOf(budget: Budget): { calls: number; slots: Semaphore } {
  let tree = trees.get(budget);
  if (tree === undefined) {
    tree = { calls: 0, slots: new Semaphore(budget.limits.concurrency ?? 16) };
    trees.set(budget, tree);
  }
  return tree;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (!isRecord(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** The arguments the code passed, as the one value `execute` gets (see the rules at the top). */
export function argumentsOf(tool: PreparedTool, args: unknown[]): unknown {
  if (args.length === 0) return {};
  const last = args[args.length - 1];
  const named = isPlainObject(last) ? last : undefined;
  const positional = named === undefined ? args : args.slice(0, -1);
  if (positional.length === 0) return { ...named };
  if (tool.properties.length === 0) {
    if (args.length === 1) return args[0];
    throw new ToolError(
      `${tool.name} takes one object of named arguments, e.g. ${tool.name}({ ... }); it got ${args.length} arguments`,
      "TypeError",
    );
  }
  if (positional.length > tool.properties.length) {
    throw new ToolError(
      `${tool.name} takes at most ${tool.properties.length} positional argument${tool.properties.length === 1 ? "" : "s"} (${tool.properties.join(", ")}); it got ${positional.length}`,
      "TypeError",
    );
  }
  const value: Record<string, unknown> = {};
  positional.forEach((item, index) => {
    value[tool.properties[index] as string] = item;
  });
  for (const [key, item] of Object.entries(named ?? {})) {
    if (Object.hasOwn(value, key))
      throw new ToolError(`${tool.name} got ${key} twice (by position and by name)`, "TypeError");
    value[key] = item;
  }
  return value;
}

function errorText(error: unknown): string {
  try {
    return error instanceof Error ? String(error.message) : String(error);
  } catch {
    return "unknown error";
  }
}

/** What the caller sees of any failure: a ToolError with one line, no host path. */
function callerError(tool: PreparedTool, error: unknown): ToolError {
  if (error instanceof ToolError) return error;
  return new ToolError(
    `${tool.name} failed: ${scrubHostPaths(oneLine(errorText(error)) || "unknown error")}`,
  );
}

/** The result as the caller gets it: a copy through JSON, within MAX_TOOL_RESULT_CHARS. */
function copyResult(tool: PreparedTool, value: unknown): { value: unknown; chars: number } {
  if (value === undefined) return { value: undefined, chars: 0 };
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new ToolError(
      `${tool.name} returned a value that is not plain data (${oneLine(errorText(error), 200)}); the tool must return JSON data`,
    );
  }
  if (json === undefined) return { value: undefined, chars: 0 };
  if (json.length > MAX_TOOL_RESULT_CHARS) {
    throw new ToolError(
      `${tool.name} returned ${json.length.toLocaleString("en-US")} characters of JSON, more than the ${MAX_TOOL_RESULT_CHARS.toLocaleString("en-US")} a tool result may hold: ask it for less`,
    );
  }
  return { value: JSON.parse(json), chars: json.length };
}

/** The value of a call: a streamed (async iterable) result becomes its last item, as in the AI SDK. */
async function settled(result: unknown, signal: AbortSignal): Promise<unknown> {
  if (
    result !== null &&
    typeof result === "object" &&
    !isThenable(result) &&
    typeof (result as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function"
  ) {
    let last: unknown;
    for await (const item of result as AsyncIterable<unknown>) {
      if (signal.aborted) break;
      last = item;
    }
    return last;
  }
  return result;
}

/** Runs execute under the time limit and the caller's signal; the caller gets an error at once when either ends. */
async function execute(
  tool: PreparedTool,
  args: unknown,
  outer: AbortSignal,
  timeoutMs: number,
  callId: string,
  onSettled?: (work: Promise<unknown>) => void,
): Promise<unknown> {
  const timer = new AbortController();
  const signal = AbortSignal.any([outer, timer.signal]);
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    onAbort = () =>
      reject(
        outer.aborted
          ? new ToolError(`${tool.name} was cancelled: its cell, sub-call or run ended`)
          : new ToolError(`${tool.name} timed out after ${timeoutMs / 1000} s`),
      );
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  stopped.catch(() => undefined);
  const timeout = setTimeout(() => timer.abort(), timeoutMs);
  try {
    const options: ToolCallOptions = {
      signal,
      abortSignal: signal,
      toolCallId: callId,
      messages: [],
      context: {},
    };
    const work = (async () => settled(await tool.execute(args, options), signal))();
    work.catch(() => undefined);
    onSettled?.(work);
    return await Promise.race([work, stopped]);
  } finally {
    clearTimeout(timeout);
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}

/**
 * One tool call, from its arguments to the copy of its result: counted against the run tree's limit, traced,
 * validated, run in a slot under its time limit and `signal`. Rejects with a ToolError only.
 */
export async function callTool(
  tool: PreparedTool,
  input: () => unknown,
  run: ToolRunContext,
  signal: AbortSignal,
  subcallId?: string,
): Promise<unknown> {
  if (signal.aborted) throw new ToolError(`${tool.name} was not called: its cell, sub-call or run has ended`);
  const tree = treeOf(run.budget);
  const limit = run.budget.limits.maxToolCalls ?? DEFAULT_MAX_TOOL_CALLS;
  if (tree.calls >= limit) {
    throw new ToolError(
      `${tool.name} was not called: this run's limit of ${limit.toLocaleString("en-US")} tool calls is reached`,
    );
  }
  tree.calls++;
  const identity = {
    runId: run.runId,
    depth: run.depth,
    ...(run.parentRunId ? { parentRunId: run.parentRunId } : {}),
    callId: randomUUID(),
    tool: tool.name,
    ...(subcallId ? { subcallId } : {}),
  };
  const started = performance.now();
  let traced = "";
  try {
    let args: unknown;
    try {
      args = input();
      traced = oneLine(JSON.stringify(args) ?? "", MAX_TRACED_ARGS_CHARS);
    } finally {
      run.emit({ type: "tool-start", at: Date.now(), ...identity, args: traced });
    }
    if (tool.validate !== undefined) {
      const checked = await tool.validate(args);
      if ("problems" in checked) {
        throw new ToolError(
          `${tool.name}: invalid arguments: ${oneLine(checked.problems, 400)}`,
          "TypeError",
        );
      }
      args = checked.value;
    }
    // The caller gets a timeout or cancellation at once, but the slot is held until execute really ends (a
    // tool that ignores its signal must not let more than `concurrency` run), or ten time limits (at least a
    // minute) have passed.
    const result = await new Promise<{ value: unknown; chars: number }>((resolve, reject) => {
      tree.slots
        .run(async () => {
          if (signal.aborted) {
            reject(new ToolError(`${tool.name} was cancelled: its cell, sub-call or run ended`));
            return;
          }
          let work: Promise<unknown> = Promise.resolve();
          try {
            resolve(
              copyResult(
                tool,
                await execute(tool, args, signal, run.timeoutMs, identity.callId, (started) => {
                  work = started;
                }),
              ),
            );
          } catch (error) {
            reject(error);
          }
          await Promise.race([
            work.catch(() => undefined),
            sleep(Math.max(10 * run.timeoutMs, 60_000), undefined, { ref: false }),
          ]);
        })
        .catch(reject);
    });
    run.emit({
      type: "tool-end",
      at: Date.now(),
      ...identity,
      ok: true,
      latencyMs: performance.now() - started,
      resultChars: result.chars,
    });
    return result.value;
  } catch (caught) {
    const error = callerError(tool, caught);
    run.emit({
      type: "tool-end",
      at: Date.now(),
      ...identity,
      ok: false,
      latencyMs: performance.now() - started,
      error: error.message,
    });
    throw error;
  }
}

/** The tools as host functions of the REPL; `signal` gives the signal of the cell running now. */
export function toolFunctions(
  tools: PreparedTool[],
  run: ToolRunContext & { signal: () => AbortSignal },
): Record<string, HostFunction> {
  return Object.fromEntries(
    tools.map((tool) => [
      tool.name,
      (...args: unknown[]) => {
        const work = callTool(tool, () => argumentsOf(tool, args), run, run.signal());
        run.track(work);
        return work;
      },
    ]),
  );
}
