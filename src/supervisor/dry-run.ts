// The dry run: replays a transcript through the configured classifier and the live call's own pipeline step
// (calls/pipeline.ts) on a virtual clock, and reports which rules would fire, on which turn and why. Between turns
// the clock ticks as a live call's does (silence rules). It touches no call and no store.
import { CONTEXT_TURNS, contextOf, hear, pausedAt, initialState, tick, TICK_MS, WITHHELD, type CallFrame, type Step } from '../calls/pipeline.js';
import type { RuleContext } from '../rules/evaluate.js';
import type { Condition, Rule } from '../rules/schema.js';
import type { AuditEntry, TranscriptLine } from '../store/types.js';
import type { Assessment, Classifier, Track } from '../types.js';

export const DRY_RUN_LIMITS = {
  /** Classifying costs time (and money with an LLM): a dry run replays at most this many turns. */
  turns: 300,
  textChars: 2000,
  /** Turns without a time are this far apart, roughly one spoken sentence. */
  defaultGapMs: 3000,
  /** Ticks of the clock replayed at most (silence rules): four hours of call. */
  ticks: 4 * 3600 * (1000 / TICK_MS),
  /** Context passed to the classifier, as the live call does. */
  contextTurns: CONTEXT_TURNS,
};

export interface DryRunTurn {
  track: Track;
  text: string;
  atMs?: number;
  /** What the classifier made of it on the live call, for words that were never kept (`storedTurns`): not classified again. */
  assessment?: Assessment;
}

export interface DryRunInput {
  turns: DryRunTurn[];
  rules: readonly Rule[];
  classifier: Classifier;
  call?: RuleContext['call'];
}

export interface Fired {
  /** Index in the transcript. A rule on time (silence) fires between turns: the last turn before it (0 before any). */
  turn: number;
  /**
   * When it fired, in ms from the start of the call: the turn's `atMs` (or the default spacing when it had none);
   * for a rule on time, the tick of the clock it fired on (once a second from the start, as on a live call).
   */
  atMs: number;
  ruleId: string;
  action: string;
  mode: Rule['mode'];
  reason: string;
  /** `acts`: the one action that would change the call on that turn; the others are only recorded. */
  note: 'acts' | 'observe' | 'alert' | 'outranked';
}

export interface DryRunResult {
  fired: Fired[];
  turns: number;
  /** Turns a privacy pause would have kept from the classifier (and the rules). */
  notHeard: number[];
  /** The turn after which a handoff or end of call would have ended monitoring; later turns are not replayed. */
  stoppedAt: number | null;
}

export class ClassifierFailedError extends Error {
  constructor(readonly classifier: string, cause: unknown) {
    super(`the ${classifier} classifier failed during the dry run (${(cause as Error)?.message ?? cause}): try again`);
    this.name = 'ClassifierFailedError';
  }
}

