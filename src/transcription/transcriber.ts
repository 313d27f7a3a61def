// The Transcriber interface: audio of one call track in, Utterances out. Providers implement it;
// the CallSession owns one per track it needs and feeds it from the media hot path.
import type { Track, Utterance } from '../types.js';

export type TranscriberHealth = { state: 'ok' } | { state: 'degraded'; reason: string };

export interface TranscriberContext {
  callSid: string;
  track: Track;
  /** Called for every partial and final transcript, in turn order. */
  onUtterance(utterance: Utterance): void;
  /** Called when the provider goes down or comes back. */
  onHealth(health: TranscriberHealth): void;
}

export interface Transcriber {
  /** Base64 μ-law 8 kHz, exactly as Twilio sent it. Must return at once: never blocks the Twilio socket. */
  pushAudio(payload: string, timestampMs: number): void;
  /** Ends the provider session (nothing more is sent or billed). */
  close(): Promise<void>;
}

/**
 * Makes transcribers for a call's tracks. A provider whose transcripts arrive by another path
 * (Twilio's real-time transcription callbacks) needs no audio and returns undefined.
 */
export interface TranscriberFactory {
  readonly provider: 'twilio' | 'openai';
  create(context: TranscriberContext): Transcriber | undefined;
}

/** Twilio transcribes on its side and posts the text to /twilio/transcription: no audio leaves takeover. */
export const twilioTranscription: TranscriberFactory = {
  provider: 'twilio',
  create: () => undefined,
};
