import { createHash } from "node:crypto";
import type { MemoryItem } from "../spec/memory-store.ts";

/**
 * The playbook's operation log and its replay. Every change to the playbook is one typed operation, stored as one
 * memory item (kind "lesson", key PLAYBOOK_OP_KEY, the operation in its metadata); the playbook is what replaying
 * the log in insertion order gives. Nothing is overwritten, so writers never lose each other's operations, and
 * the same log always replays to the same playbook.
 */

/** The key of every operation item. */
export const PLAYBOOK_OP_KEY = "playbook-op";
/** The section rendered apart, as "mistakes to avoid". */
export const MISTAKES_SECTION = "mistakes";
export const DEFAULT_SECTION = "general";
/** Longest bullet text stored (characters). */
export const MAX_BULLET_CHARS = 2000;
/** Near-duplicates: word-set Jaccard similarity at least this. */
export const DUPLICATE_SIMILARITY = 0.8;
const SECTION_PATTERN = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const BULLET_ID_PATTERN = /^pb-[0-9a-f]{8,16}$/;

export type PlaybookTag = "helpful" | "harmful";

export type PlaybookOperation =
  | { type: "ADD"; bulletId: string; text: string; section: string }
  | { type: "UPDATE"; bulletId: string; text: string }
  | { type: "TAG"; bulletId: string; tag: PlaybookTag }
  | { type: "REMOVE"; bulletId: string }
  | { type: "ROLLBACK"; opId: string };

export type PlaybookOperationType = PlaybookOperation["type"];

/** One stored operation: the memory item's id and time, who wrote it and why. */
export interface PlaybookOpRecord {
  id: string;
  at: string;
  op: PlaybookOperation;
  /** "cli", "citation", "reflector", "curator" (pruning), or what a library caller passed. */
  by: string;
  runId?: string;
  reason?: string;
}

/** What replay made of an operation (for `history`). */
export interface PlaybookOpEffect {
  /** "applied", "merged into pb-...", "rolled back by OP", "no effect (...)". */
  effect: string;
  rolledBackBy?: string;
}

export interface PlaybookBullet {
  id: string;
  text: string;
  section: string;
  helpful: number;
  harmful: number;
  /** The ADD operation's id and time. */
  addedBy: string;
  createdAt: string;
  /** Position of the ADD in the log: higher is newer. */
  order: number;
}

export interface PlaybookState {
  /** Live bullets, in the order they were added. */
  bullets: PlaybookBullet[];
  /** Every operation in log order with what it did. */
  history: Array<PlaybookOpRecord & PlaybookOpEffect>;
  /** Bullet ids that were merged into another bullet (a duplicate ADD), and where they went. */
  aliases: Map<string, string>;
}

export function netScore(bullet: { helpful: number; harmful: number }): number {
  return bullet.helpful - bullet.harmful;
}

/** Highest net score first, then newer first: the order bullets enter the prompt (and leave it when pruned). */
export function byRank(a: PlaybookBullet, b: PlaybookBullet): number {
  return netScore(b) - netScore(a) || b.order - a.order;
}

export function isBulletId(value: unknown): value is string {
  return typeof value === "string" && BULLET_ID_PATTERN.test(value);
}

/** A section name as stored: lower case, letters, digits, _ and -; "mistakes to avoid" means MISTAKES_SECTION. */
export function normalizeSection(value: unknown): string | undefined {
  if (value === undefined || value === null || value === "") return DEFAULT_SECTION;
  if (typeof value !== "string") return undefined;
  const section = value.trim().toLowerCase();
  if (/^mistakes?( to avoid)?$/.test(section)) return MISTAKES_SECTION;
  return SECTION_PATTERN.test(section) ? section : undefined;
}

