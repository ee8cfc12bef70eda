import type { ContextMetadata } from "../context/context-input.ts";

/** Which way of ending a run the system prompt teaches; every way is accepted whatever is taught. */
export type PromptStyle = "rlmkit" | "paper" | "official";

export const PROMPT_STYLES: readonly PromptStyle[] = ["rlmkit", "paper", "official"];

export interface SystemPromptOptions {
  /** Default "rlmkit": FINAL(value) in code. "paper": FINAL(...) / FINAL_VAR(...) on a line of prose.
   * "official": set answer content and ready in code. */
  style?: PromptStyle;
  /** The REPL's language (default JavaScript). */
  language?: "javascript" | "python";
  /** Whether rlm_query can start a child RLM (depth limit above 1). */
  recursive: boolean;
  /** Whether memory_search and memory_add are in the REPL. */
  memory?: boolean;
  /** The user's own tools in the REPL: how to call each (`name(args)`) and what it does. */
  tools?: Array<{ call: string; description: string }>;
  /** Characters of cell output the model sees per cell. */
  outputLimitChars: number;
  /** The sub-model's context window in tokens, when known. */
  subModelWindowTokens?: number;
}

/** The root model's instructions: how the REPL works and how to work in it. Our own words, kept short. */
export function systemPrompt(options: SystemPromptOptions): string {
  const python = options.language === "python";
  const window =
    options.subModelWindowTokens === undefined
      ? ""
      : ` A sub-model reads at most about ${options.subModelWindowTokens.toLocaleString("en-US")} tokens per call.`;
  const language = python ? "Python" : "JavaScript";
  const persistence = python
    ? "variables, functions and imports persist between turns"
    : "top-level const/let/function persist between turns; top-level await works";
  const opt = (js: string, py: string) => (python ? py : js);
  return `You answer a question about an input that is too large to read at once. The input is NOT in this conversation: it is the variable \`context\` in a ${language} REPL that you drive. You see only a description of it.

Write ${language} in fenced blocks tagged \`repl\`. Blocks run in order, in one persistent session (${persistence}). After each turn you see what the code printed, cut to ${options.outputLimitChars.toLocaleString("en-US")} characters, and any error.

In the REPL:
- \`context\`: the input (a string, ${opt("an array of documents {id, text}", 'a list of documents {"id", "text"}')}, or parsed JSON).
- \`${opt("llm_query(prompt, {model?})", "llm_query(prompt, model=None)")}\`: asks a sub-model, returns its answer as a string. The sub-model sees only the prompt you give it, not the REPL.${window}
- \`${opt("llm_query_batched(prompts, {model?})", "llm_query_batched(prompts, model=None)")}\`: many prompts in parallel; returns the answers in the same order. Prefer it to a loop of llm_query.
${options.recursive ? `- \`rlm_query(prompt, sub_context)\` and \`rlm_query_batched(prompts, sub_contexts)\`: hand a sub-task to a child that has its own REPL over the sub-context; returns its answer.\n` : ""}- \`${opt("grep(pattern, {flags?, maxMatches?})", "grep(pattern, flags='', maxMatches=1000)")}\`: regex search over the whole context at native speed; returns matches with line, offset, match, lineText (and document); at most 10,000 matches, and a pattern that runs past 10 s is stopped.
- \`${opt('chunk(text, {size, overlap?, by: "chars"|"lines"|"tokens"})', 'chunk(text, size=..., overlap=0, by="chars"|"lines"|"tokens")')}\`: splits text (${opt("undefined", "None")} splits the context); \`count_tokens(text)\`.
${options.memory ? `- \`${opt("memory_search(query, {k?, asOf?})", "memory_search(query, k=5, asOf=None)")}\`: items from the memory of earlier runs ({id, kind, text, key, validFrom, validTo?, score}); asOf (a date) finds what was true then; \`${opt("memory_add(text, key?)", "memory_add(text, key=None)")}\` keeps a note for later runs. Memory is data that may be outdated: check it against the context.\n` : ""}${toolLines(options.tools)}- \`print(...)\` to show values; \`SHOW_VARS()\` lists your variables.
${finishing(options.style ?? "rlmkit", python)}

How to work:
1. Look first: print the size, a few slices, the structure. Print small things, never the whole context.
2. If code alone can find the answer (a regex, a count, a parse), do that: no sub-call needed.
3. Otherwise split the context into pieces of roughly 50-100K characters, ask sub-models about each piece with llm_query_batched, and combine their answers in code. Give each sub-model clean input and ask for short, structured output.
4. Check the result before answering. ${lastStep(options.style ?? "rlmkit", python)} Answer the question exactly as asked.`;
}

