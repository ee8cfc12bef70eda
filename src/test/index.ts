export { createNeedleRegexModel } from "./needle-regex-model.ts";
export {
  type ScriptedCall,
  ScriptedModel,
  type ScriptedModelOptions,
  type ScriptedReplies,
  type ScriptedReply,
} from "./scripted-model.ts";
export {
  type ChatCompletionBody,
  type RecordedRequest,
  type ScriptedServer,
  type ScriptedServerOptions,
  type ServerReplies,
  type ServerReply,
  scriptedEmbedding,
  startScriptedServer,
} from "./scripted-server.ts";
