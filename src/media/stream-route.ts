// The Media Streams WebSocket endpoint (/media-stream): signed upgrade, Twilio frames → CallMonitor.
// A bad frame is counted, logged without its content, and dropped; the connection stays up.
import type { FastifyPluginAsync } from 'fastify';
import type { WebSocket } from 'ws';
import type { CallMonitor } from '../calls/monitor.js';
import type { CallSession } from '../calls/call-session.js';
import { requireTwilioSignature, type SignatureOptions } from '../twilio-signature.js';
import { parseStreamMessage } from './protocol.js';

export interface MediaStreamOptions {
  monitor: CallMonitor;
  signature: SignatureOptions;
  /** Called for each dropped frame (metrics). */
  onBadFrame?: (reason: string) => void;
}

/** Log at most this many bad-frame warnings per connection; the rest are only counted. */
const MAX_BAD_FRAME_LOGS = 5;

export const mediaStreamRoute: FastifyPluginAsync<MediaStreamOptions> = async (app, opts) => {
  app.get(
    '/media-stream',
    { websocket: true, preValidation: requireTwilioSignature(opts.signature, 'wss') },
    (socket: WebSocket, req) => {
      let session: CallSession | undefined;
      let streamSid: string | undefined;
      let badFrames = 0;
      const log = req.log;

      const bad = (reason: string) => {
        badFrames++;
        if (session) session.counters.badFrames++;
        opts.onBadFrame?.(reason);
        if (badFrames <= MAX_BAD_FRAME_LOGS) log.warn({ streamSid, reason }, 'dropped a malformed Media Stream frame');
      };

      socket.on('message', (data, isBinary) => {
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
          case 'start':
            if (session) return bad('second start on one connection');
            streamSid = ev.streamSid;
            session = opts.monitor.streamStarted({
              callSid: ev.callSid,
              streamSid: ev.streamSid,
              tracks: ev.tracks,
              customParameters: ev.customParameters,
              path: req.url,
            });
            if (!session) {
              log.info({ callSid: ev.callSid }, 'stream for a call that is no longer monitored: closing');
              socket.close(1000, 'call not monitored');
            }
            return;
          case 'dtmf':
            if (session) session.counters.dtmf++;
            return;
          case 'mark':
            if (session) session.counters.marks++;
            return;
          case 'stop':
            if (ev.streamSid !== streamSid) return bad('stop for another stream');
            opts.monitor.streamStopped(ev.streamSid);
            session = undefined;
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
