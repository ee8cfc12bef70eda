import { Readability } from "@mozilla/readability";
import { parseHTML } from "linkedom";
import TurndownService from "turndown";

/** A page as the model reads it. */
export interface PageMarkdown {
  title: string;
  markdown: string;
}

/**
 * HTML -> a DOM (linkedom) -> the main content (Readability) -> Markdown (turndown). When Readability finds no
 * article, the whole body is converted. Scripts, styles and other non-content elements are dropped; relative
 * links are made absolute against `url`.
 */
export function htmlToMarkdown(html: string, url: string): PageMarkdown {
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
