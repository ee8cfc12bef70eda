import { describe, expect, it } from "vitest";
import { containsScore } from "../suite.ts";
import {
  MEMORY_ATTRIBUTES,
  MEMORY_UNSTATED,
  type MemoryAttribute,
  memorySessionsSuite,
  unknownScore,
} from "./memory-sessions.ts";

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The attribute a question asks about, and the day it names (past questions). */
function asked(
  query: string,
): { attribute: MemoryAttribute; kind: "latest" | "past"; day?: string } | undefined {
  for (const attribute of MEMORY_ATTRIBUTES) {
    if (query.startsWith(attribute.latest)) return { attribute, kind: "latest" };
    const past = new RegExp(
      `^${escapeRegExp(attribute.past).replace("DATE", "(\\d{4}-\\d{2}-\\d{2})")}`,
    ).exec(query);
    if (past) return { attribute, kind: "past", day: past[1] as string };
  }
  return undefined;
}

/**
 * An attribute's values over the history, read back from the text: a session's user lines name the new value
 * (and, for a change, maybe the old one too).
 */
function timeline(history: Array<{ at: string; text: string }>, attribute: MemoryAttribute) {
  const changes: Array<{ day: string; value: string }> = [];
  for (const session of history) {
    const said = session.text
      .split("\n")
      .filter((line) => line.startsWith("User:"))
      .join(" ");
    const named = attribute.values.filter((value) => containsScore(said, value) === 1);
    const current = changes.at(-1)?.value;
    const next = named.filter((value) => value !== current);
    expect(next.length, `${attribute.name} on ${session.at}: ${named}`).toBeLessThanOrEqual(1);
    if (next[0] !== undefined) changes.push({ day: session.at.slice(0, 10), value: next[0] });
  }
  return changes;
}

describe("the memory suite", () => {
  const tasks = Array.from({ length: 12 }, (_, index) => memorySessionsSuite.generate(8192, 3, index));
  // Small and larger histories, other seeds: the same rules hold.
  const more = [1024, 32_768].flatMap((size) =>
    Array.from({ length: 9 }, (_, index) => memorySessionsSuite.generate(size, 11 + index, index)),
  );

  it("is deterministic, dated in order, and keeps the history out of the context", () => {
    const again = memorySessionsSuite.generate(8192, 3, 4);
    expect(again.history).toEqual(tasks[4]?.history);
    expect(again.query).toBe(tasks[4]?.query);
    for (const task of tasks) {
      const history = task.history ?? [];
      expect(history.length).toBeGreaterThanOrEqual(6);
      const times = history.map((session) => session.at);
      expect([...times].sort()).toEqual(times);
      expect(new Set(times).size).toBe(times.length);
      expect(task.context.length).toBeLessThan(400);
      const today = /Chat session on (\d{4}-\d{2}-\d{2})/.exec(task.context)?.[1] as string;
      expect(today > (times.at(-1) as string).slice(0, 10)).toBe(true);
      for (const session of history) expect(task.context).not.toContain(session.text.slice(0, 80));
    }
  });

  it("cycles over latest, past and never-stated questions with the right expected value", () => {
    const kinds = new Set<string>();
    for (const [index, task] of [...tasks, ...more].entries()) {
      const question = asked(task.query);
      if (index % 3 === 2) {
        expect(question).toBeUndefined();
        expect(task.expected).toBe("unknown");
        kinds.add("unknown");
        continue;
      }
      expect(question?.kind).toBe(index % 3 === 0 ? "latest" : "past");
      const { attribute, kind, day } = question as NonNullable<typeof question>;
      kinds.add(kind);
      const changes = timeline(task.history ?? [], attribute);
      expect(changes.length).toBeGreaterThanOrEqual(2);
      if (kind === "latest") {
        expect(task.expected).toBe(changes.at(-1)?.value);
      } else {
        // The value valid on that day: the last one stated before it, and it has changed since.
        const valid = changes.filter((change) => change.day < (day as string));
        expect(valid.length).toBeGreaterThan(0);
        expect(changes.some((change) => change.day === day)).toBe(false);
        expect(task.expected).toBe(valid.at(-1)?.value);
        expect(task.expected).not.toBe(changes.at(-1)?.value);
      }
      expect(task.score(`It is ${task.expected}.`)).toBe(1);
      const other = attribute.values.find((value) => value !== task.expected) as string;
      expect(task.score(other)).toBe(0);
      expect(task.score("unknown")).toBe(0);
    }
    expect([...kinds].sort()).toEqual(["latest", "past", "unknown"]);
  });

  it("scores a never-stated question 1 for a refusal, 0 for a value, even someone else's", () => {
    const task = tasks[2] as (typeof tasks)[number];
    expect(task.score("unknown")).toBe(1);
    expect(task.score("It was not stated in the conversations.")).toBe(1);
    expect(task.score("The user never mentioned it.")).toBe(1);
    expect(task.score("I don't know.")).toBe(1);
    expect(task.score("Lisbon")).toBe(0);
    expect(task.score("")).toBe(0);
    // The history states it for a friend: naming that value is wrong, even beside a refusal.
    const unstated = MEMORY_UNSTATED.find((item) => task.query.startsWith(item.question));
    const history = (task.history ?? []).map((session) => session.text).join("\n");
    const aside = unstated?.values.find((value) => containsScore(history, value) === 1);
    expect(aside).toBeDefined();
    expect(task.score(aside)).toBe(0);
    expect(task.score(`Unknown for the user; a friend's is ${aside}.`)).toBe(0);
    expect(unknownScore("teal", ["teal", "lilac"])).toBe(0);
    expect(unknownScore("Unknown; a friend's is teal.", ["teal", "lilac"])).toBe(0);
    expect(unknownScore("Not mentioned.", ["teal", "lilac"])).toBe(1);
    expect(unknownScore("It wasn't stated.", ["teal"])).toBe(1);
  });
});
