// The Media Streams WebSocket endpoint (/media-stream): signed upgrade, Twilio frames → a StreamSink (the CallMonitor).
// A bad frame is counted, logged without its content, and dropped; the connection stays up. A stream that
// is not its call's own (another account's, a second one for a live call, a reused streamSid, not the one
// takeover re-creates after a pause) is closed with 1008 and changes nothing: the upgrade signature covers
// only the URL, so it proves little on its own.
import type { FastifyPluginAsync } from 'fastify';
import type { WebSocket } from 'ws';
import { requireTwilioSignature, type SignatureOptions } from '../twilio-signature.js';
import { parseStreamMessage } from './protocol.js';
import type { StreamAdmission, StreamSink } from './stream-sink.js';

export interface MediaStreamOptions<Handle = unknown> {
  /** Where the streams' events go; an accepted stream's handle is all the route keeps of its call. */
  monitor: StreamSink<Handle>;
  signature: SignatureOptions;
  /** Our account (TWILIO_ACCOUNT_SID): a `start` naming another is refused. */
  accountSid: string;
  /** Called for each dropped frame (metrics). */
  onBadFrame?: (reason: string) => void;
}

/** Log at most this many bad-frame warnings per connection; the rest are only counted. */
const MAX_BAD_FRAME_LOGS = 5;

/** WebSocket close code for a stream refused by policy (RFC 6455 §7.4.1). */
const POLICY_VIOLATION = 1008;

export const mediaStreamRoute: FastifyPluginAsync<MediaStreamOptions> = async (app, opts) => {
  type Handle = unknown;
  app.get(
    '/media-stream',
    { websocket: true, preValidation: requireTwilioSignature(opts.signature, 'wss') },
    (socket: WebSocket, req) => {
      let session: Handle | undefined;
      // Set only once the stream is accepted: a refused stream's frames, stop and close reach no call.
      let streamSid: string | undefined;
      // A refused or stopped stream: nothing more this connection sends is looked at.
      let finished = false;
      let badFrames = 0;
      const log = req.log;

      const bad = (reason: string) => {
        badFrames++;
        if (session) opts.monitor.streamNoticed(session, 'bad frame');
        opts.onBadFrame?.(reason);
        if (badFrames <= MAX_BAD_FRAME_LOGS) log.warn({ streamSid, reason }, 'dropped a malformed Media Stream frame');
      };

      const admitted = (admission: StreamAdmission<Handle>, callSid: string): Handle | undefined => {
        if (admission.accepted) return admission.session;
        finished = true;
        if (admission.why === 'call not monitored') {
          log.info({ callSid }, 'stream for a call that is no longer monitored: closing');
          socket.close(1000, 'call not monitored');
        } else {
          socket.close(POLICY_VIOLATION, admission.why);
        }
        return undefined;
      };

      socket.on('message', (data, isBinary) => {
        if (finished) return;
        const raw = isBinary ? data.toString() : (data as Buffer).toString('utf8');
        const r = parseStreamMessage(raw);
        if (!r.ok) return bad(r.reason);
        const ev = r.event;
        if (ev.kind === 'media') {
          if (!session || ev.streamSid !== streamSid) return bad('media before start or for another stream');
          return opts.monitor.streamMedia(session, ev.track, ev.payload, ev.timestamp);
        }
        switch (ev.kind) {
          case 'connected':
            return;
          case 'start': {
            if (session) return bad('second start on one connection');
            const start = {
              callSid: ev.callSid,
              streamSid: ev.streamSid,
              tracks: ev.tracks,
              customParameters: ev.customParameters,
              path: req.url,
            };
            session = admitted(
              ev.accountSid === opts.accountSid ? opts.monitor.streamStarted(start) : opts.monitor.streamRefused(start, 'foreign account'),
              ev.callSid,
            );
            if (session) streamSid = ev.streamSid;
            return;
          }
          case 'dtmf':
            if (session) opts.monitor.streamNoticed(session, 'dtmf');
            return;
          case 'mark':
            if (session) opts.monitor.streamNoticed(session, 'mark');
            return;
          case 'stop':
            if (!session || ev.streamSid !== streamSid) return bad('stop for another stream');
            opts.monitor.streamStopped(ev.streamSid);
            session = undefined;
            finished = true;
            return;
        }
      });

      socket.on('close', () => {
        if (session && streamSid) opts.monitor.streamStopped(streamSid);
        session = undefined;
      });
      socket.on('error', (err) => log.warn({ err: err.message, streamSid }, 'media stream socket error'));
    },
  );
};
