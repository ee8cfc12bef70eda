import type { RunEvent } from "../../engine/run-events.ts";
import { buildTraceModel, type TraceModel, type ViewNode } from "./trace-model.ts";

/** What changed from version `base` to `version`: the nodes that are new or differ, and the model's other fields. */
export interface ModelPatch {
  base: number;
  version: number;
  /** How many nodes the model has now. */
  count: number;
  nodes: ViewNode[];
  model: Omit<TraceModel, "nodes">;
}

/**
 * The live view's model: rebuilt from all events when they change, numbered by version, with the patch from the
 * previous version. Node ids stay put as events are appended (run-tree.ts), so a patch is the nodes whose JSON
 * differs; a trace that started over gets no patch (clients reload the whole model).
 */
export class LiveModel {
  version = 0;
  model: TraceModel;
  /** The patch from version - 1, unless the model started over. */
  patch: ModelPatch | undefined;
  /** How long the last rebuild took, in ms (the server spaces rebuilds by it). */
  buildMs = 0;
  private nodeJson: string[];
  private readonly title: string;
  private waiters: Array<() => void> = [];
  /** This version's messages as JSON, made once however many viewers read them (32 copies of a big model would not fit). */
  private messages: { version: number; model?: string; patch?: string } = { version: -1 };

  constructor(events: readonly RunEvent[], title: string) {
    this.title = title;
    this.model = buildTraceModel(events, title);
    this.nodeJson = this.model.nodes.map((node) => JSON.stringify(node));
  }

  update(events: readonly RunEvent[], reset: boolean): void {
    const started = performance.now();
    const next = buildTraceModel(events, this.title);
    const json = next.nodes.map((node) => JSON.stringify(node));
    const base = this.version;
    this.version++;
    if (reset || json.length < this.nodeJson.length) this.patch = undefined;
    else {
      const changed: ViewNode[] = [];
      json.forEach((text, id) => {
        if (text !== this.nodeJson[id]) changed.push(next.nodes[id] as ViewNode);
      });
      const { nodes: _nodes, ...rest } = next;
      this.patch = { base, version: this.version, count: json.length, nodes: changed, model: rest };
    }
    this.model = next;
    this.nodeJson = json;
    this.buildMs = performance.now() - started;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** `{version, model}` as JSON: the whole model, for a viewer that is behind. */
  modelMessage(): string {
    const cached = this.cachedMessages();
    cached.model ??= JSON.stringify({ version: this.version, model: this.model });
    return cached.model;
  }

  /** The patch from the previous version as JSON, if there is one. */
  patchMessage(): string | undefined {
    if (this.patch === undefined) return undefined;
    const cached = this.cachedMessages();
    cached.patch ??= JSON.stringify(this.patch);
    return cached.patch;
  }

  private cachedMessages() {
    if (this.messages.version !== this.version) this.messages = { version: this.version };
    return this.messages;
  }

  /** Resolves at the next version (or when `release` is called, at shutdown). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes every waiter (the server is stopping). */
  release(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}
