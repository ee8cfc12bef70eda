/**
 * The globs `rlm_run`'s `paths` may hold, matched by our own code in time linear in the name and the pattern.
 * A client's pattern is hostile input: a general glob library expands braces eagerly (`{a,b}` 20 times is a
 * million patterns) and matches through regular expressions that backtrack (`*a*a*a*a*b`, `+(a|aa)b` take
 * minutes on one long file name), with the event loop blocked all along. Here:
 *
 * - `*` (any run of characters in one name), `?` (one character), `[abc]`, `[a-z]`, `[!a]` / `[^a]` (a class),
 *   `**` (any number of folders), `{a,b}` (alternatives, nested allowed, at most MAX_ALTERNATIVES in all), `\x`
 *   (x itself). Nothing else is special: `+(a|b)`-style extended globs are refused, not taken literally.
 * - A segment is matched by the two-pointer wildcard algorithm (no regular expression), a path by a set of
 *   positions in the pattern (an NFA), so the work per name is at most its length times the pattern's.
 */

/** Patterns one glob may expand to through its braces. */
export const MAX_ALTERNATIVES = 64;

type Token = { kind: "char"; char: string } | { kind: "any" } | { kind: "star" } | ClassToken;
interface ClassToken {
  kind: "class";
  negated: boolean;
  /** Single characters and inclusive ranges, as code points. */
  ranges: Array<[number, number]>;
}

/** One name of a pattern: the tokens of a segment, or `**`. */
export type Segment = { kind: "globstar" } | { kind: "name"; tokens: Token[] };

