import { type Tool, tool } from "ai";
import { all, create, type FactoryFunctionMap, type MathNode } from "mathjs";
import { z } from "zod";
import { toolError } from "./tool-error.ts";

/** Longest expression accepted, in characters. */
export const MAX_EXPRESSION_CHARS = 2000;
/** Longest result returned, in characters. */
const MAX_RESULT_CHARS = 10_000;
/** Results past 10^10000 are refused before they are computed (pow), or their operands are (below). */
const MAX_RESULT_DIGITS = 10_000;
/** factorial, gamma and permutations above this are refused (3249! is past 10^10000). */
const MAX_FACTORIAL = 3000;
/** combinations(n, k) with n above this is refused (the loop runs min(k, n - k) times). */
const MAX_COMBINATIONS = 10_000;

/** Functions the expression may call; everything else in mathjs (and every unit) is refused. */
// biome-ignore format: a list of names reads better packed
const ALLOWED_FUNCTIONS = new Set([
  "abs", "add", "subtract", "multiply", "divide", "mod", "pow", "sqrt", "cbrt", "nthRoot", "exp", "expm1", "log",
  "log10", "log2", "log1p", "ceil", "floor", "round", "fix", "sign", "gcd", "lcm", "min", "max", "sum", "prod",
  "mean", "median", "mode", "std", "variance", "hypot", "factorial", "gamma", "combinations", "permutations",
  "sin", "cos", "tan", "sec", "csc", "cot", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh",
  "acosh", "atanh", "re", "im", "conj", "arg", "isInteger", "isNegative", "isPositive", "isZero", "number",
  "bignumber", "det", "inv", "transpose", "dot", "cross", "norm", "sort", "cumsum", "compare", "equal",
  "unequal", "smaller", "larger", "smallerEq", "largerEq", "not", "and", "or", "xor",
]);
/** Operators, by the function mathjs maps them to (`to` / `in`, unit conversions, are left out). */
// biome-ignore format: a list of names reads better packed
const ALLOWED_OPERATORS = new Set([
  "add", "subtract", "multiply", "divide", "pow", "mod", "unaryMinus", "unaryPlus", "factorial", "dotMultiply",
  "dotDivide", "dotPow", "equal", "unequal", "smaller", "larger", "smallerEq", "largerEq", "and", "or", "xor",
  "not", "bitAnd", "bitOr", "bitXor", "bitNot", "leftShift", "rightArithShift", "rightLogShift",
]);
// biome-ignore format: a list of names reads better packed
const ALLOWED_CONSTANTS = new Set([
  "pi", "e", "tau", "phi", "i", "Infinity", "NaN", "true", "false", "LN2", "LN10", "LOG2E", "LOG10E", "SQRT2",
  "SQRT1_2",
]);
// biome-ignore format: a list of names reads better packed
const ALLOWED_NODES = new Set([
  "ConstantNode", "SymbolNode", "OperatorNode", "ParenthesisNode", "FunctionNode", "ArrayNode", "AssignmentNode",
  "BlockNode", "ConditionalNode",
]);

/**
 * The `calculator` tool: exact decimal arithmetic (mathjs with BigNumber, 64 significant digits: 0.1 + 0.2 is
 * 0.3, 2^200 is exact) and unit-free math functions. Security, following mathjs's security notes: a private
 * instance whose import, createUnit, evaluate, parse, compile, simplify, derivative, resolve, unit, chain... throw,
 * and an allow-list of functions, operators, constants and node types checked on the parsed expression before
 * it runs (no function definitions, property access, ranges, objects or units). Time is bounded by refusing
 * the expensive operations up front (expression length, pow results past 10^10000, factorial/gamma/permutations
 * above 3000, combinations above 10,000); nothing interrupts an evaluation once it has started.
 */
export function createCalculatorTool(): Tool {
  const math = restrictedMath();
  return tool({
    description:
      "Evaluates a math expression exactly (decimal arithmetic, 64 significant digits): + - * / ^ %, !, sqrt, log, exp, sin/cos/tan..., min/max/sum/mean, gcd/lcm, combinations, matrices like [1, 2]. Statements can be separated by ';' (x = 2; x^10); the last result is returned. No units.",
    inputSchema: z.object({
      expression: z
        .string()
        .min(1)
        .max(MAX_EXPRESSION_CHARS)
        .describe("The expression, e.g. (1.1 + 2.2) * 3"),
    }),
    execute: ({ expression }) => ({ result: math.calculate(expression), expression }),
  });
}