/** The user's tools as lines of the REPL's list; they run on the host, so each call is a round trip. */
function toolLines(tools: SystemPromptOptions["tools"]): string {
  if (tools === undefined || tools.length === 0) return "";
  const lines = tools.map(
    (tool) => `  - \`${tool.call}\`${tool.description === "" ? "" : `: ${tool.description}`}\n`,
  );
  return `- The user's tools (they run outside the REPL; each returns its result, or raises an error the code can catch):\n${lines.join("")}`;
}

function finishing(style: PromptStyle, python: boolean): string {
  if (style === "paper") {
    return "- To finish, write FINAL(your answer) on a line of its own in your reply, outside any code block; or FINAL_VAR(variable_name) to answer with the value of a REPL variable.";
  }
  if (style === "official") {
    return python
      ? '- `answer` is a dict: to finish, set `answer["content"]` to your answer and `answer["ready"] = True` in a repl block; the run ends after that block.'
      : "- `answer` is an object: to finish, set `answer.content` to your answer and `answer.ready = true` in a repl block; the run ends after that block.";
  }
  return '- `FINAL(value)` ends the task with that answer; `FINAL_VAR("name")` answers with a variable\'s value.';
}

function lastStep(style: PromptStyle, python: boolean): string {
  if (style === "paper") return "Then write FINAL(answer) on its own line, outside code.";
  if (style === "official")
    return python
      ? 'Then set answer["content"] and answer["ready"] = True.'
      : "Then set answer.content and answer.ready = true.";
  return "Then call FINAL(answer) in a repl block.";
}

export function describe(metadata: ContextMetadata): string {
  const lines = [`type: ${metadata.type}`, `size: ${metadata.chars.toLocaleString("en-US")} characters`];
  if (metadata.lines !== undefined) lines.push(`lines: ${metadata.lines.toLocaleString("en-US")}`);
  if (metadata.documents !== undefined) {
    lines.push(`documents: ${metadata.documents}`);
    if (metadata.documentChars) {
      const { min, max, mean } = metadata.documentChars;
      lines.push(`document sizes: min ${min}, mean ${mean}, max ${max} characters`);
    }
    if (metadata.documentIds) lines.push(`first ids: ${metadata.documentIds.join(", ")}`);
  }
  if (metadata.type === "file") {
    lines.push(
      `it is a file too large for one string: use context.slice(start, end), context.block(i) for i < ${metadata.blocks} (whole lines), and grep(pattern)`,
    );
  }
  return lines.join("\n");
}

/** The lines that ask for a final answer of a JSON Schema's shape, or "" when none is required. */
export function answerShape(answerSchema: string | undefined): string {
  return answerSchema === undefined
    ? ""
    : `\nThe final answer must be a value (an object, not text) that matches this JSON Schema:\n${answerSchema}\n`;
}

/** The first user message: the question and what the context looks like. */
export function firstMessage(
  query: string,
  metadata: ContextMetadata,
  answerSchema?: string,
  recalled = "",
): string {
  return `Question: ${query}
${answerShape(answerSchema)}${recalled}
The context (not shown; it is the REPL variable \`context\`):
${describe(metadata)}
preview of the beginning:
"""
${metadata.preview.slice(0, 300)}
"""

Start by exploring the context in a repl block.`;
}

/** What the model is told after a reply with no code and no FINAL, in the sandbox's language. */
export function nudge(language: "javascript" | "python"): string {
  const name = language === "python" ? "Python" : "JavaScript";
  return `Your reply had no repl block and no FINAL. Write ${name} in a \`\`\`repl block to keep working, or call FINAL(answer) in a repl block when you are done.`;
}

/** The nudge of the default (JavaScript) sandbox. */
export const NUDGE = nudge("javascript");

export function lastCallMessage(): string {
  return "You are out of turns. Reply now with your best final answer to the question, as plain text, without code.";
}

/** The header that tells a sub-model what the whole task is. */
export function goalHeader(query: string): string {
  const goal = query.length > 500 ? `${query.slice(0, 500)}...` : query;
  return `(You are helping with a larger task: "${goal}". Answer only what is asked below.)\n\n`;
}
