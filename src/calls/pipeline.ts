// One call's rules as a pure step: a heard utterance (already classified) or a tick of the clock, and what the rules
// knew of the call, in; the decisions and what the rules know now, out. The live call (monitor.ts) steps it on the
// real clock, the dry run (supervisor/dry-run.ts) on a virtual one over a transcript: both decide alike.
// Classification, actions and every write stay with the caller.
import { decide, rearm, type Decided, type Decision, type RuleFiring, type StageTimes } from '../rules/decide.js';
import { evaluateRules, type AssessedTurn, type RuleContext } from '../rules/evaluate.js';
import type { Action, Rule } from '../rules/schema.js';
import type { Assessment, Track, Turn } from '../types.js';

/** Stands in the transcript and the live feed for the utterance that paused the call. */
export const WITHHELD = '[withheld: transcription paused]';

/** Partials shorter than this are not classified (a lone "With" is not a request for a person). */
const MIN_PARTIAL_WORDS = 3;
/** Keep this many final turns per call for context and rule windows. */
const MAX_TURNS = 50;
/** Turns given to the classifier as context. */
export const CONTEXT_TURNS = 8;
/** The live call evaluates time-based rules (silence) this often; the dry run ticks its virtual clock alike. */
export const TICK_MS = 1000;

/** What the rules know of a call between steps. A step returns a new one; none is ever changed. */
export interface CallRulesState {
  /** When the call started (epoch ms live, 0 in a dry run): silence before anyone spoke counts from here. */
  readonly startedAt: number;
  /** Final turns, oldest first (the last MAX_TURNS). */
  readonly turns: readonly AssessedTurn[];
  /** When each rule last fired, and its episode (cooldowns, idempotency). */
  readonly firing: ReadonlyMap<string, { lastFiredAt?: number; episode: number }>;
  /** When each side last said anything (partials count), for silence rules. */
  readonly lastSpokeAt: Readonly<{ inbound?: number; outbound?: number }>;
  /** The call's transcription is down. */
  readonly degraded: boolean;
  /**
   * Set while a privacy pause holds: nothing is heard before this time (Infinity: until a supervisor resumes).
   * Live, the gate and the pause's timer decide when it reopens (`resumed`); a dry run reopens at this time.
   */
  readonly pausedUntil?: number;
}

export function initialState(startedAt: number): CallRulesState {
  return { startedAt, turns: [], firing: new Map(), lastSpokeAt: {}, degraded: false };
}

/** The call as rules see it: its scope attributes, the running rules, and its SID for decision ids. */
export interface CallFrame {
  callSid: string;
  call: RuleContext['call'];
  rules: readonly Rule[];
}

/** An utterance as the rules hear it, after classification (caller turns) and before anything is written. */
export interface Heard {
  track: Track;
  text: string;
  final: boolean;
  /** When it reached takeover (epoch ms live, ms from the start in a dry run). */
  at: number;
  assessment?: Assessment;
}

export interface Step {
  state: CallRulesState;
  /** What the rules decided (nothing: `act` unset and `recorded` empty). */
  decided: Decided;
  /** The turn judged, as it now stands in the history (for a partial: as it would). Unset on a tick or when not heard. */
  turn?: AssessedTurn;
  /** The utterance was heard: not within a pause, and judged (a final, or a partial long enough). */
  heard: boolean;
  /** This utterance paused the call: its words go no further; it stands as WITHHELD in the history. */
  withheld: boolean;
}

const nothing: Decided = { recorded: [] };

/** Whether an utterance is judged at all; the others only count as speech (silence rules). */
export function judged(text: string, final: boolean): boolean {
  return final || text.split(/\s+/).length >= MIN_PARTIAL_WORDS;
}

/** The classifier's context for the next utterance: the last final turns, oldest first. */
export function contextOf(state: CallRulesState): Turn[] {
  return state.turns.slice(-CONTEXT_TURNS).map((t) => ({ track: t.track, text: t.text }));
}

/** Whether the call is paused at `at`. */
export function pausedAt(state: CallRulesState, at: number): boolean {
  return state.pausedUntil !== undefined && at < state.pausedUntil;
}

/**
 * One utterance. `now` is when it is judged (after classification); `times` are the decision's stage times.
 * Within a pause nothing is heard; a pause whose time has passed is over.
 */
