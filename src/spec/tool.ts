/**
 * The tool extension point: the user's own functions, callable from the REPL's code (and, as sub-tools, by the
 * sub-models of llm_query). An AI SDK `tool({ description, inputSchema, execute })` is accepted as it is.
 * Nothing here imports anything else of rlmkit.
 */
import type { StandardSchemaV1 } from "./standard-schema.ts";

/**
 * What a tool's arguments must look like: a Standard Schema (zod, valibot, arktype...), a JSON Schema object
 * (`{ type: "object", properties: {...}, required: [...] }`), or what the AI SDK takes as `inputSchema`
 * (`jsonSchema(...)`, `zodSchema(...)`, or a function that returns one).
 */
export type ToolParameters = StandardSchemaV1 | Record<string, unknown> | (() => unknown);

/** What `execute` gets besides the arguments. */
export interface ToolCallOptions {
  /**
   * Aborts when the call's time limit passes or its cell, sub-call or run ends: pass it on (to fetch, to a
   * database client) so the work stops too. The caller gets an error at once either way.
   */
  signal: AbortSignal;
  /** The same signal, under the AI SDK's name, so an AI SDK tool runs as it is. */
  abortSignal: AbortSignal;
  /** An id of this call, also in its trace events (the AI SDK's name). */
  toolCallId: string;
  /** Always empty: code made the call, not a conversation (the AI SDK's field). */
  messages: never[];
  /** Always an empty object (the AI SDK's field). */
  context: Record<string, never>;
}

export interface Tool {
  /**
   * What the tool does, for the model: listed in the system prompt beside the tool's name. (A function, as the
   * AI SDK allows, is called once with an empty context.)
   */
  description?: string | ((options: { context: Record<string, never> }) => string);
  /** The arguments; when given, a call's arguments are checked against it and the code sees the mismatch. */
  parameters?: ToolParameters;
  /** The AI SDK's name for `parameters` (used when `parameters` is not given). */
  inputSchema?: ToolParameters;
  /**
   * Runs on the host with a copy of the arguments the code passed (one object; see the README on positional
   * and keyword arguments). What it returns goes back to the code as a copy (JSON); what it throws reaches the
   * code as an error with a one-line message.
   */
  // biome-ignore lint/suspicious/noExplicitAny: an AI SDK tool's execute takes its own typed input.
  execute(args: any, options: ToolCallOptions): unknown;
}

/** Tools by the name they get in the REPL: identifiers such as `lookup_price`. */
export type Tools = Record<string, Tool>;
