// Live events for supervisors (dashboard feed) and commands between instances. Text in these events
// is always redacted, and no event about a paused stretch carries text.
import type { Action } from '../rules/schema.js';
import type { SensitiveCategory, Track } from '../types.js';

export type CallState = 'monitoring' | 'paused' | 'handed_off' | 'ended';

export type LiveEvent =
  | { type: 'call'; callSid: string; state: CallState; degraded?: string; at: number }
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
  | { type: 'gate'; callSid: string; open: boolean; reason: string; by: string; at: number };

/** A supervisor's action on a call, to be run by whichever instance holds the call's stream. */
export type CallCommand =
  | { op: 'act'; callSid: string; action: Action; actor: string; reason: string }
  | { op: 'resume'; callSid: string; actor: string };

export interface CommandReply {
  result: string;
  detail: string;
}

export interface Bus {
  publish(event: LiveEvent): void;
  /** Returns the unsubscribe function. */
  subscribe(listener: (event: LiveEvent) => void): () => void;
  /**
   * Asks the other instances to run a command for a call they hold. Undefined when none answers in time
   * (or there are no other instances).
   */
  request(command: CallCommand, timeoutMs?: number): Promise<CommandReply | undefined>;
  /** Runs commands from other instances: the handler returns undefined for calls this instance does not hold. */
  serve(handler: (command: CallCommand) => Promise<CommandReply> | undefined): void;
  close(): Promise<void>;
}
