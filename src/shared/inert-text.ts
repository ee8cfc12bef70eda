/**
 * Text from a store (memory items, cases, lessons) as inert data on one line for a prompt: whitespace collapsed,
 * cut to `max` characters, and `&`, `<`, `>` escaped, so no markup survives and nothing can close the fence
 * (`<memory>`, `<cases>`, `<playbook>`) it is shown in.
 */
export function inertText(text: string, max: number): string {
  return text
    .replace(/\s+/g, " ")
    .slice(0, max)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}
