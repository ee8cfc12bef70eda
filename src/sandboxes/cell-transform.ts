import { type Node, parse } from "acorn";
import type { CellError } from "../spec/sandbox.ts";

/** Prefix of the concurrent twin of each host function: `await llm_query(x)` calls `__async_llm_query(x)`. */
export const ASYNC_PREFIX = "__async_";

export interface TransformedCell {
  /**
   * A script that declares the cell's top-level names as globals and evaluates to the cell as an async function.
   * It runs no cell code itself: the host hands the function to the prelude's `run`, which it holds a Reference
   * to, so no global the guest could replace stands between the host and its cell.
   */
  script: string;
  /** Top-level names the cell declares. */
  declared: string[];
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

type AnyNode = Node & Record<string, unknown>;

function isNode(value: unknown): value is AnyNode {
  return (
    typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string"
  );
}

/** Visits every node below `node`, depth first. */
function walk(node: AnyNode, visit: (node: AnyNode) => void): void {
  visit(node);
  for (const key of Object.keys(node)) {
    const child = node[key];
    if (Array.isArray(child)) {
      for (const item of child) if (isNode(item)) walk(item, visit);
    } else if (isNode(child)) {
      walk(child, visit);
    }
  }
}

/** Names bound by a declaration pattern (`a`, `{a, b: c}`, `[x, ...rest]`, `d = 1`). */
function patternNames(pattern: AnyNode, names: string[]): void {
  switch (pattern.type) {
    case "Identifier":
      names.push(pattern.name as string);
      break;
    case "ObjectPattern":
      for (const property of pattern.properties as AnyNode[]) {
        patternNames(
          (property.type === "RestElement" ? property.argument : property.value) as AnyNode,
          names,
        );
      }
      break;
    case "ArrayPattern":
      for (const element of pattern.elements as Array<AnyNode | null>)
        if (element) patternNames(element, names);
      break;
    case "RestElement":
      patternNames(pattern.argument as AnyNode, names);
      break;
    case "AssignmentPattern":
      patternNames(pattern.left as AnyNode, names);
      break;
  }
}

/** Applies edits from the end backwards; edits at the same position keep the order they were made in. */
function applyEdits(code: string, edits: Edit[]): string {
  let result = code;
  const ordered = edits.map((edit, index) => ({ edit, index }));
  ordered.sort((a, b) => b.edit.start - a.edit.start || b.index - a.index);
  for (const { edit } of ordered) result = result.slice(0, edit.start) + edit.text + result.slice(edit.end);
  return result;
}

/**
 * Turns one notebook cell into a script that keeps its top-level declarations across cells.
 *
 * - `const`/`let`/`var` at the top level become assignments to global variables, so a later cell sees them
 *   and may declare them again; `function` and `class` declarations are published the same way.
 * - The cell runs inside an async function, so top-level `await` works.
 * - `await f(...)` on a host function calls its concurrent twin (see ASYNC_PREFIX).
 * - A final expression statement becomes the cell's value.
 * Lines are preserved, so error line numbers match the cell.
 */
export function transformCell(
  code: string,
  hostFunctionNames: readonly string[],
): { ok: true; cell: TransformedCell } | { ok: false; error: CellError } {
  let program: AnyNode;
  try {
    program = parse(code, {
      ecmaVersion: "latest",
      sourceType: "script",
      allowAwaitOutsideFunction: true,
      allowReturnOutsideFunction: true,
      allowHashBang: true,
    }) as unknown as AnyNode;
  } catch (error) {
    const loc = (error as { loc?: { line: number } }).loc;
    const message = (error as Error).message.replace(/ \(\d+:\d+\)$/, "");
    return { ok: false, error: { name: "SyntaxError", message, ...(loc ? { line: loc.line } : {}) } };
  }

  const edits: Edit[] = [];
  const declared: string[] = [];
  const published: string[] = [];
  const hostNames = new Set(hostFunctionNames);
  const body = program.body as AnyNode[];

  for (const statement of body) {
    if (statement.type === "VariableDeclaration") {
      const declarations = statement.declarations as AnyNode[];
      const first = declarations[0];
      const last = declarations.at(-1);
      if (first === undefined || last === undefined) continue;
      edits.push({ start: statement.start, end: first.start, text: ";(" });
      for (const declarator of declarations) {
        patternNames(declarator.id as AnyNode, declared);
        if (declarator.init === null)
          edits.push({ start: declarator.end, end: declarator.end, text: " = undefined" });
      }
      edits.push({ start: last.end, end: last.end, text: ");" });
    } else if (statement.type === "FunctionDeclaration") {
      const name = (statement.id as AnyNode).name as string;
      declared.push(name);
      published.push(name);
    } else if (statement.type === "ClassDeclaration") {
      const name = (statement.id as AnyNode).name as string;
      declared.push(name);
      edits.push({ start: statement.start, end: statement.start, text: `;${name} = ` });
      edits.push({ start: statement.end, end: statement.end, text: ";" });
    }
  }

  walk(program, (node) => {
    if (node.type !== "AwaitExpression") return;
    const call = node.argument as AnyNode;
    if (call.type !== "CallExpression") return;
    const callee = call.callee as AnyNode;
    if (callee.type === "Identifier" && hostNames.has(callee.name as string)) {
      edits.push({ start: callee.start, end: callee.start, text: ASYNC_PREFIX });
    }
  });

  const lastStatement = body.at(-1);
  if (lastStatement?.type === "ExpressionStatement") {
    const end = code[lastStatement.end - 1] === ";" ? lastStatement.end - 1 : lastStatement.end;
    edits.push({ start: lastStatement.start, end: lastStatement.start, text: ";return (" });
    edits.push({ start: end, end, text: ")" });
  }

  const names = [...new Set(declared)];
  const header = `${names.length > 0 ? `var ${names.join(", ")}; ` : ""}(async () => { ${published
    .map((name) => `globalThis.${name} = ${name}; `)
    .join("")}`;
  return {
    ok: true,
    cell: { script: `${header}${applyEdits(code, edits)}\n})`, declared: names },
  };
}
