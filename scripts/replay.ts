// Replays whole conversations through the running rules exactly as a live call decides (the dry run's path), and
// turns the outcomes into the yardstick's figures: false takeovers on calm calls, requests for a person, upset callers.

import { resolve } from 'node:path';
import { RuleBook } from '../src/rules/rule-book.js';
import type { Rule } from '../src/rules/schema.js';
import { dryRun, type DryRunResult, type Fired } from '../src/supervisor/dry-run.js';
import type { Classifier } from '../src/types.js';
import { REPO_ROOT } from './classifier-data.js';
import type { Conversation } from './conversations.js';

export const DEFAULT_RULES_FILE = resolve(REPO_ROOT, 'rules/default.json');

/** The rules as the service loads them: the same reader, with `${HANDOFF_QUEUE}` substituted. */
export async function loadRules(path = DEFAULT_RULES_FILE): Promise<readonly Rule[]> {
  const book = await RuleBook.fromFile(path, { HANDOFF_QUEUE: process.env.HANDOFF_QUEUE ?? 'support' });
  return book.rules;
}

export interface Replayed {
  conversation: Conversation;
  result: DryRunResult;
  /** The firings that would have changed the call (enforce rules that won their turn), in turn order. */
  acts: Fired[];
  /** The classifier's cues on each caller turn it heard (by turn index), to show why a rule fired. */
  triggers: Map<number, string[]>;
}

export async function replay(conversations: readonly Conversation[], rules: readonly Rule[], classifier: Classifier): Promise<Replayed[]> {
  const out: Replayed[] = [];
  for (const conversation of conversations) {
    const turns = conversation.turns.map(({ track, text }) => ({ track, text }));
    const heard: { text: string; triggers: string[] }[] = [];
    const recording: Classifier = {
      name: classifier.name,
      classify: async (input) => {
        const a = await classifier.classify(input);
        heard.push({ text: input.text, triggers: a.triggers });
        return a;
      },
    };
    const result = await dryRun({ turns, rules, classifier: recording });
    // dryRun never lets an alert act; the check keeps the meaning explicit should that change.
    const acts = result.fired.filter((f) => f.note === 'acts' && f.action !== 'alert');
    out.push({ conversation, result, acts, triggers: triggersByTurn(conversation, result, heard) });
  }
  return out;
}

/** Lines up the classifications the dry run asked for with the caller turns it heard, in order; gives up (no cues)
 *  rather than guess if they do not line up. */
function triggersByTurn(c: Conversation, result: DryRunResult, heard: { text: string; triggers: string[] }[]): Map<number, string[]> {
  const byTurn = new Map<number, string[]>();
  let k = 0;
  for (const [i, t] of c.turns.entries()) {
    if (result.stoppedAt !== null && i > result.stoppedAt) break;
    if (t.track !== 'inbound' || result.notHeard.includes(i)) continue;
    const h = heard[k++];
    if (!h || h.text !== t.text) return new Map();
    byTurn.set(i, h.triggers);
  }
  return byTurn;
}