export function hear(frame: CallFrame, state: CallRulesState, u: Heard, now: number, times: Omit<StageTimes, 'decidedAt'>): Step {
  if (pausedAt(state, u.at)) return { state, decided: nothing, heard: false, withheld: false };
  const spoken: CallRulesState = { ...state, pausedUntil: undefined, lastSpokeAt: { ...state.lastSpokeAt, [u.track]: u.at } };
  if (!judged(u.text, u.final)) return { state: spoken, decided: nothing, heard: false, withheld: false };
  const turn: AssessedTurn = { at: u.at, track: u.track, text: u.text, assessment: u.assessment };
  const turns = u.final ? withTurn(spoken.turns, turn) : spoken.turns;
  // A partial is judged as if it were the latest turn, without entering the history.
  const judging = u.final ? turns : [...turns, turn];
  const { decided, state: next } = evaluate(frame, { ...spoken, turns }, judging, 'turn', now, times);
  if (decided.act?.action.type !== 'pause') return { state: next, decided, turn, heard: true, withheld: false };
  // The words that closed the gate leave the history too: they would otherwise be classifier context after a
  // resume, and part of a later handoff's summary (health details have nothing to redact).
  const hidden: AssessedTurn = { ...turn, text: WITHHELD };
  return { state: { ...next, turns: u.final ? [...turns.slice(0, -1), hidden] : turns }, decided, turn: hidden, heard: true, withheld: true };
}

/** Time passed or the call's state changed (degraded): only silence and degraded conditions can hold. */
export function tick(frame: CallFrame, state: CallRulesState, now: number): Step {
  if (pausedAt(state, now)) return { state, decided: nothing, heard: false, withheld: false };
  const { decided, state: next } = evaluate(frame, { ...state, pausedUntil: undefined }, state.turns, 'tick', now, { transcriptAt: now, assessedAt: now });
  return { state: next, decided, heard: false, withheld: false };
}

/** A final turn recorded without being judged (words still in flight after a handoff). */
export function remember(state: CallRulesState, turn: AssessedTurn): CallRulesState {
  return { ...state, turns: withTurn(state.turns, turn) };
}

/** A pause decided outside the rules (a supervisor): nothing is heard until `resumed`. */
export function paused(state: CallRulesState, action: Extract<Action, { type: 'pause' }>, now: number): CallRulesState {
  return { ...state, pausedUntil: pauseEnd(action, now) };
}

/** The pause is over (its timer, a supervisor, or the caller back from a secure capture). */
export function resumed(state: CallRulesState): CallRulesState {
  return { ...state, pausedUntil: undefined };
}

export function withDegraded(state: CallRulesState, degraded: boolean): CallRulesState {
  return { ...state, degraded };
}

/** A decision's action failed: its rule may act again on the next trigger (rules/decide.ts `rearm`). */
export function rearmed(state: CallRulesState, decision: Decision): CallRulesState {
  const firing: RuleFiring = new Map(state.firing);
  rearm(firing, decision);
  return { ...state, firing };
}

function evaluate(
  frame: CallFrame,
  state: CallRulesState,
  turns: readonly AssessedTurn[],
  event: 'turn' | 'tick',
  now: number,
  times: Omit<StageTimes, 'decidedAt'>,
): { decided: Decided; state: CallRulesState } {
  const matches = evaluateRules(frame.rules, {
    call: frame.call,
    turns,
    event,
    degraded: state.degraded,
    now,
    startedAt: state.startedAt,
    lastSpokeAt: state.lastSpokeAt,
  });
  if (matches.length === 0) return { decided: nothing, state };
  const firing: RuleFiring = new Map(state.firing);
  const decided = decide(frame.callSid, matches, firing, times, now);
  const action = decided.act?.action;
  return { decided, state: { ...state, firing, ...(action?.type === 'pause' ? { pausedUntil: pauseEnd(action, now) } : {}) } };
}

function pauseEnd(action: Extract<Action, { type: 'pause' }>, now: number): number {
  return !action.secureCapture && action.resumeAfterSeconds > 0 ? now + action.resumeAfterSeconds * 1000 : Infinity;
}

function withTurn(turns: readonly AssessedTurn[], turn: AssessedTurn): readonly AssessedTurn[] {
  return [...turns.slice(-(MAX_TURNS - 1)), turn];
}
