// POST /twilio/transcription: Twilio's real-time transcription callbacks (<Start><Transcription
// statusCallbackUrl=…>) → Utterances on the right call, in SequenceId order. Signed like every webhook; the
// signature has no timestamp, so each callback is taken once, by TranscriptionSid + SequenceId: a replayed
// one is acknowledged (200) and ignored. One that comes after its gap was skipped is taken then, late.
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { requireTwilioSignature, type SignatureOptions } from '../twilio-signature.js';
import type { Utterance } from '../types.js';
import type { PrivacyGate } from './privacy-gate.js';
import type { TranscriberHealth } from './transcriber.js';
import { SequenceOrder } from './sequence-order.js';
import { now } from '../clock.js';

const callbackSchema = z.object({
  CallSid: z.string().regex(/^CA[0-9a-fA-F]{32}$/, 'must be a Call SID'),
  TranscriptionSid: z.string().min(1),
  TranscriptionEvent: z.enum(['transcription-started', 'transcription-content', 'transcription-stopped', 'transcription-error']),
  // Twilio numbers every callback of a transcription; without the number a replay could not be told apart.
  SequenceId: z.coerce.number().int().nonnegative(),
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

/** What is kept of one transcription while the monitor holds its call: ordering, what was delivered, its gate epoch. */
interface Heard {
  callSid: string;
  /** Delivers in SequenceId order; drops (push → false) a SequenceId already delivered or held. */
  order: SequenceOrder<Received>;
  /** The gate epoch it speaks for: the first one it was heard in while the gate was open. */
  epoch?: number;
}

/** Far more than live calls × transcriptions per call; beyond it the oldest is forgotten. */
const MAX_TRANSCRIPTIONS = 10_000;
/** How often transcriptions of calls the monitor no longer holds are forgotten. */
const SWEEP_MS = 60_000;

const dataSchema = z.object({ transcript: z.string(), confidence: z.number().optional() });

/**
 * What the callbacks need of the calls held here (calls/monitor.ts provides it): the stage talks down, never back up,
 * and reads a call's gate without changing it or the call.
 */
export interface TranscriptSink {
  session(callSid: string): { readonly gate: Pick<PrivacyGate, 'isOpen' | 'epoch'> } | undefined;
  /** A transcript kept from the call: it was heard before or during a pause that has ended since. */
  utteranceWithheld(callSid: string): void;
  transcriptionStatus(callSid: string, event: 'started' | 'running' | 'stopped', sid: string, track?: string): void;
  transcriberHealth(callSid: string, health: TranscriberHealth): void;
  utterance(u: Utterance): Promise<void>;
}

/** What the holder of a call answered to a callback forwarded to it. */
export interface CallbackAnswer {
  status: number;
  body?: Record<string, string>;
}

export interface TwilioTranscriptionOptions {
  monitor: TranscriptSink;
  signature: SignatureOptions;
  /**
   * Several instances: hands a callback for a call not held here to the instance that holds its stream (over the
   * bus). Undefined when no instance holds it, or none could be asked: then it is handled here.
   */
  toHolder?: (callSid: string, fields: Record<string, string>) => Promise<CallbackAnswer | undefined>;
  /** Gives the function that takes callbacks other instances forward here (signature already checked there). */
  fromOthers?: (accept: (fields: unknown) => CallbackAnswer) => void;
}

export const twilioTranscriptionRoute: FastifyPluginAsync<TwilioTranscriptionOptions> = async (app, opts) => {
  const { monitor } = opts;
  const heard = new Map<string, Heard>();
  const forget = (transcriptionSid: string) => {
    heard.get(transcriptionSid)?.order.close();
    heard.delete(transcriptionSid);
  };
  // Kept as long as the call is (ended calls included, for their grace period): until then a replay is recognised.
  const sweep = setInterval(() => {
    for (const [sid, h] of heard) if (!monitor.session(h.callSid)) forget(sid);
  }, SWEEP_MS);
  sweep.unref();
  app.addHook('onClose', async () => clearInterval(sweep));

  const transcription = (cb: Callback): Heard => {
    let h = heard.get(cb.TranscriptionSid);
    if (!h) {
      // One held for an earlier one counts as received with it: stored lines (ordered by time) then keep
      // SequenceId order too.
      let lastDelivered = 0;
      const order = new SequenceOrder<Received>((item) => {
        lastDelivered = item.receivedAt = Math.max(item.receivedAt, lastDelivered);
        handle(item);
      });
      h = { callSid: cb.CallSid, order };
      heard.set(cb.TranscriptionSid, h);
      if (heard.size > MAX_TRANSCRIPTIONS) forget(heard.keys().next().value!);
    }
    // Each transcription speaks for the gate epoch it was first heard in while the gate was open. A pause stops
    // it, but its callbacks can still be in flight (or held for ordering) when the call is resumed with a new
    // one: the text they carry is from before or during the pause, and must not pass the reopened gate.
    const gate = monitor.session(cb.CallSid)?.gate;
    if (h.epoch === undefined && gate?.isOpen) h.epoch = gate.epoch;
    return h;
  };
  const outlived = (callSid: string, transcriptionSid: string): boolean => {
    const session = monitor.session(callSid);
    const epoch = heard.get(transcriptionSid)?.epoch;
    if (!session || epoch === undefined || epoch === session.gate.epoch) return false;
    monitor.utteranceWithheld(callSid);
    return true;
  };

  const handle = ({ cb, transcript, receivedAt }: Received) => {
    switch (cb.TranscriptionEvent) {
      case 'transcription-started':
        return monitor.transcriptionStatus(cb.CallSid, 'started', cb.TranscriptionSid, cb.Track);
      case 'transcription-stopped':
        // Nothing comes after it: the transcription is kept (to know its replays), but holds nothing more.
        heard.get(cb.TranscriptionSid)?.order.close();
        return monitor.transcriptionStatus(cb.CallSid, 'stopped', cb.TranscriptionSid);
      case 'transcription-error':
        return monitor.transcriberHealth(cb.CallSid, {
          state: 'degraded',
          reason: `Twilio transcription error ${cb.TranscriptionErrorCode ?? ''}`.trim(),
        });
      case 'transcription-content': {
        if (transcript === undefined || outlived(cb.CallSid, cb.TranscriptionSid)) return;
        // Which transcription feeds the call: after a restart no 'started' callback comes, and a pause must stop it.
        monitor.transcriptionStatus(cb.CallSid, 'running', cb.TranscriptionSid);
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

  /** Takes one callback (its signature checked where it arrived): what Twilio is answered. */
  const accept = (body: unknown, receivedAt: number): CallbackAnswer => {
    const r = callbackSchema.safeParse(body ?? {});
    if (!r.success) {
      const fields = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      return { status: 400, body: { error: `not a Twilio transcription callback (${fields})` } };
    }
    const cb = r.data;
    let transcript: string | undefined;
    if (cb.TranscriptionEvent === 'transcription-content') {
      const data = dataSchema.safeParse(safeJson(cb.TranscriptionData));
      if (!data.success) return { status: 400, body: { error: 'TranscriptionData: must be a JSON object with a "transcript" string' } };
      transcript = data.data.transcript;
    }
    const h = transcription(cb);
    // Another call's SID with this transcription's is no callback Twilio sent.
    if (h.callSid !== cb.CallSid) return { status: 400, body: { error: 'TranscriptionSid: belongs to another call' } };
    if (!h.order.push(cb.SequenceId, { cb, transcript, receivedAt })) {
      app.log.info(
        { callSid: cb.CallSid, transcriptionSid: cb.TranscriptionSid, sequenceId: cb.SequenceId },
        'ignored a transcription callback already delivered',
      );
      return { status: 200, body: { ignored: 'already delivered' } };
    }
    return { status: 204 };
  };
  opts.fromOthers?.((fields) => accept(fields, now()));

  app.post(
    '/twilio/transcription',
    { preHandler: requireTwilioSignature(opts.signature, 'https') },
    async (req, reply) => {
      const receivedAt = now();
      const callSid = (req.body as Record<string, unknown> | undefined)?.CallSid;
      // The instance that holds the call's stream decides for it: a second session here could not pause that stream.
      if (opts.toHolder && typeof callSid === 'string' && !monitor.session(callSid) && callbackSchema.safeParse(req.body).success) {
        const answer = await opts.toHolder(callSid, req.body as Record<string, string>);
        if (answer) return reply.code(answer.status).send(answer.body);
      }
      const answer = accept(req.body, receivedAt);
      return reply.code(answer.status).send(answer.body);
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
