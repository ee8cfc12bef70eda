import { ScriptedModel } from "./scripted-model.ts";

const QUESTION = /special magic number for ([\w-]+)/;

/**
 * A scripted stand-in, not a language model: it answers S-NIAH questions ("the special magic number for X") by
 * regex, under every strategy. As the RLM root it writes one cell that greps the context; given text it reads the
 * number out of it. It proves that the benchmark pipeline works end to end, never that a model is good.
 */
export function createNeedleRegexModel(modelId = "needle-regex"): ScriptedModel {
  return new ScriptedModel({
    modelId,
    replies: (call) => {
      const all = call.messages.map((message) => message.text).join("\n");
      const key = QUESTION.exec(all)?.[1];
      if (key === undefined) return "NONE";
      const turns = call.messages.filter((message) => message.role !== "system").length;
      const isRlmRoot = call.system.includes("REPL") && turns === 1;
      if (isRlmRoot) {
        const pattern = `special magic number for ${key} is (\\\\d{7})`;
        return `\`\`\`repl\nconst hit = grep('${pattern}')[0]\nFINAL(hit ? hit.match.slice(-7) : 'not found')\n\`\`\``;
      }
      const found =
        new RegExp(`special magic number for ${key} is (\\d{7})`).exec(call.lastUserText)?.[1] ??
        /magic number (\d{7})/.exec(call.lastUserText)?.[1];
      return found === undefined ? "NONE" : `magic number ${found}`;
    },
  });
}