export async function dryRun(input: DryRunInput): Promise<DryRunResult> {
  const frame: CallFrame = { callSid: 'dry-run', call: input.call ?? { customParameters: {} }, rules: input.rules };
  let state = initialState(0);
  const fired: Fired[] = [];
  const notHeard: number[] = [];
  let at = 0;
  let nextTick = TICK_MS;
  // A tick can only fire a silence condition here (a dry run's transcription is never degraded): without one, none is needed.
  let ticksLeft = input.rules.some((r) => r.enabled && onTime(r.when)) ? DRY_RUN_LIMITS.ticks : 0;
  /** Reports a step's decisions; true when the call would no longer be monitored (a handoff or an end of call). */
  const report = (step: Step, turn: number, atMs: number): boolean => {
    state = step.state;
    const { act, recorded } = step.decided;
    const add = (d: NonNullable<typeof act>, note: Fired['note']) =>
      fired.push({ turn, atMs, ruleId: d.ruleId, action: d.action.type, mode: d.mode, reason: d.reason, note });
    if (act) add(act, 'acts');
    for (const { decision, note } of recorded) add(decision, note);
    return act?.action.type === 'handoff' || act?.action.type === 'end_call';
  };

  for (const [i, t] of input.turns.entries()) {
    at = t.atMs ?? (i === 0 ? 0 : at + DRY_RUN_LIMITS.defaultGapMs);
    // Time passes up to this turn: the live call's ticker runs (silence rules), not while paused.
    for (; nextTick <= at && ticksLeft > 0; nextTick += TICK_MS, ticksLeft--) {
      if (report(tick(frame, state, nextTick), Math.max(0, i - 1), nextTick)) return { fired, turns: input.turns.length, notHeard, stoppedAt: Math.max(0, i - 1) };
    }
    let assessment;
    // The live gate drops everything while paused; a pause with no timer lasts until a supervisor resumes.
    if (t.track === 'inbound' && !pausedAt(state, at)) {
      try {
        assessment = t.assessment ?? await input.classifier.classify({ text: t.text, track: t.track, final: true, context: contextOf(state) });
      } catch (err) {
        throw new ClassifierFailedError(input.classifier.name, err);
      }
    }
    const step = hear(frame, state, { track: t.track, text: t.text, final: true, at, assessment }, at, { transcriptAt: at, assessedAt: at });
    if (!step.heard) notHeard.push(i);
    if (report(step, i, at)) return { fired, turns: input.turns.length, notHeard, stoppedAt: i };
  }
  return { fired, turns: input.turns.length, notHeard, stoppedAt: null };
}

function onTime(c: Condition): boolean {
  return c.type === 'silence' || ((c.type === 'all' || c.type === 'any') && c.of.some(onTime));
}

/**
 * A stored call as the dry run replays it: its lines, in ms from the call's start. The words that paused the call
 * were never kept (the withheld marker stands for them), so such a turn carries what the classifier made of them on
 * the call (the audit trail's assessment, numbers and cues only: the last one before the rule's pause decision on that
 * utterance, the one whose transcript time is the line's), and the replay pauses as the call did.
 */
export function storedTurns(lines: readonly TranscriptLine[], audit: readonly AuditEntry[], startedAt = lines[0]?.at ?? 0): DryRunTurn[] {
  /** When the paused utterance's transcript came (its line's `at`), and what the classifier made of it. */
  const pausedOn: { at: number; assessment: Assessment }[] = [];
  let last: AuditEntry | undefined;
  for (const e of audit) {
    if (e.kind === 'assessment') last = e;
    const acted = e.kind === 'decision' && e.actor.startsWith('rule:') && e.data.note === undefined;
    const at = (e.data.timings as { transcriptAt?: number } | undefined)?.transcriptAt;
    if (acted && last && at !== undefined && (e.data.action as { type?: string } | undefined)?.type === 'pause') pausedOn.push({ at, assessment: assessmentOf(last) });
  }
  return lines.map((l) => {
    // To the millisecond: a store may keep whole milliseconds of the line's time.
    const assessment = l.track === 'inbound' && l.text === WITHHELD ? pausedOn.find((p) => Math.abs(p.at - l.at) <= 0.5)?.assessment : undefined;
    return { track: l.track, text: l.text, atMs: Math.max(0, l.at - startedAt), ...(assessment ? { assessment } : {}) };
  });
}

function assessmentOf(e: AuditEntry): Assessment {
  const d = e.data as Partial<Assessment>;
  return {
    frustration: d.frustration ?? 0,
    sentiment: d.sentiment ?? 0,
    wantsHuman: d.wantsHuman ?? false,
    intent: d.intent ?? 'other',
    sensitive: d.sensitive ?? [],
    triggers: d.triggers ?? [],
    confidence: d.confidence ?? 0,
    source: e.actor === 'classifier:llm' ? 'llm' : 'local',
    rationale: 'from the audit trail: the words were withheld',
    latencyMs: d.latencyMs ?? 0,
  };
}