/** A bullet's text as stored: one line, trimmed, at most `max` characters. */
export function cleanBulletText(text: string, max = MAX_BULLET_CHARS): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 3).trimEnd()}...` : flat;
}

export function normalizedText(text: string): string {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).join(" ");
}

function wordSet(text: string): Set<string> {
  return new Set(normalizedText(text).split(" ").filter(Boolean));
}

function jaccard(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 || b.size === 0) return 0;
  let shared = 0;
  for (const word of a) if (b.has(word)) shared++;
  return shared / (a.size + b.size - shared);
}

/** A stored operation from its memory item, or undefined when the item is no operation (or was forgotten). */
export function recordOf(item: MemoryItem): PlaybookOpRecord | undefined {
  const meta = item.metadata;
  const op = operationOf(meta.op === undefined ? undefined : meta);
  if (!op) return undefined;
  return {
    id: item.id,
    at: item.createdAt,
    op,
    by: typeof meta.by === "string" ? meta.by : "unknown",
    ...(typeof meta.runId === "string" ? { runId: meta.runId } : {}),
    ...(typeof meta.reason === "string" ? { reason: meta.reason } : {}),
  };
}

/** An operation checked for shape, or undefined. */
export function operationOf(value: unknown): PlaybookOperation | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const meta = value as Record<string, unknown>;
  const { op: type, bulletId } = meta;
  if (type === "ROLLBACK") {
    return typeof meta.opId === "string" && meta.opId !== "" ? { type, opId: meta.opId } : undefined;
  }
  if (!isBulletId(bulletId)) return undefined;
  switch (type) {
    case "ADD": {
      const section = normalizeSection(meta.section);
      if (typeof meta.text !== "string" || meta.text.trim() === "" || section === undefined) return undefined;
      return { type, bulletId, text: cleanBulletText(meta.text), section };
    }
    case "UPDATE":
      if (typeof meta.text !== "string" || meta.text.trim() === "") return undefined;
      return { type, bulletId, text: cleanBulletText(meta.text) };
    case "TAG":
      return meta.tag === "helpful" || meta.tag === "harmful" ? { type, bulletId, tag: meta.tag } : undefined;
    case "REMOVE":
      return { type, bulletId };
    default:
      return undefined;
  }
}

/** The metadata an operation is stored with. */
export function metadataOf(record: Omit<PlaybookOpRecord, "id" | "at">): Record<string, unknown> {
  const { op, ...rest } = record;
  const { type, ...fields } = op;
  return { op: type, ...fields, ...rest };
}

/** A short line for the item's text (what `rlm memory list` shows). */
export function describeOperation(op: PlaybookOperation): string {
  switch (op.type) {
    case "ADD":
      return `playbook ADD ${op.bulletId} [${op.section}] ${op.text}`;
    case "UPDATE":
      return `playbook UPDATE ${op.bulletId} ${op.text}`;
    case "TAG":
      return `playbook TAG ${op.bulletId} ${op.tag}`;
    case "REMOVE":
      return `playbook REMOVE ${op.bulletId}`;
    case "ROLLBACK":
      return `playbook ROLLBACK ${op.opId}`;
  }
}

/**
 * Which operations are rolled back: a ROLLBACK that is not itself rolled back undoes its target. Walking the log
 * backwards settles each ROLLBACK before its (earlier) target is reached, so a rollback of a rollback redoes the
 * operation. A ROLLBACK whose target is not earlier in the log does nothing.
 */
function rolledBack(records: PlaybookOpRecord[]): Map<string, string> {
  const position = new Map(records.map((record, index) => [record.id, index]));
  const undone = new Map<string, string>();
  for (let index = records.length - 1; index >= 0; index--) {
    const record = records[index] as PlaybookOpRecord;
    if (record.op.type !== "ROLLBACK" || undone.has(record.id)) continue;
    const target = position.get(record.op.opId);
    if (target !== undefined && target < index) undone.set(record.op.opId, record.id);
  }
  return undone;
}

/** Replays operations one at a time (for a whole log, or to see what a batch would do before it is stored). */
export class PlaybookReplay {
  readonly live = new Map<string, PlaybookBullet>();
  readonly aliases = new Map<string, string>();
  readonly history: Array<PlaybookOpRecord & PlaybookOpEffect> = [];
  readonly #words = new Map<string, Set<string>>();
  readonly #byText = new Map<string, string>();
  /** Every id an applied ADD used, removed or merged ones included: an id is never given out twice. */
  readonly #everAdded = new Set<string>();
  #order = 0;

  /** The live bullet an id means now (following merges), if any. */
  resolve(bulletId: string): PlaybookBullet | undefined {
    return this.live.get(this.aliases.get(bulletId) ?? bulletId);
  }

  /** A live bullet the text duplicates: the same words, or a near-duplicate (Jaccard >= DUPLICATE_SIMILARITY). */
  duplicateOf(text: string): PlaybookBullet | undefined {
    const normal = normalizedText(text);
    const exact = this.#byText.get(normal);
    if (exact !== undefined) return this.live.get(exact);
    const words = wordSet(text);
    let best: PlaybookBullet | undefined;
    let bestScore = DUPLICATE_SIMILARITY;
    for (const bullet of this.live.values()) {
      const score = jaccard(words, this.#words.get(bullet.id) ?? new Set());
      if (score >= bestScore) {
        best = bullet;
        bestScore = score;
      }
    }
    return best;
  }

  isTaken(bulletId: string): boolean {
    return this.live.has(bulletId) || this.aliases.has(bulletId) || this.#everAdded.has(bulletId);
  }

  #index(bullet: PlaybookBullet): void {
    this.#words.set(bullet.id, wordSet(bullet.text));
    this.#byText.set(normalizedText(bullet.text), bullet.id);
  }

  #unindex(bullet: PlaybookBullet): void {
    this.#words.delete(bullet.id);
    if (this.#byText.get(normalizedText(bullet.text)) === bullet.id)
      this.#byText.delete(normalizedText(bullet.text));
  }

  /** Applies one operation (or records that it is rolled back) and returns what it did. */
  step(record: PlaybookOpRecord, rolledBackBy?: string): string {
    const effect = rolledBackBy === undefined ? this.#apply(record) : `rolled back by ${rolledBackBy}`;
    this.history.push({ ...record, effect, ...(rolledBackBy === undefined ? {} : { rolledBackBy }) });
    return effect;
  }

  #apply(record: PlaybookOpRecord): string {
    const { op } = record;
    this.#order++;
    switch (op.type) {
      case "ADD": {
        const duplicate = this.duplicateOf(op.text);
        // Two writers may pick the same random id: the later ADD then takes one derived from its own item id.
        const id = this.isTaken(op.bulletId)
          ? `pb-${createHash("sha256").update(record.id).digest("hex").slice(0, 12)}`
          : op.bulletId;
        this.#everAdded.add(op.bulletId);
        this.#everAdded.add(id);
        if (duplicate) {
          duplicate.helpful++;
          this.aliases.set(id, duplicate.id);
          if (id !== op.bulletId && !this.aliases.has(op.bulletId))
            this.aliases.set(op.bulletId, duplicate.id);
          return `merged into ${duplicate.id} (a duplicate: counted as helpful)`;
        }
        const bullet: PlaybookBullet = {
          id,
          text: op.text,
          section: op.section,
          helpful: 0,
          harmful: 0,
          addedBy: record.id,
          createdAt: record.at,
          order: this.#order,
        };
        this.live.set(id, bullet);
        this.#index(bullet);
        return id === op.bulletId ? "applied" : `applied as ${id} (id taken)`;
      }
      case "UPDATE": {
        const bullet = this.resolve(op.bulletId);
        if (!bullet) return `no effect (${op.bulletId} is not in the playbook)`;
        this.#unindex(bullet);
        bullet.text = op.text;
        this.#index(bullet);
        return "applied";
      }
      case "TAG": {
        const bullet = this.resolve(op.bulletId);
        if (!bullet) return `no effect (${op.bulletId} is not in the playbook)`;
        bullet[op.tag]++;
        return "applied";
      }
      case "REMOVE": {
        const bullet = this.resolve(op.bulletId);
        if (!bullet) return `no effect (${op.bulletId} is not in the playbook)`;
        this.#unindex(bullet);
        this.live.delete(bullet.id);
        return "applied";
      }
      case "ROLLBACK":
        return this.history.some((earlier) => earlier.id === op.opId)
          ? `undid ${op.opId}`
          : `no effect (${op.opId} is not an earlier operation)`;
    }
  }

  state(): PlaybookState {
    return {
      bullets: [...this.live.values()].sort((a, b) => a.order - b.order).map((bullet) => ({ ...bullet })),
      history: this.history,
      aliases: new Map(this.aliases),
    };
  }
}

/** The playbook a log of operations gives: deterministic, the same for every reader of the same log. */
export function replayOperations(records: PlaybookOpRecord[]): PlaybookReplay {
  const undone = rolledBack(records);
  const replay = new PlaybookReplay();
  for (const record of records) replay.step(record, undone.get(record.id));
  return replay;
}
