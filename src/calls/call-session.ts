// Everything takeover knows about one live call: its streams, privacy gate, recent turns, rule
// firings and state. Raw text of recent turns stays in memory only (the classifier needs it).
import type { CallState } from '../bus/types.js';
import type { AssessedTurn } from '../rules/evaluate.js';
import type { RuleFiring } from '../rules/decide.js';
import { PrivacyGate } from '../transcription/privacy-gate.js';
import type { Transcriber } from '../transcription/transcriber.js';
import type { Track } from '../types.js';

export interface StreamInfo {
  streamSid: string;
  tracks: Track[];
  customParameters: Record<string, string>;
  /** The path and query the stream connected to (`/media-stream?…`): a re-created stream connects there again. */
  path?: string;
  open: boolean;
}

/** Keep this many final turns per call for context and rule windows. */
const MAX_TURNS = 50;

export class CallSession {
  readonly startedAt = Date.now();
  state: CallState = 'monitoring';
  customParameters: Record<string, string> = {};
  readonly gate = new PrivacyGate();
  readonly streams = new Map<string, StreamInfo>();
  readonly turns: AssessedTurn[] = [];
  readonly firing: RuleFiring = new Map();
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
  lastLivenessCheck = 0;
  /** When each side last said anything (partials count), for silence rules. */
  readonly lastSpokeAt: { inbound?: number; outbound?: number } = {};

  constructor(readonly callSid: string) {}

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

  addTurn(turn: AssessedTurn): void {
    this.turns.push(turn);
    if (this.turns.length > MAX_TURNS) this.turns.splice(0, this.turns.length - MAX_TURNS);
  }

  frustrationTrend(n = 10): number[] {
    return this.turns
      .filter((t) => t.assessment)
      .slice(-n)
      .map((t) => Math.round(t.assessment!.frustration * 100) / 100);
  }
}
