// Signature checks fail closed: the Media Stream upgrade is signed over the wss:// public URL, the
// transcription callback over the https:// one with its form fields. Anything else gets 403 and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { signedUrl } from '../../src/twilio-signature.js';
import { openStream, postCallback, sid } from '../support/twilio-client.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack({ env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' } });
});
afterAll(async () => stack?.close());

const callback = (callSid: string) => ({
  AccountSid: sid('AC'),
  CallSid: callSid,
  TranscriptionSid: sid('GT'),
  TranscriptionEvent: 'transcription-content',
  TranscriptionData: JSON.stringify({ transcript: 'hello there', confidence: 0.9 }),
  Final: 'true',
  Track: 'inbound_track',
  SequenceId: '1',
  Timestamp: new Date().toISOString(),
});

describe('WebSocket upgrade signature', () => {
  it('accepts an upgrade signed over the public wss:// URL', async () => {
    expect(stack.config.mediaStreamUrl).toBe('wss://takeover.demo.invalid/media-stream');
    const ws = await openStream(stack);
    ws.close();
  });

  it('refuses a forged signature with 403', async () => {
    await expect(openStream(stack, { signature: 'bm90IGEgc2lnbmF0dXJl' })).rejects.toThrow('HTTP 403');
  });

  it('refuses a missing signature with 403', async () => {
    await expect(openStream(stack, { signature: null })).rejects.toThrow('HTTP 403');
  });

  it('refuses an upgrade signed over the https:// form of the URL', async () => {
    await expect(openStream(stack, { signedUrl: 'https://takeover.demo.invalid/media-stream' })).rejects.toThrow('HTTP 403');
  });

  it('refuses an upgrade signed over the internal host instead of the public one', async () => {
    await expect(openStream(stack, { signedUrl: stack.serviceUrl.replace(/^http/, 'ws') + '/media-stream' })).rejects.toThrow('HTTP 403');
  });
});

describe('transcription callback signature', () => {
  it('accepts a callback signed over the https:// URL and its fields', async () => {
    const callSid = sid('CA');
    const res = await postCallback(stack, '/twilio/transcription', callback(callSid));
    expect(res.status).toBe(204);
    expect(stack.service.monitor.session(callSid)).toBeDefined();
  });

  for (const [what, opts] of [
    ['forged', { signature: 'Zm9yZ2Vk' }],
    ['missing', { signature: null }],
    ['signed over the wss:// scheme', { signedUrl: 'wss://takeover.demo.invalid/twilio/transcription' }],
  ] as const) {
    it(`refuses a ${what} signature with 403 and creates no call`, async () => {
      const callSid = sid('CA');
      const res = await postCallback(stack, '/twilio/transcription', callback(callSid), opts);
      expect(res.status).toBe(403);
      expect(stack.service.monitor.session(callSid)).toBeUndefined();
    });
  }

  it('refuses a callback whose fields were changed after signing', async () => {
    const callSid = sid('CA');
    const params = callback(callSid);
    const res = await postCallback(stack, '/twilio/transcription', { ...params, TranscriptionData: JSON.stringify({ transcript: 'tampered' }) }, {
      signature: (await import('twilio')).default.getExpectedTwilioSignature(stack.config.twilio.authToken!, stack.config.publicUrl + '/twilio/transcription', params),
    });
    expect(res.status).toBe(403);
  });
});

describe('signedUrl', () => {
  it('uses the public host and scheme, and adds a proxy path prefix once', () => {
    expect(signedUrl('https://a.example', '/media-stream', 'wss')).toBe('wss://a.example/media-stream');
    expect(signedUrl('http://localhost:3000', '/media-stream', 'wss')).toBe('ws://localhost:3000/media-stream');
    expect(signedUrl('https://a.example/takeover', '/media-stream', 'wss')).toBe('wss://a.example/takeover/media-stream');
    expect(signedUrl('https://a.example/takeover', '/takeover/twilio/transcription?x=1', 'https')).toBe('https://a.example/takeover/twilio/transcription?x=1');
  });
});
