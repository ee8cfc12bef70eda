/** A code block of a model reply. */
export interface CodeBlock {
  language: string;
  code: string;
}

/**
 * An opening fence with its tag, then everything up to a closing fence at the start of a line (as the official
 * parser does): three backticks inside the code, such as a comment about ```repl blocks, do not end the block.
 */
const FENCE = /```([A-Za-z0-9_-]*)[^\n]*\n([\s\S]*?)^[ \t]*```/gm;

/** Code blocks in the languages a sandbox runs, in order. */
export function extractCodeBlocks(reply: string, languages: readonly string[]): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  for (const match of reply.matchAll(FENCE)) {
    const language = (match[1] ?? "").toLowerCase();
    if (languages.includes(language)) blocks.push({ language, code: match[2] ?? "" });
  }
  return blocks;
}

/** The reply with fenced blocks removed: the prose. */
export function proseOf(reply: string): string {
  return reply.replace(FENCE, "").trim();
}

export type ProseFinal = { kind: "value"; text: string } | { kind: "variable"; name: string };

/**
 * A `FINAL(answer)` or `FINAL_VAR(name)` standing on its own line outside code, as paper-era prompts taught.
 * The parentheses must balance; the answer may run over several lines.
 */
export function findProseFinal(reply: string): ProseFinal | undefined {
  const prose = reply.replace(FENCE, (block) => "\n".repeat(block.split("\n").length - 1));
  const lines = prose.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const match = /^\s*(FINAL_VAR|FINAL)\(/.exec(lines[index] ?? "");
    if (!match) continue;
    const rest = [lines[index]?.slice(match[0].length) ?? "", ...lines.slice(index + 1)].join("\n");
    let depth = 1;
    for (let at = 0; at < rest.length; at++) {
      const char = rest[at];
      if (char === "(") depth++;
      else if (char === ")") depth--;
      if (depth === 0) {
        const inner = rest.slice(0, at).trim();
        const after = rest.slice(at + 1).split("\n", 1)[0] ?? "";
        if (after.trim() !== "") break;
        if (match[1] === "FINAL_VAR") return { kind: "variable", name: inner.replace(/^["'`]|["'`]$/g, "") };
        // FINAL("x") and FINAL('x') mean the same: one pair of matching quotes around the answer is taken off.
        return { kind: "value", text: inner.replace(/^(["'])([\s\S]*)\1$/, "$2") };
      }
    }
  }
  return undefined;
}
