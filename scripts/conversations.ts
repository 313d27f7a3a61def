// Loads whole conversations for the yardstick (npm run eval): the hand-written sets in fixtures/conversations/
// (calm, asks-for-a-person, upset; each kept as separate dev and test files) and the Taskmaster coffee orders.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Track } from '../src/types.js';
import { REPO_ROOT, dataDir } from './classifier-data.js';

export type Split = 'dev' | 'test';

export interface ConversationTurn {
  track: Track;
  text: string;
  /** Upset sets: the caller is upset on this turn (a person should have the call by the third such turn). */
  upset?: boolean;
  /** Person-request sets: the caller asks for a person on this turn. */
  asksForPerson?: boolean;
}

export interface Conversation {
  id: string;
  /** What the call is about (restaurant, train, billing, coffee, …): figures are broken down by it. */
  kind: string;
  turns: ConversationTurn[];
  /** The file it came from, for error messages and examples. */
  source: string;
}

export const CONVERSATIONS_DIR = resolve(REPO_ROOT, 'fixtures/conversations');

/** The hand-written sets, by file prefix. */
export const SETS = {
  calm: 'calm-',
  person: 'person-',
  upset: 'upset-',
} as const;
export type SetName = keyof typeof SETS;

function fnv(text: string): number {
  let h = (0x811c9dc5 ^ 0xe7a1) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** About 40% of conversations are dev (may be tuned on), 60% test (reported only), by a stable hash of the id.
 *  The hand-written files were split with it when they were written; Taskmaster is split with it on load. */
export function splitOf(id: string): Split {
  return fnv(id) % 100 < 40 ? 'dev' : 'test';
}

/** Parses JSONL conversations, naming the file and line of anything malformed. */
export function parseConversations(text: string, source: string): Conversation[] {
  const out: Conversation[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (err) {
      throw new Error(`${source}:${i + 1}: not JSON (${(err as Error).message})`);
    }
    out.push(checkConversation(row, `${source}:${i + 1}`));
  }
  return out;
}

function checkConversation(row: unknown, where: string): Conversation {
  const r = row as Partial<Conversation> | null;
  if (!r || typeof r.id !== 'string' || !r.id) throw new Error(`${where}: a conversation needs a string "id"`);
  if (!Array.isArray(r.turns) || r.turns.length === 0) throw new Error(`${where}: "${r.id}" needs a non-empty "turns" list`);
  for (const [j, t] of r.turns.entries()) {
    if (!t || (t.track !== 'inbound' && t.track !== 'outbound') || typeof t.text !== 'string' || !t.text.trim()) {
      throw new Error(`${where}: "${r.id}" turn ${j}: needs track "inbound" or "outbound" and a non-empty text`);
    }
  }
  return { id: r.id, kind: typeof r.kind === 'string' && r.kind ? r.kind : 'other', turns: r.turns, source: where.replace(/:\d+$/, '') };
}

/** The hand-written conversations of one set and split: every fixtures/conversations/<prefix>*.<split>.jsonl. */
export function loadSet(set: SetName, split: Split, dir = CONVERSATIONS_DIR): Conversation[] {
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir).filter((f) => f.startsWith(SETS[set]) && f.endsWith(`.${split}.jsonl`)).sort();
  return files.flatMap((f) => parseConversations(readFileSync(join(dir, f), 'utf8'), f));
}

/** Taskmaster-4 coffee orders (../shared/data/taskmaster): calm by construction; split by the same id hash. */
export function loadTaskmaster(split: Split): Conversation[] {
  const path = join(dataDir(), 'taskmaster', 'dialogues.jsonl');
  return parseConversations(readFileSync(path, 'utf8'), 'taskmaster/dialogues.jsonl')
    .filter((c) => splitOf(c.id) === split)
    .map((c) => ({ ...c, kind: 'coffee (Taskmaster)' }));
}

export interface HandoffUtterance {
  id: string;
  text: string;
  intent: string;
  wantsHuman: boolean;
}

/** Rasa's financial-demo and helpdesk NLU (../shared/data/rasa-handoff): evaluation only, all of it. */
export function loadRasaHandoff(): HandoffUtterance[] {
  const raw = readFileSync(join(dataDir(), 'rasa-handoff', 'utterances.jsonl'), 'utf8');
  return raw.split('\n').filter((l) => l.trim()).map((l) => {
    const r = JSON.parse(l) as HandoffUtterance;
    return { id: r.id, text: r.text, intent: r.intent, wantsHuman: r.wantsHuman };
  });
}

/**
 * Conversations labelled on the team's own calls (`npm run export-labels`, or written in the same format): the part
 * of `split` by the same hash of the id as the hand-written sets (train learns from dev, eval reports on test), or all.
 */
export function loadLabels(path: string, split: Split | 'all'): Conversation[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`--labels ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); make one with npm run export-labels -- --out FILE`);
  }
  return parseConversations(text, path).filter((c) => split === 'all' || splitOf(c.id) === split);
}

/** Which yardstick a labelled conversation counts in: a turn asks for a person, a turn is upset, or neither (calm). */
export function setOf(c: Conversation): SetName {
  if (c.turns.some((t) => t.asksForPerson)) return 'person';
  if (c.turns.some((t) => t.upset)) return 'upset';
  return 'calm';
}

/**
 * The caller turns a labelled file teaches the classifier: a turn marked upset is frustrated, one marked
 * asksForPerson asks for a person, and every caller turn of a calm conversation is neither. Unmarked turns of a
 * conversation that has marks say nothing for sure and are left out.
 */
export function labelledTurns(conversations: readonly Conversation[]): { text: string; frustrated?: boolean; wantsHuman?: boolean }[] {
  return conversations.flatMap((c) => {
    const calm = setOf(c) === 'calm';
    return c.turns
      .filter((t) => t.track === 'inbound' && (calm || t.upset || t.asksForPerson))
      .map((t) => (calm ? { text: t.text, frustrated: false, wantsHuman: false } : { text: t.text, ...(t.upset ? { frustrated: true } : {}), ...(t.asksForPerson ? { wantsHuman: true } : {}) }));
  });
}
