import { Readability } from "@mozilla/readability";
import { parseHTML } from "linkedom";
import TurndownService from "turndown";
import { foldNewlines } from "../../shared/fold-newlines.ts";

/** A page as the model reads it. */
export interface PageMarkdown {
  title: string;
  markdown: string;
}

/**
 * Tags a page may have to be parsed into a DOM. The DOM, Readability and turndown are synchronous and slow down
 * faster than linearly on hostile markup (50,000 unclosed list items blocked the process for minutes, past every
 * timeout); a page with more tags is read as plain text by a linear pass instead.
 */
const MAX_PARSED_TAGS = 10_000;

function tagCount(html: string): number {
  let count = 0;
  for (
    let index = html.indexOf("<");
    index !== -1 && count <= MAX_PARSED_TAGS;
    index = html.indexOf("<", index + 1)
  ) {
    count++;
  }
  return count;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " };

/** The HTML without script, style, noscript and template blocks, in one pass (an unclosed block runs to the end). */
function withoutCode(html: string): string {
  const lower = html.toLowerCase();
  let out = "";
  let at = 0;
  const opening = /<(script|style|noscript|template)\b/g;
  for (let match = opening.exec(lower); match !== null; match = opening.exec(lower)) {
    if (match.index < at) continue;
    out += html.slice(at, match.index);
    const close = lower.indexOf(`</${match[1]}`, match.index);
    at = close === -1 ? html.length : lower.indexOf(">", close) + 1 || html.length;
    opening.lastIndex = at;
  }
  return out + html.slice(at);
}

function decodeEntities(text: string): string {
  return text.replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, (entity, name: string) => {
    // A code point past U+10FFFF (`&#99999999;`) would throw: it becomes a space, as 0 does.
    const point = /^#x/i.test(name)
      ? Number.parseInt(name.slice(2), 16)
      : name.startsWith("#")
        ? Number(name.slice(1))
        : undefined;
    if (point !== undefined) return String.fromCodePoint(point > 0 && point <= 0x10ffff ? point : 32);
    return ENTITIES[name.toLowerCase()] ?? entity;
  });
}

/** Tags that end a line of text. */
const LINE_ENDING_TAG = /^(?:br|\/p|\/div|\/li|\/h[1-6]|\/tr)(?![\w-])/i;

/**
 * Tags replaced by a space (or a newline for those that end a line) in one pass: each character is looked at a
 * bounded number of times. (Regular expressions such as `<[^>]*>` rescan the rest of the text from every `<`
 * that has no `>` after it: quadratic on hostile markup, the very pages this path is for.)
 */
function withoutTags(html: string): string {
  const out: string[] = [];
  let at = 0;
  for (let open = html.indexOf("<"); open !== -1; open = html.indexOf("<", at)) {
    const close = html.indexOf(">", open + 1);
    if (close === -1) break; // no tag can end: the rest is text
    out.push(html.slice(at, open), LINE_ENDING_TAG.test(html.slice(open + 1, open + 8)) ? "\n" : " ");
    at = close + 1;
  }
  out.push(html.slice(at));
  return out.join("");
}

/** The text of the first `<title>` element, found with indexOf (linear). */
function titleOf(html: string): string {
  const lower = html.toLowerCase();
  const start = lower.indexOf("<title");
  if (start === -1) return "";
  const open = lower.indexOf(">", start);
  const close = open === -1 ? -1 : lower.indexOf("</title", open);
  if (close === -1) return "";
  const inner = html.slice(open + 1, close);
  return inner.includes("<") ? "" : inner.trim();
}

/** A page's text without a DOM, in linear time: scripts and styles dropped, tags removed, entities decoded. */
function plainText(html: string): PageMarkdown {
  const title = decodeEntities(titleOf(html));
  const text = foldNewlines(
    decodeEntities(withoutTags(withoutCode(html))).replace(/[ \t]+/g, " "),
    "\n",
  ).trim();
  return { title, markdown: text };
}

/**
 * HTML -> a DOM (linkedom) -> the main content (Readability) -> Markdown (turndown). When Readability finds no
 * article, the whole body is converted. Scripts, styles and other non-content elements are dropped; relative
 * links are made absolute against `url`.
 */
export function htmlToMarkdown(html: string, url: string): PageMarkdown {
  if (tagCount(html) > MAX_PARSED_TAGS) return plainText(html);
  const { document } = parseHTML(html);
  for (const element of document.querySelectorAll("script, style, noscript, template, iframe, svg")) {
    element.remove();
  }
  absolutizeLinks(document, url);
  const pageTitle = document.querySelector("title")?.textContent?.trim() ?? "";
  let article: { title?: string | null; content?: string | null } | null = null;
  try {
    // Readability changes the document it reads; the fallback below uses what is left, which is fine.
    article = new Readability(document as unknown as ConstructorParameters<typeof Readability>[0]).parse();
  } catch {
    article = null;
  }
  const content = article?.content ?? document.body?.innerHTML ?? "";
  const title = article?.title?.trim() || pageTitle;
  return { title, markdown: turndown().turndown(content).trim() };
}

function turndown(): TurndownService {
  const service = new TurndownService({
    headingStyle: "atx",
    codeBlockStyle: "fenced",
    bulletListMarker: "-",
  });
  service.remove(["script", "style", "noscript"]);
  return service;
}

function absolutizeLinks(document: ReturnType<typeof parseHTML>["document"], url: string): void {
  for (const [selector, attribute] of [
    ["a[href]", "href"],
    ["img[src]", "src"],
  ] as const) {
    for (const element of document.querySelectorAll(selector)) {
      const value = element.getAttribute(attribute);
      if (value === null) continue;
      try {
        element.setAttribute(attribute, new URL(value, url).href);
      } catch {
        element.removeAttribute(attribute);
      }
    }
  }
}
