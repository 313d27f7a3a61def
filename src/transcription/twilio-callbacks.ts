// POST /twilio/transcription: Twilio's real-time transcription callbacks (<Start><Transcription
// statusCallbackUrl=…>) → Utterances on the right call, in SequenceId order. Signed like every webhook.
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { CallMonitor } from '../calls/monitor.js';
import { requireTwilioSignature, type SignatureOptions } from '../twilio-signature.js';
import type { Utterance } from '../types.js';
import { SequenceOrder } from './sequence-order.js';
import { now } from '../clock.js';

const callbackSchema = z.object({
  CallSid: z.string().regex(/^CA[0-9a-fA-F]{32}$/, 'must be a Call SID'),
  TranscriptionSid: z.string().min(1),
  TranscriptionEvent: z.enum(['transcription-started', 'transcription-content', 'transcription-stopped', 'transcription-error']),
  SequenceId: z.coerce.number().int().nonnegative().optional(),
  TranscriptionData: z.string().optional(),
  Final: z.enum(['true', 'false']).optional(),
  Track: z.enum(['inbound_track', 'outbound_track', 'both_tracks']).optional(),
  Timestamp: z.string().optional(),
  TranscriptionError: z.string().optional(),
  TranscriptionErrorCode: z.string().optional(),
});
type Callback = z.infer<typeof callbackSchema>;
interface Received {
  cb: Callback;
  transcript?: string;
  receivedAt: number;
}

/** Transcriptions whose gate epoch is remembered (oldest forgotten first); far more than live calls × pauses. */
const MAX_REMEMBERED_TRANSCRIPTIONS = 10_000;

const dataSchema = z.object({ transcript: z.string(), confidence: z.number().optional() });

const IDLE_MS = 10 * 60_000;

export interface TwilioTranscriptionOptions {
  monitor: CallMonitor;
  signature: SignatureOptions;
}

export const twilioTranscriptionRoute: FastifyPluginAsync<TwilioTranscriptionOptions> = async (app, opts) => {
  const { monitor } = opts;
  const orders = new Map<string, { order: SequenceOrder<Received>; lastSeen: number }>();
  // A transcription whose 'stopped' callback never came (the call dropped) is forgotten after a quiet spell.
  const sweep = setInterval(() => {
    const cutoff = Date.now() - IDLE_MS;
    for (const [sid, o] of orders) if (o.lastSeen < cutoff) (o.order.close(), orders.delete(sid));
  }, IDLE_MS);
  sweep.unref();
  app.addHook('onClose', async () => clearInterval(sweep));
  // Each transcription speaks for the gate epoch it was first heard in while the gate was open. A pause stops
  // it, but its callbacks can still be in flight (or held for ordering) when the call is resumed with a new one:
  // the text they carry is from before or during the pause, and must not pass the reopened gate.
  const epochs = new Map<string, number>();
  const bind = (callSid: string, transcriptionSid: string) => {
    const gate = monitor.session(callSid)?.gate;
    if (!gate?.isOpen || epochs.has(transcriptionSid)) return;
    epochs.set(transcriptionSid, gate.epoch);
    if (epochs.size > MAX_REMEMBERED_TRANSCRIPTIONS) epochs.delete(epochs.keys().next().value!);
  };
  const outlived = (callSid: string, transcriptionSid: string): boolean => {
    const session = monitor.session(callSid);
    const epoch = epochs.get(transcriptionSid);
    if (!session || epoch === undefined || epoch === session.gate.epoch) return false;
    session.counters.utterancesDropped++;
    return true;
  };

  const handle = ({ cb, transcript, receivedAt }: Received) => {
    switch (cb.TranscriptionEvent) {
      case 'transcription-started':
        return monitor.transcriptionStatus(cb.CallSid, 'started', cb.TranscriptionSid, cb.Track);
      case 'transcription-stopped':
        orders.get(cb.TranscriptionSid)?.order.close();
        orders.delete(cb.TranscriptionSid);
        return monitor.transcriptionStatus(cb.CallSid, 'stopped', cb.TranscriptionSid);
      case 'transcription-error':
        return monitor.transcriberHealth(cb.CallSid, {
          state: 'degraded',
          reason: `Twilio transcription error ${cb.TranscriptionErrorCode ?? ''}`.trim(),
        });
      case 'transcription-content': {
        if (transcript === undefined || outlived(cb.CallSid, cb.TranscriptionSid)) return;
        // Text flowing again means Twilio's transcription recovered from an earlier error.
        monitor.transcriberHealth(cb.CallSid, { state: 'ok' });
        const u: Utterance = {
          callSid: cb.CallSid,
          track: cb.Track === 'outbound_track' ? 'outbound' : 'inbound',
          text: transcript,
          final: cb.Final !== 'false',
          receivedAt,
          sequence: cb.SequenceId,
          provider: 'twilio',
        };
        void monitor.utterance(u).catch((err) => app.log.error({ err, callSid: cb.CallSid }, 'utterance failed'));
      }
    }
  };

  app.post(
    '/twilio/transcription',
    { preHandler: requireTwilioSignature(opts.signature, 'https') },
    async (req, reply) => {
      const receivedAt = now();
      const r = callbackSchema.safeParse(req.body ?? {});
      if (!r.success) {
        const fields = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
        return reply.code(400).send({ error: `not a Twilio transcription callback (${fields})` });
      }
      const cb = r.data;
      let transcript: string | undefined;
      if (cb.TranscriptionEvent === 'transcription-content') {
        const data = dataSchema.safeParse(safeJson(cb.TranscriptionData));
        if (!data.success) {
          return reply.code(400).send({ error: 'TranscriptionData: must be a JSON object with a "transcript" string' });
        }
        transcript = data.data.transcript;
      }
      bind(cb.CallSid, cb.TranscriptionSid);
      const received: Received = { cb, transcript, receivedAt };
      if (cb.SequenceId === undefined) {
        handle(received);
      } else {
        let entry = orders.get(cb.TranscriptionSid);
        if (!entry) {
          // One held for an earlier one counts as received with it: stored lines (ordered by time) then keep
          // SequenceId order too.
          let lastDelivered = 0;
          const order = new SequenceOrder<Received>((item) => {
            lastDelivered = item.receivedAt = Math.max(item.receivedAt, lastDelivered);
            handle(item);
          });
          entry = { order, lastSeen: 0 };
          orders.set(cb.TranscriptionSid, entry);
        }
        entry.lastSeen = receivedAt;
        entry.order.push(cb.SequenceId, received);
      }
      return reply.code(204).send();
    },
  );
};

function safeJson(s: string | undefined): unknown {
  if (s === undefined) return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
