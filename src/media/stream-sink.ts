// What the media route hands a Media Stream's events to. The route knows Twilio's WebSocket JSON and nothing of
// calls: whoever owns calls (src/calls' CallMonitor) implements this, and the route keeps only the opaque handle
// that an accepted stream gives back.
import type { Track } from '../types.js';

export interface StreamStart {
  callSid: string;
  streamSid: string;
  tracks: Track[];
  customParameters: Record<string, string>;
  /** The path and query of the WebSocket request (`/media-stream?tenant=…`). */
  path?: string;
}

/** Why a Media Stream may not join the call it names. */
export type StreamRefusal = 'foreign account' | 'second stream' | 'stream reused' | 'not a re-created stream';

export type StreamAdmission<Handle> =
  | { accepted: true; session: Handle }
  | { accepted: false; why: StreamRefusal | 'call not monitored' };

/** Frames a stream sent that carry no audio but are counted on its call. */
export type StreamNotice = 'bad frame' | 'dtmf' | 'mark';

export interface StreamSink<Handle> {
  streamStarted(s: StreamStart): StreamAdmission<Handle>;
  streamRefused(s: Pick<StreamStart, 'callSid' | 'streamSid'>, why: StreamRefusal): StreamAdmission<Handle>;
  streamMedia(session: Handle, track: Track, payload: string, timestampMs: number): void;
  streamNoticed(session: Handle, notice: StreamNotice): void;
  streamStopped(streamSid: string): void;
}
