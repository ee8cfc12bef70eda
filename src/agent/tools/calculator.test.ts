import type { Tool } from "ai";
import { describe, expect, it } from "vitest";
import { createCalculatorTool } from "./calculator.ts";

const calculator = createCalculatorTool();
const calculate = async (expression: string) =>
  (await (calculator as Required<Tool>).execute(
    { expression },
    { toolCallId: "t", messages: [], context: {} },
  )) as {
    result: string;
    expression: string;
  };

describe("calculator", () => {
  it("is exact for decimals and big integers", async () => {
    expect(await calculate("0.1 + 0.2")).toEqual({ result: "0.3", expression: "0.1 + 0.2" });
    expect((await calculate("2^200")).result).toBe(
      "1606938044258990275541962092341162602522202993782792835301376",
    );
    expect((await calculate("1.1 * 3")).result).toBe("3.3");
    expect((await calculate("25!")).result).toBe("15511210043330985984000000");
  });

  it("has unit-free math functions, variables and matrices", async () => {
    expect((await calculate("sqrt(16) + log(100, 10)")).result).toBe("6");
    expect((await calculate("sin(pi / 6)")).result).toBe("0.5");
    expect((await calculate("x = 3; y = x^2; y + 1")).result).toBe("10");
    expect((await calculate("sum([1, 2, 3]) * 2")).result).toBe("12");
    expect((await calculate("10 / 3")).result).toMatch(/^3\.3{40,}$/);
  });

  it("refuses factorial, gamma and permutations over lists (they would run unchecked for minutes)", async () => {
    for (const expression of [
      "[2000000]!",
      "factorial([20000000])",
      "gamma([5000, 6000])",
      "permutations([9000], 2)",
    ]) {
      await expect(calculate(expression)).rejects.toThrow(/takes one number here, not a list or matrix/);
    }
  });

  it("refuses what mathjs's security notes name, and anything outside its allow-list", async () => {
    for (const expression of [
      "import({ x: 1 }, { override: true })",
      'createUnit("foo")',
      'evaluate("1 + 1")',
      'parse("1")',
      'simplify("x + x")',
      'derivative("x^2", "x")',
      "f(x) = x; f(2)",
      "a = [1, 2]; a[1]",
      "{ a: 1 }.a",
      "1:1000000000",
      "5 cm to inch",
      "5 cm",
      'g = evaluate; g("1")',
      "zeros(100000, 100000)",
      "isPrime(2^61 - 1)",
    ]) {
      await expect(calculate(expression), expression).rejects.toThrow(/calculator: /);
    }
  });

  it("refuses huge results and long expressions before computing them", async () => {
    await expect(calculate("10^20000")).rejects.toThrow(/powers past 10\^10000/);
    await expect(calculate("2^(2^100)")).rejects.toThrow(/powers past/);
    await expect(calculate("100000!")).rejects.toThrow(/factorial of operands above 3000/);
    await expect(calculate("factorial(5000)")).rejects.toThrow(/factorial/);
    await expect(calculate("combinations(1000000, 500000)")).rejects.toThrow(/combinations/);
    await expect(calculate(`1${"+1".repeat(1500)}`)).rejects.toThrow(/longer than 2000 characters/);
    expect((await calculate("1000!")).result).toMatch(
      /^4\.0238726007709377354370243392300398571937486421071463254379991\d*e\+2567$/,
    );
  });

  it("gives errors on one line", async () => {
    const error = await calculate("1 +").catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).not.toContain("\n");
  });
});
