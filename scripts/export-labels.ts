// Writes the turns supervisors marked with verdicts (npm run export-labels) as JSON lines in the conversation format
// that `npm run eval -- --labels FILE` replays and `npm run train -- --labels FILE` learns from:
// {id, kind, turns: [{track, text, upset?, asksForPerson?}]}, one conversation per standing verdict (the latest on
// a decision; every stretch's), from the call's first line to the turn that fired the rule (or the stretch's end).
//
//   npm run export-labels -- [--out FILE] [--since ISO|ms] [--until ISO|ms]
//
// What a verdict says becomes the label: a rule that asks for a person (wants_human) marks the turn `asksForPerson`,
// a frustration or sentiment rule marks it `upset` (every caller turn of a stretch that should have been acted on);
// "should not have acted" on a decision, and "right" on a stretch where nothing fired, leave the conversation calm:
// no rule should act in it. Verdicts on other rules (sensitive data, phrases, silence) have no such label and are
// counted as skipped. Text is redacted again (src/classification/redact.ts); nothing of a paused stretch is written:
// no line between a gate closing and reopening, and not the marker of the line that paused the call.
// Reads the service's store: DATABASE_URL (PostgreSQL) or SQLITE_PATH (default data/takeover.db).

import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { WITHHELD } from '../src/calls/pipeline.js';
import { redactTurns } from '../src/classification/redact.js';
import { ConfigError, loadStoreConfig } from '../src/config.js';
import type { Condition, Rule } from '../src/rules/schema.js';
import { createStore } from '../src/store/index.js';
import type { AuditEntry, Store, TranscriptLine, Verdict } from '../src/store/types.js';
import { standingVerdicts } from '../src/supervisor/rule-health.js';
import type { ConversationTurn } from './conversations.js';

const USAGE = 'usage: npm run export-labels -- [--out FILE] [--since ISO|ms] [--until ISO|ms]';

/** What a rule's verdict can label on a turn: a request for a person, an upset caller; other rules have no label. */
export function labelOf(rule: Rule | undefined): 'asksForPerson' | 'upset' | undefined {
  if (!rule) return undefined;
  const types = new Set<string>();
  const walk = (c: Condition): void => {
    types.add(c.type);
    if (c.type === 'all' || c.type === 'any') c.of.forEach(walk);
  };
  walk(rule.when);
  if (types.has('wants_human')) return 'asksForPerson';
  if (types.has('frustration') || types.has('sentiment')) return 'upset';
  return undefined;
}

export interface ExportedConversation {
  id: string;
  kind: string;
  turns: ConversationTurn[];
  /** Where it came from: the call, the verdict and its rule (for the team's own reference; eval and train ignore it). */
  verdict: { id: string; callSid: string; kind: Verdict['kind']; ruleId: string | null; decisionId: string | null };
}

/** The spans (epoch ms) in which the call's gate was closed: from each `gate` close to the next open, or forever. */
export function pausedSpans(audit: readonly AuditEntry[]): { from: number; to: number }[] {
  const spans: { from: number; to: number }[] = [];
  let closedAt: number | undefined;
  for (const e of [...audit].filter((e) => e.kind === 'gate').sort((a, b) => a.at - b.at)) {
    if (e.data.open === false && closedAt === undefined) closedAt = e.at;
    else if (e.data.open === true && closedAt !== undefined) {
      spans.push({ from: closedAt, to: e.at });
      closedAt = undefined;
    }
  }
  if (closedAt !== undefined) spans.push({ from: closedAt, to: Infinity });
  return spans;
}

/** The lines that may leave the store: none heard while paused, not the marker of the line that paused the call. */
export function speakableLines(lines: readonly TranscriptLine[], audit: readonly AuditEntry[]): TranscriptLine[] {
  const spans = pausedSpans(audit);
  return lines.filter((l) => l.text.trim() !== '' && !l.text.startsWith(WITHHELD.slice(0, 9)) && !spans.some((s) => l.at >= s.from && l.at < s.to));
}

