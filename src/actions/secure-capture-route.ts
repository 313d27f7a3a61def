// POST /twilio/secure-capture: the action URL of a secure capture flow (<Pay action=…>). Twilio calls it
// when the caller has keyed in their details; the answer starts takeover's stream again and returns the
// caller to the agent's TwiML. Signed like every Twilio webhook; the payment fields are never logged. The
// signature has no timestamp: a request already taken for the call is answered as if the call were not paused
// here, so a replay (say, during a later capture) reopens nothing.
import { createHash } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { requireTwilioSignature, type SignatureOptions } from '../twilio-signature.js';
import { escapeXml } from './twiml.js';

/** What the route needs of the calls held here (calls/monitor.ts provides it). */
export interface SecureCaptureCalls {
  /**
   * Reopens a call paused for a secure capture: the TwiML that returns the caller to the agent, or none when the call is
   * not paused here. `requestId` names the signed request: a replay of one already taken is `replayed` and changes nothing.
   */
  secureCaptureDone(callSid: string, requestId: string): { replayed: boolean; twiml?: string };
  /** Whether this instance holds the call (else another instance may: see toHolder). */
  session(callSid: string): object | undefined;
}

/** One finished capture, as much of it as decides the answer (never the payment fields). */
export interface CaptureDone {
  callSid: string;
  /** What Twilio signed, hashed: equal for a request and its replay. */
  digest: string;
  /** The agent's TwiML URL to return the caller to when the call is not paused here. */
  back?: string;
  result?: string;
}

export interface SecureCaptureOptions {
  monitor: SecureCaptureCalls;
  signature: SignatureOptions;
  /**
   * Several instances: hands a finished capture of a call not held here to the instance that holds its stream
   * (over the bus), which reopens it; its TwiML, or undefined when no instance holds the call or none could be asked.
   */
  toHolder?: (done: CaptureDone) => Promise<string | undefined>;
  /** Gives the function that takes captures other instances forward here (signature already checked there). */
  fromOthers?: (accept: (done: CaptureDone) => string) => void;
}

export const secureCaptureRoute: FastifyPluginAsync<SecureCaptureOptions> = async (app, opts) => {
  const accept = ({ callSid, digest, back, result }: CaptureDone): string => {
    const { replayed, twiml } = opts.monitor.secureCaptureDone(callSid, digest);
    if (replayed) app.log.warn({ callSid }, 'secure capture action already taken for this call: a replay, ignored');
    else app.log.info({ callSid, result }, 'secure capture finished');
    if (twiml) return twiml;
    // This process no longer knows the call (restart, no instance holds it), or it is a replay: send the caller back to the agent at least.
    if (!replayed) app.log.warn({ callSid }, 'secure capture finished for a call not paused here; returning it to the agent without monitoring');
    return back && /^https?:\/\//.test(back)
      ? `<?xml version="1.0" encoding="UTF-8"?><Response><Redirect method="POST">${escapeXml(back)}</Redirect></Response>`
      : '<?xml version="1.0" encoding="UTF-8"?><Response/>';
  };
  opts.fromOthers?.(accept);

  app.post(
    '/twilio/secure-capture',
    { preHandler: requireTwilioSignature(opts.signature, 'https') },
    async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, string>;
      const callSid = body.CallSid;
      if (!callSid || !/^CA[0-9a-fA-F]{32}$/.test(callSid)) return reply.code(400).send({ error: 'CallSid: must be a Call SID' });
      const back = (req.query as { return?: string }).return;
      const done: CaptureDone = { callSid, digest: requestDigest(req), ...(back ? { back } : {}), ...(body.Result ? { result: body.Result } : {}) };
      // The instance that holds the call's stream reopens it: this one could not start a stream it never saw.
      const twiml = (!opts.monitor.session(callSid) && (await opts.toHolder?.(done))) || accept(done);
      return reply.type('text/xml').send(twiml);
    },
  );
};

/** What Twilio signed (the URL with its query, and the form fields): equal for a request and its replay. */
function requestDigest(req: FastifyRequest): string {
  const fields = Object.entries((req.body ?? {}) as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify([req.url, fields])).digest('base64url');
}
