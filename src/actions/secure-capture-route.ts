// POST /twilio/secure-capture: the action URL of a secure capture flow (<Pay action=…>). Twilio calls it
// when the caller has keyed in their details; the answer starts takeover's stream again and returns the
// caller to the agent's TwiML. Signed like every Twilio webhook; the payment fields are never logged.
import type { FastifyPluginAsync } from 'fastify';
import type { CallMonitor } from '../calls/monitor.js';
import { requireTwilioSignature, type SignatureOptions } from '../twilio-signature.js';
import { escapeXml } from './twiml.js';

export interface SecureCaptureOptions {
  monitor: CallMonitor;
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
      req.log.info({ callSid, result: body.Result }, 'secure capture finished');
      let twiml = opts.monitor.secureCaptureDone(callSid);
      if (!twiml) {
        // This process no longer knows the call (restart, another instance): send the caller back to the agent at least.
        req.log.warn({ callSid }, 'secure capture finished for a call not paused here; returning it to the agent without monitoring');
        twiml = back && /^https?:\/\//.test(back)
          ? `<?xml version="1.0" encoding="UTF-8"?><Response><Redirect method="POST">${escapeXml(back)}</Redirect></Response>`
          : '<?xml version="1.0" encoding="UTF-8"?><Response/>';
      }
      return reply.type('text/xml').send(twiml);
    },
  );
};