/** One verdict as a conversation, or why it cannot be one. */
export function conversationOf(v: Verdict, lines: readonly TranscriptLine[], rule: Rule | undefined): ExportedConversation | string {
  const label = labelOf(rule);
  // Which caller turns the verdict says should have been acted on (none: the conversation is calm).
  const positive = v.kind === 'should_not_have_acted' ? 'none' : v.decisionId ? 'turn' : v.kind === 'should_have_acted' ? 'stretch' : 'none';
  if (positive !== 'none' && !label) return v.ruleId ? `rule ${v.ruleId} has no turn label (only person and frustration rules do)` : 'names no rule';
  const upTo = lines.filter((l) => l.at <= v.to + 0.5);
  const turns: ConversationTurn[] = redactTurns(upTo.map((l) => ({ track: l.track, text: l.text }))).map((t) => ({ track: t.track, text: t.text }));
  upTo.forEach((l, i) => {
    if (l.track !== 'inbound' || !label) return;
    const marked = positive === 'turn' ? Math.abs(l.at - v.from) <= 0.5 : positive === 'stretch' ? l.at >= v.from - 0.5 : false;
    if (marked) turns[i]![label] = true;
  });
  if (!turns.some((t) => t.track === 'inbound')) return 'no caller line to label (the turns are paused or purged)';
  if (positive !== 'none' && !turns.some((t) => t[label!])) return 'the marked turn is not in the transcript (paused or purged)';
  return {
    id: `${v.callSid}:${v.id}`,
    kind: v.ruleId ?? 'no rule',
    turns,
    verdict: { id: v.id, callSid: v.callSid, kind: v.kind, ruleId: v.ruleId ?? null, decisionId: v.decisionId ?? null },
  };
}

export async function exportLabels(store: Store, range: { since?: number; until?: number }, write: (line: string) => void): Promise<{ written: number; skipped: Record<string, number> }> {
  const rules = new Map(((await store.currentRuleSet())?.rules ?? []).map((r) => [r.id, r]));
  const verdicts = standingVerdicts(await store.queryVerdicts({ since: range.since, before: range.until, limit: 1_000_000 }));
  const byCall = new Map<string, Verdict[]>();
  for (const v of verdicts) byCall.set(v.callSid, [...(byCall.get(v.callSid) ?? []), v]);
  let written = 0;
  const skipped: Record<string, number> = {};
  for (const [callSid, list] of byCall) {
    const [lines, audit] = await Promise.all([store.transcript(callSid), store.audit(callSid)]);
    const speakable = speakableLines(lines, audit);
    for (const v of list.sort((a, b) => a.from - b.from)) {
      const c = conversationOf(v, speakable, v.ruleId ? rules.get(v.ruleId) : undefined);
      if (typeof c === 'string') skipped[c] = (skipped[c] ?? 0) + 1;
      else {
        write(`${JSON.stringify(c)}\n`);
        written++;
      }
    }
  }
  return { written, skipped };
}

class UsageError extends Error {}

function time(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const t = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(t)) throw new UsageError(`--${name} must be an ISO date or epoch milliseconds, not "${value}"\n${USAGE}`);
  return t;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ options: { out: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' } } }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  const range = { since: time(values.since, 'since'), until: time(values.until, 'until') };
  const store = await createStore(loadStoreConfig());
  const out = values.out ? createWriteStream(values.out) : process.stdout;
  try {
    const { written, skipped } = await exportLabels(store, range, (line) => out.write(line));
    const why = Object.entries(skipped).map(([reason, n]) => `${n} ${reason}`);
    process.stderr.write(`${written} labelled conversation(s) written${values.out ? ` to ${values.out}` : ''}${why.length ? `; skipped: ${why.join('; ')}` : ''}\n`);
  } finally {
    await store.close();
    if (out !== process.stdout) await new Promise<void>((resolve, reject) => (out as ReturnType<typeof createWriteStream>).end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`export-labels: ${(err as Error).message ?? err}\n`);
    process.exit(err instanceof ConfigError || err instanceof UsageError ? 2 : 1);
  },
);
