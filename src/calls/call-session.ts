// Everything takeover knows about one live call: its streams, privacy gate, recent turns, rule
// firings and state. Raw text of recent turns stays in memory only (the classifier needs it).
import type { CallState } from '../bus/types.js';
import type { AssessedTurn } from '../rules/evaluate.js';
import { PrivacyGate } from '../transcription/privacy-gate.js';
import type { Transcriber } from '../transcription/transcriber.js';
import type { Track } from '../types.js';
import { initialState, type CallRulesState } from './pipeline.js';

export interface StreamInfo {
  streamSid: string;
  tracks: Track[];
  customParameters: Record<string, string>;
  /** The path and query the stream connected to (`/media-stream?…`): a re-created stream connects there again. */
  path?: string;
  open: boolean;
}

export class CallSession {
  /** What the rules know of the call (turns, firings, who spoke when, pause): replaced by each step of pipeline.ts. */
  rules: CallRulesState = initialState(Date.now());
  state: CallState = 'monitoring';
  customParameters: Record<string, string> = {};
  readonly gate = new PrivacyGate();
  readonly streams = new Map<string, StreamInfo>();
  readonly transcribers = new Map<Track, Transcriber>();
  /** Twilio real-time transcription feeding this call, learnt from its callbacks. */
  transcription?: { sid: string; track?: string };
  /** Why transcription is degraded, when it is. */
  degraded?: string;
  readonly counters = ((gate: PrivacyGate) => ({
    frames: 0,
    /** Frames refused while paused: the gate counts them. */
    get framesHeld() {
      return gate.framesHeld;
    },
    badFrames: 0,
    dtmf: 0,
    marks: 0,
    utterancesDropped: 0,
    classifierErrors: 0,
  }))(this.gate);
  endedAt?: number;
  /** Actions on this call not finished yet; the call is not declared over while one runs. */
  actionsInFlight = 0;
  /** Why the call seems over, noted while an action was in flight. */
  endPending?: string;
  /** When the current pause started (for checking, now and then, that the call is still there). */
  pausedAt?: number;
  /** When the current pause ends by itself (epoch ms; stored, so that a restart keeps it). Unset: a supervisor resumes. */
  pausedUntil?: number;
  /** Fires at `pausedUntil`. */
  resumeTimer?: NodeJS.Timeout;
  /** When a stream or a transcription callback last told us anything of the call (a call with neither goes idle). */
  lastHeardAt = Date.now();
  /**
   * Settles once the store has said whether it knew the call already (a restart, or a call another process held):
   * writes of the call wait for it, so that the first start and "call started" in the audit trail are kept once.
   */
  known: Promise<void> = Promise.resolve();
  lastLivenessCheck = 0;
  /** Digests of the signed Twilio requests already acted on for this call (a secure capture's action): a replay is ignored. */
  readonly callbacksTaken = new Set<string>();
  /** Per track, the stored line of a partial transcript that decided something: its final version replaces it. */
  readonly partialLines = new Map<Track, { at: number; epoch: number; written: Promise<unknown> }>();

  constructor(readonly callSid: string) {}

  /** When the call started; a call the store already had (this instance restarted) keeps its first start. */
  get startedAt(): number {
    return this.rules.startedAt;
  }
  set startedAt(at: number) {
    this.rules = { ...this.rules, startedAt: at };
  }

  /** Final turns, oldest first; the words that paused the call stand as WITHHELD. */
  get turns(): readonly AssessedTurn[] {
    return this.rules.turns;
  }

  /** Call attributes for rule scopes. `from`/`to` come from the stream's <Parameter>s of those names. */
  get from(): string | undefined {
    return this.customParameters.from;
  }
  get to(): string | undefined {
    return this.customParameters.to;
  }

  get openStreams(): StreamInfo[] {
    return [...this.streams.values()].filter((s) => s.open);
  }

  frustrationTrend(n = 10): number[] {
    return this.turns
      .filter((t) => t.assessment)
      .slice(-n)
      .map((t) => Math.round(t.assessment!.frustration * 100) / 100);
  }
}
