// The dry run: replays a transcript through the configured classifier, evaluateRules and decide, with fresh
// per-call state, and reports which rules would fire, on which turn and why. It touches no call and no store.
import { decide, type RuleFiring } from '../rules/decide.js';
import { evaluateRules, type AssessedTurn, type RuleContext } from '../rules/evaluate.js';
import type { Rule } from '../rules/schema.js';
import type { Classifier, Track } from '../types.js';

export const DRY_RUN_LIMITS = {
  /** Classifying costs time (and money with an LLM): a dry run replays at most this many turns. */
  turns: 300,
  textChars: 2000,
  /** Turns without a time are this far apart, roughly one spoken sentence. */
  defaultGapMs: 3000,
  /** Context passed to the classifier, as the monitor does. */
  contextTurns: 8,
};

export interface DryRunTurn {
  track: Track;
  text: string;
  atMs?: number;
}

export interface DryRunInput {
  turns: DryRunTurn[];
  rules: readonly Rule[];
  classifier: Classifier;
  call?: RuleContext['call'];
}

export interface Fired {
  /** Index in the transcript. */
  turn: number;
  /** When that turn was said, in ms from the start of the call: its `atMs`, or the default spacing when it had none. */
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
  const call = input.call ?? { customParameters: {} };
  const firing: RuleFiring = new Map();
  const heard: AssessedTurn[] = [];
  const fired: Fired[] = [];
  const notHeard: number[] = [];
  let pausedUntil: number | undefined;
  let at = 0;

  for (const [i, t] of input.turns.entries()) {
    at = t.atMs ?? (i === 0 ? 0 : at + DRY_RUN_LIMITS.defaultGapMs);
    // The live gate drops everything while paused; a pause with no timer lasts until a supervisor resumes.
    if (pausedUntil !== undefined && at < pausedUntil) {
      notHeard.push(i);
      continue;
    }
    pausedUntil = undefined;
    let assessment;
    if (t.track === 'inbound') {
      try {
        assessment = await input.classifier.classify({
          text: t.text,
          track: t.track,
          final: true,
          context: heard.slice(-DRY_RUN_LIMITS.contextTurns).map(({ track, text }) => ({ track, text })),
        });
      } catch (err) {
        throw new ClassifierFailedError(input.classifier.name, err);
      }
    }
    heard.push({ at, track: t.track, text: t.text, assessment });
    const matches = evaluateRules(input.rules, { call, turns: heard, degraded: false, now: at });
    if (matches.length === 0) continue;
    const { act, recorded } = decide('dry-run', matches, firing, { transcriptAt: at, assessedAt: at }, at);
    const report = (d: NonNullable<typeof act>, note: Fired['note']) =>
      fired.push({ turn: i, atMs: at, ruleId: d.ruleId, action: d.action.type, mode: d.mode, reason: d.reason, note });
    if (act) report(act, 'acts');
    for (const { decision, note } of recorded) report(decision, note);
    if (act?.action.type === 'handoff' || act?.action.type === 'end_call') {
      return { fired, turns: input.turns.length, notHeard, stoppedAt: i };
    }
    if (act?.action.type === 'pause') {
      pausedUntil = act.action.resumeAfterSeconds > 0 ? at + act.action.resumeAfterSeconds * 1000 : Infinity;
    }
  }
  return { fired, turns: input.turns.length, notHeard, stoppedAt: null };
}
