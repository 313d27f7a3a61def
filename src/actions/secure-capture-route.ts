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
}

export interface SecureCaptureOptions {
  monitor: SecureCaptureCalls;
  signature: SignatureOptions;
}

export const secureCaptureRoute: FastifyPluginAsync<SecureCaptureOptions> = async (app, opts) => {
  app.post(
    '/twilio/secure-capture',
    { preHandler: requireTwilioSignature(opts.signature, 'https') },
    async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, string>;
      const callSid = body.CallSid;
      if (!callSid || !/^CA[0-9a-fA-F]{32}$/.test(callSid)) return reply.code(400).send({ error: 'CallSid: must be a Call SID' });
      const back = (req.query as { return?: string }).return;
      const done = opts.monitor.secureCaptureDone(callSid, requestDigest(req));
      const { replayed } = done;
      if (replayed) req.log.warn({ callSid }, 'secure capture action already taken for this call: a replay, ignored');
      else req.log.info({ callSid, result: body.Result }, 'secure capture finished');
      let twiml = done.twiml;
      if (!twiml) {
        // This process no longer knows the call (restart, another instance), or it is a replay: send the caller back to the agent at least.
        if (!replayed) req.log.warn({ callSid }, 'secure capture finished for a call not paused here; returning it to the agent without monitoring');
        twiml = back && /^https?:\/\//.test(back)
          ? `<?xml version="1.0" encoding="UTF-8"?><Response><Redirect method="POST">${escapeXml(back)}</Redirect></Response>`
          : '<?xml version="1.0" encoding="UTF-8"?><Response/>';
      }
      return reply.type('text/xml').send(twiml);
    },
  );
};

/** What Twilio signed (the URL with its query, and the form fields): equal for a request and its replay. */
function requestDigest(req: FastifyRequest): string {
  const fields = Object.entries((req.body ?? {}) as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify([req.url, fields])).digest('base64url');
}
