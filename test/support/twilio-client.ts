// Test-side stand-ins for Twilio's two ways of reaching the service: a signed Media Stream
// WebSocket and signed form callbacks. Signatures are made with the twilio SDK, as Twilio makes them.
import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import WebSocket from 'ws';
import type { LocalStack } from '../../src/simulator/local-stack.js';
import type { Scenario } from '../../src/simulator/scenario.js';

export const sid = (prefix: string) => prefix + randomBytes(16).toString('hex');

/** A scripted call from the usual test numbers that no scenario outcome is expected of: `lines` are what is said. */
export function scriptedCall(name: string, description: string, lines: Scenario['lines'], recording = false): Scenario {
  return { name, description, from: '+15550100001', to: '+15550100099', parameters: {}, recording, expect: { outcome: 'none' }, lines };
}

/** A call that stays up and says nothing for a minute after "hello": for tests that act on a live call themselves. */
export function quietCall(name: string, description: string, recording = false): Scenario {
  return scriptedCall(name, description, [{ speaker: 'caller', text: 'hello', gapMs: 60_000 }], recording);
}

/** Opens /media-stream signed over `signedUrl` (default: the public wss URL). Resolves on open; rejects with the HTTP status. */
export function openStream(
  stack: LocalStack,
  opts: { signedUrl?: string; signature?: string | null } = {},
): Promise<WebSocket> {
  const signedUrl = opts.signedUrl ?? stack.config.mediaStreamUrl;
  const signature =
    opts.signature === undefined ? twilio.getExpectedTwilioSignature(stack.config.twilio.authToken!, signedUrl, {}) : opts.signature;
  const ws = new WebSocket(stack.serviceUrl.replace(/^http/, 'ws') + '/media-stream', {
    headers: signature === null ? {} : { 'X-Twilio-Signature': signature },
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

/** `connected` and `start` as Twilio sends them for a stream of `callSid` in the stack's account (or `accountSid`). */
export function startFrames(
  stack: Pick<LocalStack, 'config'>,
  callSid: string,
  streamSid: string,
  customParameters: Record<string, string> = {},
  accountSid = stack.config.twilio.accountSid,
) {
  return [
    { event: 'connected', protocol: 'Call', version: '1.0.0' },
    {
      event: 'start',
      sequenceNumber: '1',
      streamSid,
      start: {
        streamSid,
        accountSid,
        callSid,
        tracks: ['inbound', 'outbound'],
        customParameters,
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
    },
  ];
}

export function mediaFrame(streamSid: string, n: number, track: 'inbound' | 'outbound' = 'inbound') {
  return {
    event: 'media',
    sequenceNumber: String(n + 1),
    streamSid,
    media: { track, chunk: String(n), timestamp: String(n * 20), payload: Buffer.alloc(160, 0xff).toString('base64') },
  };
}

export const send = (ws: WebSocket, frames: unknown[]) => frames.forEach((f) => ws.send(typeof f === 'string' ? f : JSON.stringify(f)));

/** Posts a form callback to `path` (on `opts.to` if given), signed over the public https URL unless told otherwise. */
export async function postCallback(
  stack: LocalStack,
  path: string,
  params: Record<string, string>,
  opts: { signedUrl?: string; signature?: string | null; to?: string } = {},
): Promise<Response> {
  const signedUrl = opts.signedUrl ?? stack.config.publicUrl + path;
  const signature =
    opts.signature === undefined ? twilio.getExpectedTwilioSignature(stack.config.twilio.authToken!, signedUrl, params) : opts.signature;
  // `to`: another instance's base URL (the load balancer sent the request there); still signed over the public URL.
  return fetch((opts.to ?? stack.serviceUrl) + path, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(signature === null ? {} : { 'x-twilio-signature': signature }),
    },
    body: new URLSearchParams(params).toString(),
  });
}

/** Polls `check` until it returns a truthy value or `ms` pass. */
export async function eventually<T>(check: () => T | Promise<T>, ms = 5000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
