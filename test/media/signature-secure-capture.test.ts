// POST /twilio/secure-capture is signed like every Twilio webhook: over the https:// public URL, its query
// (the return URL rides in it) and the form fields. Anything else gets 403 and the paused call stays paused.
// A signed action has its effect once: replayed, even during a later capture, it reopens nothing.
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuleBook } from '../../src/rules/rule-book.js';
import { parseRuleSet } from '../../src/rules/schema.js';
import type { EmulatedCall } from '../../src/simulator/call.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { eventually, postCallback, quietCall, sid } from '../support/twilio-client.js';

const returnUrl = 'https://agent.example.com/voice';
const path = `/twilio/secure-capture?return=${encodeURIComponent(returnUrl)}`;

// A call that stays up and quiet; the test plays Twilio's callbacks itself. At speed 0.1 the emulator's own
// caller takes 100 s at the <Pay>, so it never posts the action URL while the test runs.
const quiet = quietCall('secure-capture-signature', 'a quiet call sent to secure capture by the transcript the test posts');

let stack: LocalStack;
let call: EmulatedCall;

beforeAll(async () => {
  stack = await startLocalStack({
    speed: 0.1,
    env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' },
    parts: {
      rules: new RuleBook(
        parseRuleSet([{ id: 'card', when: { type: 'sensitive', categories: ['payment_card'] }, action: { type: 'pause', secureCapture: { returnUrl } }, cooldownSeconds: 0 }]),
      ),
    },
  });
  call = stack.emulator.placeCall(quiet, '<Response><Say>Welcome.</Say></Response>');
  await readsCard();
  // The service sent the caller to <Pay> with the action URL this test posts to.
  await eventually(() => call.twiml.includes('<Pay action='), 5000, 'the <Pay> TwiML');
}, 20_000);
afterAll(async () => stack?.close());

const actionFields = (confirmation = 'ch_0123456789ab') => ({
  AccountSid: stack.config.twilio.accountSid,
  CallSid: call.sid,
  CallStatus: 'in-progress',
  Result: 'success',
  PaymentConfirmationCode: confirmation,
});

/** The caller reads out a card number (a transcription of its own, as after a resume): the rule sends them to <Pay>. */
async function readsCard(): Promise<void> {
  const res = await postCallback(stack, '/twilio/transcription', {
    AccountSid: stack.config.twilio.accountSid,
    CallSid: call.sid,
    TranscriptionSid: sid('GT'),
    TranscriptionEvent: 'transcription-content',
    TranscriptionData: JSON.stringify({ transcript: 'my card number is 4111 1111 1111 1111', confidence: 0.9 }),
    Final: 'true',
    Track: 'inbound_track',
    SequenceId: '1',
  });
  expect(res.status).toBe(204);
  await stack.service.monitor.settle();
}

const stillPaused = () => {
  const session = stack.service.monitor.session(call.sid)!;
  expect(session.state).toBe('paused');
  expect(session.gate.isOpen).toBe(false);
};

describe('secure capture action URL signature', () => {
  it('starts with the call paused and the caller at the <Pay>', () => {
    stillPaused();
    expect(call.twiml).toContain(`<Pay action="https://takeover.demo.invalid${path.replace(/&/g, '&amp;')}"`);
  });

  for (const [what, opts] of [
    ['forged', { signature: 'Zm9yZ2Vk' }],
    ['missing', { signature: null }],
    ['signed over the wss:// scheme', { signedUrl: `wss://takeover.demo.invalid${path}` }],
    ['signed over the URL without its return query', { signedUrl: 'https://takeover.demo.invalid/twilio/secure-capture' }],
    ['signed over the internal host instead of the public one', { signedUrl: `http://127.0.0.1/twilio/secure-capture?return=${encodeURIComponent(returnUrl)}` }],
  ] as const) {
    it(`refuses a ${what} signature with 403 and leaves the call paused`, async () => {
      const res = await postCallback(stack, path, actionFields(), opts);
      expect(res.status).toBe(403);
      expect(await res.text()).not.toContain('<Response');
      stillPaused();
    });
  }

  it('refuses an action whose fields were changed after signing', async () => {
    const fields = actionFields();
    const signature = twilio.getExpectedTwilioSignature(stack.config.twilio.authToken!, stack.config.publicUrl + path, fields);
    const res = await postCallback(stack, path, { ...fields, Result: 'too-many-failed-attempts' }, { signature });
    expect(res.status).toBe(403);
    stillPaused();
  });

  it('accepts the action signed over the https:// URL with its query and fields: listens again, returns the caller', async () => {
    const res = await postCallback(stack, path, actionFields());
    expect(res.status).toBe(200);
    const twiml = await res.text();
    expect(twiml).toContain(`<Redirect method="POST">${returnUrl}</Redirect>`);
    const session = stack.service.monitor.session(call.sid)!;
    expect(session.state).toBe('monitoring');
    expect(session.gate.isOpen).toBe(true);
  });

  it('has no effect when the accepted action is replayed: the caller is sent back, nothing is resumed twice', async () => {
    const requests = call.events.filter((e) => e.kind === 'rest').length;
    const res = await postCallback(stack, path, actionFields());
    expect(res.status).toBe(200);
    const twiml = await res.text();
    expect(twiml).toContain(`<Redirect method="POST">${returnUrl}</Redirect>`);
    expect(twiml).not.toContain('<Stream');
    await stack.service.monitor.settle();
    expect(call.events.filter((e) => e.kind === 'rest')).toHaveLength(requests);
  });

  it('does not end a later capture when the earlier action is replayed during it; that capture\'s own action does', async () => {
    const session = stack.service.monitor.session(call.sid)!;
    await readsCard();
    await eventually(() => session.state === 'paused' && call.twiml.includes('<Pay action='), 5000, 'the second <Pay>');
    const requests = call.events.filter((e) => e.kind === 'rest').length;

    // The first capture's action, signed by Twilio and captured, posted again while the caller keys in a card.
    const replay = await postCallback(stack, path, actionFields());
    expect(replay.status).toBe(200);
    expect(await replay.text()).not.toContain('<Stream');
    await stack.service.monitor.settle();
    stillPaused();
    expect(call.events.filter((e) => e.kind === 'rest')).toHaveLength(requests);
    const audit = await stack.service.store.audit(call.sid);
    expect(audit.filter((e) => e.kind === 'gate' && e.data.open === true)).toHaveLength(1);

    // Twilio's action for this capture (its own confirmation code) resumes the call.
    const res = await postCallback(stack, path, actionFields('ch_fedcba987654'));
    expect(res.status).toBe(200);
    expect(await res.text()).toContain(`<Redirect method="POST">${returnUrl}</Redirect>`);
    expect(session.state).toBe('monitoring');
    expect(session.gate.isOpen).toBe(true);
    await stack.service.monitor.settle();
    const reopened = (await stack.service.store.audit(call.sid)).filter((e) => e.kind === 'gate' && e.data.open === true);
    expect(reopened.map((e) => e.actor)).toEqual(['secure-capture', 'secure-capture']);
  });
});
