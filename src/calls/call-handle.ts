// How takeover gets a call's media back: the CallHandle the executor uses to stop and re-create the call's Media Stream
// and real-time transcription (same URL, query string included, name and parameters), and which new stream counts as
// one takeover re-created.
import type { CallHandle } from '../actions/executor.js';
import type { StreamSpec, TranscriptionSpec } from '../actions/twilio-rest.js';
import type { StreamStart } from '../media/stream-sink.js';
import type { Track } from '../types.js';
import type { CallSession } from './call-session.js';

export interface CallUrls {
  /** wss URL of /media-stream. */
  mediaStreamUrl: string;
  /** https URL of /twilio/transcription. */
  transcriptionCallbackUrl: string;
  streamName: string;
}

export function callHandle(session: CallSession, urls: CallUrls): CallHandle {
  const { mediaStreamUrl, transcriptionCallbackUrl, streamName } = urls;
  return {
    callSid: session.callSid,
    streams: () =>
      session.openStreams.map((s) => ({
        sid: s.streamSid,
        spec: {
          // The same URL, query string included, on our public origin (the only one Twilio can reach).
          url: s.path ? new URL(s.path, mediaStreamUrl).toString() : mediaStreamUrl,
          name: streamName,
          track: toStreamTrack(s.tracks),
          parameters: s.customParameters,
        } satisfies StreamSpec,
      })),
    transcription: () =>
      session.transcription && {
        sid: session.transcription.sid,
        spec: {
          name: streamName,
          statusCallbackUrl: transcriptionCallbackUrl,
          track: (session.transcription.track as TranscriptionSpec['track'] | undefined) ?? 'both_tracks',
          partialResults: true,
        },
      },
  };
}

/** Whether `s` is a stream of the call as takeover re-creates it: the path (query string included) and parameters of one it had. */
export function recreates(session: CallSession, s: StreamStart): boolean {
  const same = (a: Record<string, string>, b: Record<string, string>) =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);
  for (const earlier of session.streams.values()) if (earlier.path === s.path && same(earlier.customParameters, s.customParameters)) return true;
  return false;
}

function toStreamTrack(tracks: Track[]): StreamSpec['track'] {
  if (tracks.includes('inbound') && tracks.includes('outbound')) return 'both_tracks';
  return tracks.includes('outbound') ? 'outbound_track' : 'inbound_track';
}
