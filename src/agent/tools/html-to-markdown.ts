import { Readability } from "@mozilla/readability";
import { parseHTML } from "linkedom";
import TurndownService from "turndown";

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
    if (/^#x/i.test(name)) return String.fromCodePoint(Number.parseInt(name.slice(2), 16) || 32);
    if (name.startsWith("#")) return String.fromCodePoint(Number(name.slice(1)) || 32);
    return ENTITIES[name.toLowerCase()] ?? entity;
  });
}

/** A page's text without a DOM, in linear time: scripts and styles dropped, tags removed, entities decoded. */
function plainText(html: string): PageMarkdown {
  const title = decodeEntities(/<title[^>]*>([^<]*)<\/title>/i.exec(html)?.[1]?.trim() ?? "");
  const text = decodeEntities(
    withoutCode(html)
      .replace(/<(?:br|\/p|\/div|\/li|\/h[1-6]|\/tr)\b[^>]*>/gi, "\n")
      .replace(/<[^>]*>/g, " "),
  )
    .replace(/[ \t]+/g, " ")
    .replace(/\s*\n\s*/g, "\n")
    .trim();
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