const share = (part: number, whole: number): number => (whole === 0 ? 0 : Math.round((part / whole) * 1000) / 1000);
const normal = (text: string): string => text.toLowerCase().replace(/[^\p{L}\p{N}' ]+/gu, ' ').replace(/\s+/g, ' ').trim();

export interface Example {
  rule: string;
  action: string;
  /** The caller's (or agent's) line on the turn the rule acted. */
  text: string;
  reason: string;
  /** The classifier's cues on that turn (what it heard: "asks for a person (model)", "health: disability", …). */
  cues: string[];
  /** How many conversations this rule acted in on this same line (case and punctuation aside). */
  conversations: number;
  example: { id: string; turn: number; kind: string };
}

/** The lines that set rules off most often, up to `perRule` per rule, most frequent first. */
function worstExamples(hits: { r: Replayed; f: Fired }[], perRule: number): Example[] {
  const groups = new Map<string, Example>();
  for (const { r, f } of hits) {
    const text = r.conversation.turns[f.turn]?.text ?? '';
    const key = `${f.ruleId}\u0000${normal(text)}`;
    const g = groups.get(key);
    if (g) g.conversations++;
    else groups.set(key, { rule: f.ruleId, action: f.action, text, reason: f.reason, cues: r.triggers.get(f.turn) ?? [], conversations: 1, example: { id: r.conversation.id, turn: f.turn, kind: r.conversation.kind } });
  }
  const byRule = new Map<string, Example[]>();
  for (const g of groups.values()) byRule.set(g.rule, [...(byRule.get(g.rule) ?? []), g]);
  const ruleOrder = [...byRule.entries()].sort((a, b) => total(b[1]) - total(a[1]));
  return ruleOrder.flatMap(([, list]) => list.sort((a, b) => b.conversations - a.conversations).slice(0, perRule));
}
const total = (list: Example[]): number => list.reduce((n, e) => n + e.conversations, 0);

export interface FalseTakeoverReport {
  conversations: number;
  /** Conversations in which any enforce rule would have handed off, paused or ended the call. */
  withTakeover: number;
  share: number;
  byAction: Record<string, { conversations: number; share: number }>;
  /** Every enforce rule of the set, also those that never acted, so a reader sees what was checked. */
  byRule: Record<string, { conversations: number; share: number }>;
  byKind: Record<string, { conversations: number; withTakeover: number; share: number }>;
  worst: Example[];
}

/** Calm conversations: any action at all is a false takeover. */
export function falseTakeovers(replayed: readonly Replayed[], rules: readonly Rule[], perRule = 5): FalseTakeoverReport {
  const byRule = new Map<string, Set<string>>(rules.filter((r) => r.mode === 'enforce').map((r) => [r.id, new Set()]));
  const byAction = new Map<string, Set<string>>();
  const byKind = new Map<string, { conversations: number; withTakeover: number }>();
  const hits: { r: Replayed; f: Fired }[] = [];
  for (const r of replayed) {
    const id = r.conversation.id;
    const k = byKind.get(r.conversation.kind) ?? { conversations: 0, withTakeover: 0 };
    k.conversations++;
    if (r.acts.length > 0) k.withTakeover++;
    byKind.set(r.conversation.kind, k);
    for (const f of r.acts) {
      if (!byRule.has(f.ruleId)) byRule.set(f.ruleId, new Set());
      byRule.get(f.ruleId)!.add(id);
      if (!byAction.has(f.action)) byAction.set(f.action, new Set());
      byAction.get(f.action)!.add(id);
      hits.push({ r, f });
    }
  }
  const n = replayed.length;
  const withTakeover = replayed.filter((r) => r.acts.length > 0).length;
  const counted = (m: Map<string, Set<string>>) =>
    Object.fromEntries([...m].sort((a, b) => b[1].size - a[1].size).map(([k, s]) => [k, { conversations: s.size, share: share(s.size, n) }]));
  return {
    conversations: n,
    withTakeover,
    share: share(withTakeover, n),
    byAction: counted(byAction),
    byRule: counted(byRule),
    byKind: Object.fromEntries([...byKind].sort().map(([k, v]) => [k, { ...v, share: share(v.withTakeover, v.conversations) }])),
    worst: worstExamples(hits, perRule),
  };
}

export interface PersonRequestReport {
  /** Conversations in which the caller asks for a person (a turn marked `asksForPerson`). */
  asks: {
    conversations: number;
    handedOff: number;
    share: number;
    /** Where the handoff came: on the first request turn, on a later turn, before any request (for another reason), never. */
    when: { onRequest: number; later: number; beforeRequest: number; never: number };
    missed: { id: string; kind: string; text: string }[];
  };
  /** Hard negatives: nobody asks for a person ("are you a bot?", "a table for one person", "I need a doctor"). */
  hardNegatives: {
    conversations: number;
    handedOff: number;
    share: number;
    /** Any action at all (a pause too), since these are calm calls. */
    acted: number;
    wrong: Example[];
  };
}

export function personRequests(replayed: readonly Replayed[], examples = 10): PersonRequestReport {
  const positives = replayed.filter((r) => r.conversation.turns.some((t) => t.asksForPerson));
  const negatives = replayed.filter((r) => !r.conversation.turns.some((t) => t.asksForPerson));
  const when = { onRequest: 0, later: 0, beforeRequest: 0, never: 0 };
  const missed: PersonRequestReport['asks']['missed'] = [];
  for (const r of positives) {
    const asked = r.conversation.turns.findIndex((t) => t.asksForPerson);
    const handoff = r.acts.find((f) => f.action === 'handoff');
    if (!handoff) {
      when.never++;
      missed.push({ id: r.conversation.id, kind: r.conversation.kind, text: r.conversation.turns[asked]!.text });
    } else if (handoff.turn < asked) when.beforeRequest++;
    else if (handoff.turn === asked) when.onRequest++;
    else when.later++;
  }
  const handedOff = (r: Replayed): boolean => r.acts.some((f) => f.action === 'handoff');
  const wrongHits = negatives.flatMap((r) => r.acts.map((f) => ({ r, f })));
  return {
    asks: {
      conversations: positives.length,
      handedOff: positives.filter(handedOff).length,
      share: share(positives.filter(handedOff).length, positives.length),
      when,
      missed: missed.slice(0, examples),
    },
    hardNegatives: {
      conversations: negatives.length,
      handedOff: negatives.filter(handedOff).length,
      share: share(negatives.filter(handedOff).length, negatives.length),
      acted: negatives.filter((r) => r.acts.length > 0).length,
      wrong: worstExamples(wrongHits, examples),
    },
  };
}

export const UPSET_TARGET = 3;

export interface UpsetReport {
  conversations: number;
  handedOff: number;
  share: number;
  /** The target: handed off on or before the third upset turn (and not before the first). */
  byThirdUpsetTurn: number;
  byThirdUpsetTurnShare: number;
  /** At which upset turn the handoff came (the count of upset turns up to and including the handoff's turn). */
  atUpsetTurn: { beforeFirst: number; first: number; second: number; third: number; later: number; never: number };
  byKind: Record<string, { conversations: number; byThirdUpsetTurn: number; share: number }>;
  /** Conversations in which a privacy pause kept upset turns from the classifier (a paused call hears nothing). */
  upsetTurnsNotHeard: number;
  /** Conversations not handed off by the third upset turn: the third upset line, or the last one there is. */
  missed: { id: string; kind: string; upsetTurns: number; handedOffAt: string; upsetTurnsNotHeard: number; text: string }[];
}

/** Which upset turn a handoff on turn `turn` came at: 0 before the first, n on or after the n-th. */
export function upsetTurnOf(conversation: Conversation, turn: number): number {
  return conversation.turns.slice(0, turn + 1).filter((t) => t.upset).length;
}

export function upsetCallers(replayed: readonly Replayed[], examples = 10): UpsetReport {
  const at = { beforeFirst: 0, first: 0, second: 0, third: 0, later: 0, never: 0 };
  const byKind = new Map<string, { conversations: number; byThirdUpsetTurn: number }>();
  const missed: UpsetReport['missed'] = [];
  let handedOff = 0;
  let inTime = 0;
  let silenced = 0;
  for (const r of replayed) {
    const c = r.conversation;
    const notHeard = r.result.notHeard.filter((i) => c.turns[i]?.upset).length;
    if (notHeard > 0) silenced++;
    const handoff = r.acts.find((f) => f.action === 'handoff');
    const n = handoff ? upsetTurnOf(c, handoff.turn) : -1;
    const bucket = n < 0 ? 'never' : n === 0 ? 'beforeFirst' : n === 1 ? 'first' : n === 2 ? 'second' : n === 3 ? 'third' : 'later';
    at[bucket]++;
    if (handoff) handedOff++;
    const ok = n >= 1 && n <= UPSET_TARGET;
    if (ok) inTime++;
    const k = byKind.get(c.kind) ?? { conversations: 0, byThirdUpsetTurn: 0 };
    k.conversations++;
    if (ok) k.byThirdUpsetTurn++;
    byKind.set(c.kind, k);
    if (!ok) {
      const upset = c.turns.filter((t) => t.upset);
      const shown = upset[Math.min(UPSET_TARGET, upset.length) - 1];
      missed.push({ id: c.id, kind: c.kind, upsetTurns: upset.length, handedOffAt: bucket, upsetTurnsNotHeard: notHeard, text: shown?.text ?? '' });
    }
  }
  return {
    conversations: replayed.length,
    handedOff,
    share: share(handedOff, replayed.length),
    byThirdUpsetTurn: inTime,
    byThirdUpsetTurnShare: share(inTime, replayed.length),
    atUpsetTurn: at,
    byKind: Object.fromEntries([...byKind].sort().map(([k, v]) => [k, { ...v, share: share(v.byThirdUpsetTurn, v.conversations) }])),
    upsetTurnsNotHeard: silenced,
    missed: missed.slice(0, examples),
  };
}
