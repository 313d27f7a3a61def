// Live events for supervisors (dashboard feed) and commands between instances. Text in these events
// is always redacted, and no event about a paused stretch carries text.
import type { Action } from '../rules/schema.js';
import type { SensitiveCategory, Track } from '../types.js';

export type CallState = 'monitoring' | 'paused' | 'handed_off' | 'ended';

export type LiveEvent =
  /** `pausedUntil`: while paused, when the pause ends by itself (epoch ms). */
  | { type: 'call'; callSid: string; state: CallState; degraded?: string; pausedUntil?: number; at: number }
  | { type: 'utterance'; callSid: string; track: Track; text: string; final: boolean; at: number }
  | {
      type: 'assessment';
      callSid: string;
      frustration: number;
      sentiment: number;
      wantsHuman: boolean;
      sensitive: SensitiveCategory[];
      source: 'local' | 'llm';
      at: number;
    }
  | { type: 'decision'; callSid: string; decisionId: string; ruleId: string; action: string; mode: string; reason: string; note?: string; at: number }
  | { type: 'outcome'; callSid: string; decisionId?: string; result: string; detail: string; at: number }
  | { type: 'gate'; callSid: string; open: boolean; reason: string; by: string; at: number }
  /**
   * Something a supervisor must look at now. `action`: an action on the call failed (the rule is re-armed);
   * `privacy`: a pause failed, so Twilio's recording or transcription may still be running. `reason` is in
   * words and carries nothing of the call (no number, no transcript text).
   */
  | { type: 'alert'; callSid: string; kind: 'action' | 'privacy'; action: string; decisionId?: string; reason: string; at: number };

/** A supervisor's action on a call, to be run by whichever instance holds the call's stream. */
export type SupervisorCommand =
  | { op: 'act'; callSid: string; action: Action; actor: string; reason: string }
  | { op: 'resume'; callSid: string; actor: string };

/** What one instance asks of the one that holds a call. */
export type CallCommand =
  | SupervisorCommand
  /** A Twilio transcription callback that landed on another instance, its signature checked there. */
  | { op: 'transcription-callback'; callSid: string; fields: Record<string, string> }
  /** A finished secure capture (`<Pay>` action) that landed on another instance: what decides the answer, no payment field. */
  | { op: 'secure-capture-done'; callSid: string; digest: string; back?: string; result?: string }
  /** The call's stream is held by instance `to` now: the instance that held it forgets it. */
  | { op: 'let-go'; callSid: string; to: string };

export interface CommandReply {
  result: string;
  detail: string;
  /** For a forwarded callback: the HTTP status and body to answer Twilio with. */
  status?: number;
  body?: Record<string, string>;
  /** For a forwarded secure capture: the TwiML to answer Twilio with. */
  twiml?: string;
}

/**
 * What asking the other instances gave: the holder's reply; `none`, every instance answered and none holds the
 * call; or `unreachable`, they could not be asked (Redis is down) or did not all answer in time, so the call
 * may well be live elsewhere.
 */
export type CommandAnswer =
  | { kind: 'reply'; reply: CommandReply }
  | { kind: 'none' }
  /** `sent`: the command went out, and the holder may still be running it (it did not answer in time). */
  | { kind: 'unreachable'; detail: string; sent?: boolean };

export interface Bus {
  /** Whether other instances are on this bus (Redis), so that a call may be held elsewhere. */
  readonly acrossInstances: boolean;
  publish(event: LiveEvent): void;
  /** Returns the unsubscribe function. */
  subscribe(listener: (event: LiveEvent) => void): () => void;
  /** Asks the other instances to run a command for a call one of them holds. */
  request(command: CallCommand, timeoutMs?: number): Promise<CommandAnswer>;
  /** Runs commands from other instances: the handler returns undefined for calls this instance does not hold. */
  serve(handler: (command: CallCommand) => Promise<CommandReply> | undefined): void;
  /** Tells every instance (this one too) that the stored rule set is now `version`, so that they run it at once. */
  rulesChanged(version: number): void;
  /** Called with each version announced by rulesChanged, on any instance. Returns the unsubscribe function. */
  onRulesChanged(listener: (version: number) => void): () => void;
  /** Across instances only: INSTANCE_IDs silent for longer than `silentMs`, each given to one caller (see RedisBus). */
  claimDeadInstances?(silentMs: number): Promise<string[]>;
  close(): Promise<void>;
}