/** Characters that make a path a glob. */
export const GLOB_CHARACTERS = /[*?[\]{}]/;
const EXTENDED_GLOB = /[*?+@!]\(/;

/**
 * The patterns a glob stands for, `{}` expanded (at most MAX_ALTERNATIVES), each split into its segments.
 * Throws a one-line Error for what it refuses.
 */
export function compileGlob(pattern: string): Segment[][] {
  if (EXTENDED_GLOB.test(pattern)) {
    throw new Error(
      `${pattern}: extended globs such as +(a|b) are not supported; use * ? [abc] ** and {a,b}`,
    );
  }
  return expandBraces(pattern).map((one) => {
    const segments: Segment[] = [];
    for (const part of one.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") throw new Error(`${pattern}: a glob must hold no ".." (it stays under the root)`);
      if (part === "**") {
        // `**/**` is `**`: a run of them would only multiply the positions to follow.
        if (segments.at(-1)?.kind !== "globstar") segments.push({ kind: "globstar" });
        continue;
      }
      segments.push({ kind: "name", tokens: tokenize(part) });
    }
    return segments;
  });
}

/** `a{b,c}d` -> `abd`, `acd`; nested braces; a brace without a comma or a closing brace is literal. */
function expandBraces(pattern: string): string[] {
  const found: string[] = [];
  const expand = (text: string) => {
    const group = firstGroup(text);
    if (group === undefined) {
      if (found.length >= MAX_ALTERNATIVES) {
        throw new Error(
          `the glob expands to more than ${MAX_ALTERNATIVES} patterns through its {} alternatives; use fewer`,
        );
      }
      found.push(text);
      return;
    }
    const head = text.slice(0, group.start);
    const tail = text.slice(group.end + 1);
    for (const alternative of group.alternatives) expand(head + alternative + tail);
  };
  expand(pattern);
  return found;
}

/** The first `{...}` holding a top-level comma: where it starts and ends, and its alternatives. */
function firstGroup(text: string): { start: number; end: number; alternatives: string[] } | undefined {
  for (let start = 0; start < text.length; start++) {
    if (text[start] === "\\") {
      start++;
      continue;
    }
    if (text[start] !== "{") continue;
    let depth = 0;
    let from = start + 1;
    const alternatives: string[] = [];
    for (let at = start; at < text.length; at++) {
      const char = text[at];
      if (char === "\\") {
        at++;
      } else if (char === "{") {
        depth++;
      } else if (char === "}") {
        depth--;
        if (depth === 0) {
          if (alternatives.length === 0) break; // `{a}`: literal, look further
          alternatives.push(text.slice(from, at));
          return { start, end: at, alternatives };
        }
      } else if (char === "," && depth === 1) {
        alternatives.push(text.slice(from, at));
        from = at + 1;
      }
    }
  }
  return undefined;
}

function tokenize(part: string): Token[] {
  const tokens: Token[] = [];
  const chars = Array.from(part);
  for (let at = 0; at < chars.length; at++) {
    const char = chars[at] as string;
    if (char === "\\" && at + 1 < chars.length) tokens.push({ kind: "char", char: chars[++at] as string });
    else if (char === "*") {
      if (tokens.at(-1)?.kind !== "star") tokens.push({ kind: "star" });
    } else if (char === "?") tokens.push({ kind: "any" });
    else if (char === "[") {
      const parsed = characterClass(chars, at);
      if (parsed === undefined) tokens.push({ kind: "char", char });
      else {
        tokens.push(parsed.token);
        at = parsed.end;
      }
    } else tokens.push({ kind: "char", char });
  }
  return tokens;
}

/** `[...]` starting at `start`: the class and the index of its `]`; undefined when it does not close. */
function characterClass(chars: string[], start: number): { token: ClassToken; end: number } | undefined {
  let at = start + 1;
  const negated = chars[at] === "!" || chars[at] === "^";
  if (negated) at++;
  const ranges: Array<[number, number]> = [];
  for (let first = true; at < chars.length; at++, first = false) {
    let char = chars[at] as string;
    if (char === "]" && !first) return { token: { kind: "class", negated, ranges }, end: at };
    if (char === "\\" && at + 1 < chars.length) char = chars[++at] as string;
    const low = char.codePointAt(0) as number;
    if (chars[at + 1] === "-" && at + 2 < chars.length && chars[at + 2] !== "]") {
      const high = (chars[at + 2] as string).codePointAt(0) as number;
      ranges.push([low, high]);
      at += 2;
    } else ranges.push([low, low]);
  }
  return undefined;
}

function matchesOne(token: Token, char: string): boolean {
  if (token.kind === "any") return true;
  if (token.kind === "char") return token.char === char;
  if (token.kind === "class") {
    const code = char.codePointAt(0) as number;
    const inside = token.ranges.some(([low, high]) => code >= low && code <= high);
    return inside !== token.negated;
  }
  return false;
}

/** Whether one name matches a segment's tokens: greedy with a return to the last star, O(name x tokens). */
export function matchName(tokens: Token[], name: string): boolean {
  const chars = Array.from(name);
  let t = 0;
  let c = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (c < chars.length) {
    const token = tokens[t];
    if (token !== undefined && token.kind === "star") {
      starAt = t++;
      resumeAt = c;
    } else if (token !== undefined && matchesOne(token, chars[c] as string)) {
      t++;
      c++;
    } else if (starAt >= 0) {
      t = starAt + 1;
      c = ++resumeAt;
    } else return false;
  }
  while (tokens[t]?.kind === "star") t++;
  return t === tokens.length;
}

/**
 * The positions in `segments` reached after one more name, from `positions` (a sorted set, closed under
 * skipping a `**`). A `**` stays where it is (it takes the name) or moves on.
 */
export function step(segments: Segment[], positions: number[], name: string): number[] {
  const next = new Set<number>();
  for (const at of positions) {
    const segment = segments[at];
    if (segment === undefined) continue;
    if (segment.kind === "globstar") next.add(at);
    else if (matchName(segment.tokens, name)) next.add(at + 1);
  }
  return close(segments, [...next]);
}

/** The positions, with every position after a `**` at them added (a `**` may stand for no folder). */
export function close(segments: Segment[], positions: number[]): number[] {
  const all = new Set(positions);
  for (const at of positions) {
    for (let next = at; segments[next]?.kind === "globstar"; next++) all.add(next + 1);
  }
  return [...all].sort((a, b) => a - b);
}

/** Whether the positions reached the end of the pattern (the path matches). */
export const complete = (segments: Segment[], positions: number[]) => positions.includes(segments.length);
