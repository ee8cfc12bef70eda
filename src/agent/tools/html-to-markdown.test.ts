/** Hostile markup (found by an attack review: 50,000 unclosed list items blocked the process for minutes). */
import { describe, expect, it } from "vitest";
import { htmlToMarkdown } from "./html-to-markdown.ts";

describe("htmlToMarkdown on hostile markup", () => {
  it("reads a page with too many tags as plain text, in linear time, instead of building a DOM", () => {
    for (const html of ["<ul><li>".repeat(50_000), "<div>".repeat(200_000), "<p><b><i>x".repeat(100_000)]) {
      const page = htmlToMarkdown(`<title>Bomb &amp; co</title>${html}end`, "http://example.com/");
      expect(page.title).toBe("Bomb & co");
      expect(page.markdown.endsWith("end")).toBe(true);
    }
  });

  // Found in a review of this path: regular expressions like <[^>]*> and \s*\n\s* rescanned the rest of the text
  // from every position that could not match (quadratic: 100,000 characters took seconds). The timeout guards
  // against a hang.
  it("stays linear on markup that never closes, long whitespace, and code points past Unicode", () => {
    const tags = "<i>x</i>".repeat(6000);
    for (const bomb of [
      "<".repeat(400_000),
      "<title".repeat(80_000),
      "<br".repeat(150_000),
      "\f".repeat(400_000),
    ]) {
      const page = htmlToMarkdown(`<title>T</title>${tags}\n${bomb}\nend`, "http://example.com/");
      expect(page.title).toBe("T");
      expect(page.markdown.endsWith("end")).toBe(true);
    }
    const odd = htmlToMarkdown(`${tags}<p>a&#99999999;b&#x110000;c</p>`, "http://example.com/");
    expect(odd.markdown).toContain("a b c");
  }, 10_000);

  it("drops scripts and styles in the plain-text reading, even unclosed ones", () => {
    const page = htmlToMarkdown(
      `<p>before</p><script>var secret = "<p>not text</p>";</script><style>p{}</style>${"<i>x</i>".repeat(6000)}<script>`,
      "http://example.com/",
    );
    expect(page.markdown.startsWith("before")).toBe(true);
    expect(page.markdown).not.toContain("secret");
    expect(page.markdown).not.toContain("p{}");
  });
});
