// Checks X-Twilio-Signature on Twilio's requests, failing closed: a missing or forged signature gets
// 403 and the handler never runs. Signed over the public URL (behind a proxy the internal host differs):
// https://… for HTTP callbacks with the form fields, wss://… for the Media Stream upgrade with no params.
import type { FastifyReply, FastifyRequest } from 'fastify';
import twilio from 'twilio';

export interface SignatureOptions {
  authToken: string | undefined;
  /** False only with ALLOW_UNSIGNED=1. */
  verify: boolean;
  /** PUBLIC_URL, e.g. https://takeover.example.com */
  publicUrl: string;
}

/** The URL Twilio signed: the public base, the request path and query, and the scheme it used. */
export function signedUrl(publicUrl: string, requestUrl: string, scheme: 'https' | 'wss'): string {
  const base = new URL(publicUrl);
  const secure = base.protocol === 'https:';
  const protocol = scheme === 'wss' ? (secure ? 'wss:' : 'ws:') : base.protocol;
  const prefix = base.pathname.replace(/\/$/, '');
  // Behind a path-prefixing proxy the request may arrive with or without the prefix; add it once.
  const path = prefix && requestUrl.startsWith(prefix + '/') ? requestUrl : prefix + requestUrl;
  return `${protocol}//${base.host}${path}`;
}

function isValidTwilioSignature(
  authToken: string,
  signature: string | undefined,
  url: string,
  params: Record<string, unknown>,
): boolean {
  if (!signature) return false;
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) flat[k] = Array.isArray(v) ? String(v[0]) : String(v);
  return twilio.validateRequest(authToken, signature, url, flat);
}

/** A Fastify hook: use as `preValidation` for the WebSocket upgrade (scheme wss), `preHandler` for form callbacks. */
export function requireTwilioSignature(opts: SignatureOptions, scheme: 'https' | 'wss') {
  return async function checkTwilioSignature(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (!opts.verify) return;
    const header = req.headers['x-twilio-signature'];
    const signature = Array.isArray(header) ? header[0] : header;
    const url = signedUrl(opts.publicUrl, req.url, scheme);
    const params = scheme === 'https' && req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {};
    if (!opts.authToken || !isValidTwilioSignature(opts.authToken, signature, url, params)) {
      req.log.warn({ path: req.routeOptions.url, reason: signature ? 'signature does not match' : 'no X-Twilio-Signature' }, 'rejected unsigned Twilio request');
      await reply.code(403).send({ error: 'invalid Twilio signature' });
    }
  };
}