function restrictedMath() {
  const math = create(all as FactoryFunctionMap, { number: "BigNumber", precision: 64 });
  const { parse, format, Unit } = math;
  const original = {
    pow: math.pow,
    factorial: math.factorial,
    gamma: math.gamma,
    combinations: math.combinations,
    permutations: math.permutations,
  };
  const disabled = (name: string) => () => {
    throw new Error(`${name} is not available in the calculator`);
  };
  const guard =
    <F extends (...args: never[]) => unknown>(check: (...args: Parameters<F>) => void, fn: F) =>
    (...args: Parameters<F>) => {
      check(...args);
      return fn(...args);
    };
  const atMost = (name: string, limit: number) => (n: unknown) => {
    // A list or matrix would apply the function to each element unchecked ([20000000]! ran for 20 s).
    if (!isNumeric(n)) throw new Error(`${name} takes one number here, not a list or matrix`);
    if (math.larger(math.abs(n as number), limit)) {
      throw new Error(
        `${name} of operands above ${limit} is refused (the result would be too large to compute)`,
      );
    }
  };
  math.import(
    {
      ...Object.fromEntries(
        // biome-ignore format: a list of names reads better packed
        [
          "import", "createUnit", "evaluate", "parse", "compile", "simplify", "simplifyConstant", "simplifyCore",
          "derivative", "resolve", "rationalize", "leafCount", "symbolicEqual", "parser", "chain", "reviver",
          "replacer", "unit", "splitUnit", "to", "help", "map", "forEach", "filter", "apply",
        ].map((name) => [name, disabled(name)]),
      ),
      pow: guard((base: unknown, exponent: unknown) => checkPow(math, base, exponent), original.pow),
      factorial: guard(atMost("factorial", MAX_FACTORIAL), original.factorial),
      gamma: guard(atMost("gamma", MAX_FACTORIAL), original.gamma),
      combinations: guard(atMost("combinations", MAX_COMBINATIONS), original.combinations),
      permutations: guard(atMost("permutations", MAX_FACTORIAL), original.permutations),
    },
    { override: true },
  );

  function check(node: MathNode): void {
    node.traverse((child, path, parent) => {
      if (!ALLOWED_NODES.has(child.type)) throw new Error(`${describeNode(child.type)} is not supported`);
      if (child.type === "FunctionNode") {
        const name = (child as unknown as { fn: MathNode & { name?: string } }).fn.name;
        if (name === undefined || !ALLOWED_FUNCTIONS.has(name)) {
          throw new Error(`the function ${name ?? "(computed)"} is not available`);
        }
      } else if (child.type === "OperatorNode") {
        const { fn, op } = child as unknown as { fn: string; op: string };
        if (!ALLOWED_OPERATORS.has(fn)) throw new Error(`the operator ${op} is not supported`);
      } else if (child.type === "SymbolNode" && !(parent?.type === "FunctionNode" && path === "fn")) {
        const { name } = child as unknown as { name: string };
        if (ALLOWED_CONSTANTS.has(name)) return;
        if (Object.hasOwn(math, name) || name in math) throw new Error(`${name} cannot be used as a value`);
        if (Unit.isValuelessUnit(name)) throw new Error(`units are not supported (${name})`);
      }
    });
  }

  return {
    calculate(expression: string): string {
      if (expression.length > MAX_EXPRESSION_CHARS) {
        throw toolError(`the expression is longer than ${MAX_EXPRESSION_CHARS} characters`);
      }
      let value: unknown;
      try {
        const node = parse(expression);
        check(node);
        value = node.compile().evaluate({});
      } catch (error) {
        throw toolError(`calculator: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (math.typeOf(value) === "ResultSet") {
        const entries = (value as { entries: unknown[] }).entries;
        value = entries[entries.length - 1];
      }
      if (value === undefined) throw toolError("calculator: the expression has no value");
      if (typeof value === "function") throw toolError("calculator: the result is a function, not a value");
      const result = format(value, { notation: "auto", precision: 64, lowerExp: -20, upperExp: 65 });
      if (result.length > MAX_RESULT_CHARS) {
        throw toolError(`calculator: the result is longer than ${MAX_RESULT_CHARS} characters`);
      }
      return result;
    },
  };
}

type MathInstance = ReturnType<typeof create>;

function checkPow(math: MathInstance, base: unknown, exponent: unknown): void {
  if (!isNumeric(base) || !isNumeric(exponent)) return;
  const magnitude = math.abs(math.bignumber(base as number));
  if (magnitude.isZero() || magnitude.eq(1)) return;
  // log10 |base^exponent| = exponent * log10 |base|, in plain doubles: only its size matters.
  const digits = Number(exponent) * Number(magnitude.log(10));
  if (Math.abs(digits) > MAX_RESULT_DIGITS) {
    throw new Error(`powers past 10^${MAX_RESULT_DIGITS} (or below 10^-${MAX_RESULT_DIGITS}) are refused`);
  }
}

function isNumeric(value: unknown): boolean {
  return typeof value === "number" || (typeof value === "object" && value !== null && "isBigNumber" in value);
}

function describeNode(type: string): string {
  const names: Record<string, string> = {
    FunctionAssignmentNode: "defining functions",
    AccessorNode: "property access",
    IndexNode: "indexing",
    ObjectNode: "objects",
    RangeNode: "ranges (a:b)",
  };
  return names[type] ?? type;
}
