// Decisions carried out on the emulator: retried when Twilio says 429/5xx (after its Retry-After) until the
// action's deadline, never retried when the call is gone, executed at most once (a failed one may run again),
// one at a time per call, and every attempt on record.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionExecutor, type CallHandle } from '../../src/actions/executor.js';
import type { CallControl } from '../../src/actions/twilio-rest.js';
import { createTwilioClient, twilioCallControl } from '../../src/actions/twilio-rest.js';
import type { Decision } from '../../src/rules/decide.js';
import type { Action } from '../../src/rules/schema.js';
import type { EmulatedCall } from '../../src/simulator/call.js';
import { TwilioEmulator } from '../../src/simulator/emulator.js';
import type { AuditEntry } from '../../src/store/types.js';
import { quietCall, sid } from '../support/twilio-client.js';

const scenario = quietCall('quiet', 'a long quiet call', true);

let emulator: TwilioEmulator;
let audit: AuditEntry[];
let executor: ActionExecutor;
let control: CallControl;

const handoff: Action = { type: 'handoff', to: { queue: 'billing' }, say: 'One moment & thanks <3' };
const decision = (callSid: string, action: Action, id = 'r1', mode: 'enforce' | 'observe' = 'enforce'): Decision => ({
  id: `${callSid}:${id}:1`,
  callSid,
  ruleId: id,
  origin: 'rule',
  mode,
  action,
  reason: 'test',
  actor: `rule:${id}`,
  timings: { transcriptAt: Date.now(), assessedAt: Date.now(), decidedAt: Date.now() },
});
const noStreams = (callSid: string): CallHandle => ({ callSid, streams: () => [], transcription: () => undefined });
/** A live call with a <Start><Stream> fork, and the handle the service would have of it. */
function callWithStream(): { call: EmulatedCall; handle: CallHandle } {
  const call = emulator.placeCall(scenario);
  const s = call.createStream({ url: 'wss://t.invalid/media-stream', name: 'takeover', track: 'inbound_track', parameters: {} });
  const handle: CallHandle = {
    callSid: call.sid,
    // As the service knows it (its own socket to nowhere may have closed already; Twilio still has the stream).
    streams: () => [{ sid: s.sid, spec: { url: s.url, name: 'takeover', track: 'inbound_track', parameters: {} } }],
    transcription: () => undefined,
  };
  return { call, handle };
}
const callUpdates = (callSid: string) => emulator.restLog().filter((r) => r.callSid === callSid && r.resource === 'Calls');

beforeAll(async () => {
  const accountSid = sid('AC');
  const authToken = sid('tok');
  emulator = new TwilioEmulator({ accountSid, authToken, servicePublicUrl: 'https://t.invalid', serviceLocalUrl: 'http://127.0.0.1:9' });
  const url = await emulator.listen();
  control = twilioCallControl(createTwilioClient({ accountSid, authToken, apiKeySid: undefined, apiKeySecret: undefined, apiBaseUrl: url }));
  audit = [];
  executor = new ActionExecutor(control, (e) => audit.push({ at: Date.now(), callSid: e.callSid ?? '', ...e }), {
    deadlineMs: 5000,
    keepListeningAfterHandoff: false,
    backoffBaseMs: 5,
    backoffCapMs: 20,
  });
});
afterAll(async () => emulator?.close());

describe('ActionExecutor on the emulator', () => {
  it('hands off with escaped TwiML and a Task carrying the reason, after two 429s, with exactly one effective update', async () => {
    const call = emulator.placeCall(scenario);
    emulator.inject('calls.update', 2, 429);
    const outcome = await executor.execute(decision(call.sid, { ...handoff, to: { queue: 'billing', workflowSid: 'WW' + 'a'.repeat(32) } }), noStreams(call.sid), {
      reason: 'caller asked for a person',
      ruleId: 'r1',
      frustrationTrend: [0.2, 0.8],
      summary: 'wants a refund',
      transcript: [{ track: 'inbound', text: 'I want a <real> person' }],
    });
    expect(outcome.result).toBe('done');
    const updates = callUpdates(call.sid);
    expect(updates.map((u) => u.status)).toEqual([429, 429, 200]);
    const twiml = updates[2]!.form.Twiml!;
    expect(twiml).toContain('<Say>One moment &amp; thanks &lt;3</Say>');
    const task = /<Task>(.*)<\/Task>/.exec(twiml)![1]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&').replace(/&apos;/g, "'");
    expect(JSON.parse(task)).toMatchObject({ reason: 'caller asked for a person', rule: 'r1', frustrationTrend: [0.2, 0.8], transcript: [{ track: 'inbound', text: 'I want a <real> person' }] });
    const attempts = audit.filter((a) => a.callSid === call.sid && a.kind === 'attempt');
    expect(attempts.map((a) => a.data.ok)).toEqual([false, false, true]);
    expect(attempts[0]!.data).toMatchObject({ status: 429, code: 20429, failure: 'retry' });
    expect(call.twiml).toContain('<Enqueue workflowSid=');
  });

  it('does not retry when the call is no longer in progress (21220), and records that it ended', async () => {
    const call = emulator.placeCall(scenario);
    call.complete('caller hung up');
    const outcome = await executor.execute(decision(call.sid, handoff), noStreams(call.sid));
    expect(outcome.result).toBe('gone');
    expect(callUpdates(call.sid)).toHaveLength(1);
    const out = audit.find((a) => a.callSid === call.sid && a.kind === 'outcome');
    expect(out?.data).toMatchObject({ result: 'gone', detail: expect.stringContaining('call already ended') });
    expect(executor.isFinished(call.sid)).toBe(true);
  });

  it('executes one decision once however often it is asked, and nothing after a handoff', async () => {
    const call = emulator.placeCall(scenario);
    const d = decision(call.sid, handoff);
    const results = await Promise.all([executor.execute(d, noStreams(call.sid)), executor.execute(d, noStreams(call.sid))]);
    expect(results[0]).toBe(results[1]);
    const later = await executor.execute(decision(call.sid, { type: 'end_call' }, 'r2'), noStreams(call.sid));
    expect(later).toMatchObject({ result: 'skipped' });
    expect(callUpdates(call.sid)).toHaveLength(1);
  });

  it('keeps retrying 500s for as long as the deadline allows, then gives up and says what Twilio answered', async () => {
    const patient = new ActionExecutor(control, (e) => audit.push({ at: Date.now(), callSid: e.callSid ?? '', ...e }), {
      deadlineMs: 1500,
      keepListeningAfterHandoff: false,
      backoffBaseMs: 20,
      backoffCapMs: 100,
    });
    const call = emulator.placeCall(scenario);
    emulator.inject('calls.update', 1000, 500);
    try {
      const started = Date.now();
      const outcome = await patient.execute(decision(call.sid, { type: 'end_call' }), noStreams(call.sid));
      expect(outcome.result).toBe('failed');
      const updates = callUpdates(call.sid);
      // Not five quick attempts: retries spread over the deadline, the last one sent shortly before it.
      expect(updates.length).toBeGreaterThan(8);
      expect(updates.at(-1)!.at - started).toBeGreaterThan(1000);
      expect(updates.at(-1)!.at - started).toBeLessThan(1500);
      expect(outcome.detail).toMatch(new RegExp(`^gave up after ${updates.length} attempts: 500 20500`));
      expect(outcome.failure).toEqual({
        step: 'end call',
        attempts: updates.length,
        status: 500,
        code: 20500,
        summary: expect.stringMatching(/^Twilio answered 500 \S+ times$/),
      });
    } finally {
      emulator.faults.length = 0;
    }
  });

  it("waits for Twilio's Retry-After on a 429 instead of hammering it", async () => {
    const call = emulator.placeCall(scenario);
    emulator.rateLimit('calls.update', 2, 1);
    try {
      const outcome = await executor.execute(decision(call.sid, handoff), noStreams(call.sid));
      expect(outcome.result).toBe('done');
      const updates = callUpdates(call.sid);
      expect(updates.map((u) => u.status)).toEqual([429, 429, 200]);
      // Each retry came at least a second (the Retry-After) after the 429 it answers.
      expect(updates[1]!.at - updates[0]!.at).toBeGreaterThanOrEqual(990);
      expect(updates[2]!.at - updates[1]!.at).toBeGreaterThanOrEqual(990);
      const attempts = audit.filter((a) => a.callSid === call.sid && a.kind === 'attempt');
      expect(attempts[0]!.data).toMatchObject({ ok: false, status: 429, retryAfterMs: 1000 });
    } finally {
      emulator.faults.length = 0;
    }
  });

  it('gives up at once when Twilio asks to wait past the deadline', async () => {
    const strict = new ActionExecutor(control, () => {}, { deadlineMs: 1000, keepListeningAfterHandoff: false, backoffBaseMs: 5, backoffCapMs: 20 });
    const call = emulator.placeCall(scenario);
    emulator.rateLimit('calls.update', 1, 30);
    try {
      const outcome = await strict.execute(decision(call.sid, { type: 'end_call' }), noStreams(call.sid));
      expect(outcome).toMatchObject({ result: 'failed', failure: { attempts: 1, status: 429, code: 20429, summary: 'Twilio answered 429 once' } });
      expect(callUpdates(call.sid)).toHaveLength(1);
    } finally {
      emulator.faults.length = 0;
    }
  });

  it('runs a failed decision again when asked again (a success still runs once)', async () => {
    const call = emulator.placeCall(scenario);
    const d = decision(call.sid, handoff);
    emulator.inject('calls.update', 1, 400, 21211);
    expect(await executor.execute(d, noStreams(call.sid))).toMatchObject({ result: 'failed', detail: expect.stringMatching(/^refused after 1 attempt: 400 21211/) });
    const again = await executor.execute(d, noStreams(call.sid));
    expect(again.result).toBe('done');
    expect(await executor.execute(d, noStreams(call.sid))).toBe(again);
    expect(callUpdates(call.sid).map((u) => u.status)).toEqual([400, 200]);
  });

  it('leaves a failed pause unfinished: a later pause does only what is left, and resume brings back only what was stopped', async () => {
    const { call, handle } = callWithStream();
    emulator.inject('streams.update', 1000, 503);
    const quick = new ActionExecutor(control, (e) => audit.push({ at: Date.now(), callSid: e.callSid ?? '', ...e }), {
      deadlineMs: 600,
      keepListeningAfterHandoff: false,
      backoffBaseMs: 20,
      backoffCapMs: 100,
    });
    const pause: Action = { type: 'pause', resumeAfterSeconds: 0 };
    const failed = await quick.execute(decision(call.sid, pause), handle);
    emulator.faults.length = 0;
    expect(failed).toMatchObject({ result: 'failed', failure: { step: 'stop stream takeover for privacy', status: 503 } });
    expect(call.recording?.status).toBe('paused');
    // Still paused, with the recording to resume and no stream stopped yet.
    expect(quick.pausePlan(call.sid)).toEqual({ streams: [], transcription: undefined, returnUrl: undefined, recordingPaused: true });
    // The supervisor pauses again: the recording is left alone (already paused), the stream is stopped now.
    const retried = await quick.execute(decision(call.sid, pause, 'manual'), handle);
    expect(retried).toMatchObject({ result: 'done' });
    const rest = () => emulator.restLog().filter((r) => r.callSid === call.sid && r.status === 200).map((r) => `${r.resource} ${r.form.Status ?? ''}`.trim());
    expect(rest()).toEqual(['Recordings/{Sid} paused', 'Streams/{Sid} stopped']);
    expect(await quick.execute(decision(call.sid, pause, 'again'), handle)).toMatchObject({ result: 'skipped', detail: 'already paused' });
    expect(await quick.resume(call.sid, 'supervisor:alice', () => {})).toMatchObject({ result: 'done' });
    expect(rest().slice(2)).toEqual(['Streams', 'Recordings/{Sid} in-progress']);
  });

  it('keeps to its deadline when Twilio is slow: a request does not outlive the action it belongs to', async () => {
    const strict = new ActionExecutor(control, (e) => audit.push({ at: Date.now(), callSid: e.callSid ?? '', ...e }), {
      deadlineMs: 800,
      keepListeningAfterHandoff: false,
      backoffBaseMs: 5,
      backoffCapMs: 20,
    });
    const call = emulator.placeCall(scenario);
    emulator.delay('calls.update', 1, 4000);
    try {
      const started = Date.now();
      const outcome = await strict.execute(decision(call.sid, { type: 'end_call' }), noStreams(call.sid));
      const took = Date.now() - started;
      expect(outcome.result).toBe('failed');
      expect(outcome.detail).toMatch(/^gave up after 1 attempt: network .*timeout/);
      expect(outcome.failure).toMatchObject({ network: 'ETIMEDOUT', summary: 'a request timed out once' });
      expect(took).toBeLessThan(2500);
    } finally {
      emulator.faults.length = 0;
    }
  });

  it('records an observe-mode decision as "would have" and calls nothing', async () => {
    const call = emulator.placeCall(scenario);
    const outcome = await executor.execute(decision(call.sid, handoff, 'obs', 'observe'), noStreams(call.sid));
    expect(outcome).toEqual({ result: 'observed', detail: 'would have run handoff (queue billing)' });
    expect(emulator.restLog().filter((r) => r.callSid === call.sid)).toHaveLength(0);
  });

  it('pauses: stops the stream by SID, pauses the recording; resumes with the same stream spec', async () => {
    const call = emulator.placeCall(scenario);
    const s = call.createStream({ url: 'wss://t.invalid/media-stream', name: 'takeover', track: 'both_tracks', parameters: { tenant: 'acme' } });
    const handle: CallHandle = {
      callSid: call.sid,
      streams: () => (s.open ? [{ sid: s.sid, spec: { url: s.url, name: 'takeover', track: 'both_tracks', parameters: { tenant: 'acme' } } }] : []),
      transcription: () => undefined,
    };
    const paused = await executor.execute(decision(call.sid, { type: 'pause', resumeAfterSeconds: 0 }), handle);
    expect(paused.result).toBe('done');
    expect(s.open).toBe(false);
    expect(call.recording?.status).toBe('paused');
    let resumed = false;
    expect(await executor.resume(call.sid, 'supervisor:alice', () => (resumed = true))).toMatchObject({ result: 'done' });
    expect(resumed).toBe(true);
    expect(call.recording?.status).toBe('in-progress');
    const created = emulator.restLog().filter((r) => r.callSid === call.sid && r.resource === 'Streams');
    expect(created).toHaveLength(1);
    expect(created[0]!.form).toMatchObject({ Url: 'wss://t.invalid/media-stream', Name: 'takeover', Track: 'both_tracks', 'Parameter1.Name': 'tenant', 'Parameter1.Value': 'acme' });
  });

  it('counts a call as handed off once its TwiML changed, even when our stream cannot be stopped after', async () => {
    const { call, handle } = callWithStream();
    emulator.inject('streams.update', 1000, 500);
    const quick = new ActionExecutor(control, () => {}, { deadlineMs: 600, keepListeningAfterHandoff: false, backoffBaseMs: 20, backoffCapMs: 100 });
    try {
      const outcome = await quick.execute(decision(call.sid, handoff), handle);
      expect(outcome.result).toBe('done');
      expect(outcome.detail).toMatch(/^handed off: queue billing; our stream could not be stopped \(500/);
      expect(callUpdates(call.sid)).toHaveLength(1);
      expect(quick.isFinished(call.sid)).toBe(true);
    } finally {
      emulator.faults.length = 0;
    }
    // Nothing more happens to a call that is with a person.
    const later = await quick.execute(decision(call.sid, { type: 'pause', resumeAfterSeconds: 0 }, 'r2'), handle);
    expect(later).toMatchObject({ result: 'skipped' });
    expect(emulator.restLog().filter((r) => r.callSid === call.sid && r.resource === 'Recordings/{Sid}')).toHaveLength(0);
  });

  it('pauses the recording before anything else, so Twilio keeps as little of the private stretch as it can', async () => {
    const { call, handle } = callWithStream();
    const outcome = await executor.execute(decision(call.sid, { type: 'pause', resumeAfterSeconds: 0 }), handle);
    expect(outcome.result).toBe('done');
    const order = emulator.restLog().filter((r) => r.callSid === call.sid).map((r) => `${r.resource} ${r.form.Status ?? ''}`.trim());
    expect(order).toEqual(['Recordings/{Sid} paused', 'Streams/{Sid} stopped']);
  });

  it('says an action that could not be sent was not sent, not that the network failed', async () => {
    const bare = new ActionExecutor(twilioCallControl(createTwilioClient({ accountSid: sid('AC'), authToken: 'x', apiKeySid: undefined, apiKeySecret: undefined, apiBaseUrl: 'http://127.0.0.1:9' })), () => {}, {
      deadlineMs: 1000,
      keepListeningAfterHandoff: false,
    });
    const callSid = sid('CA');
    const capture: Action = { type: 'pause', resumeAfterSeconds: 0, secureCapture: { returnUrl: 'https://agent.example.com/voice', template: 'secure-capture', say: 'x' } };
    const outcome = await bare.execute(decision(callSid, capture), noStreams(callSid));
    expect(outcome).toMatchObject({ result: 'failed', detail: 'not sent: secure capture needs the public URL of /twilio/secure-capture', failure: { attempts: 0 } });
  });

  it('keeps the newest transcript lines in the Task when the whole would pass 4,000 characters', async () => {
    const call = emulator.placeCall(scenario);
    const transcript = Array.from({ length: 60 }, (_, i) => ({ track: 'inbound' as const, text: `line ${i} ${'x'.repeat(80)}` }));
    const toWorkflow: Action = { ...handoff, to: { queue: 'billing', workflowSid: 'WW' + 'b'.repeat(32) } };
    const outcome = await executor.execute(decision(call.sid, toWorkflow), noStreams(call.sid), {
      reason: 'r',
      ruleId: 'r1',
      frustrationTrend: [],
      summary: '',
      transcript,
    });
    expect(outcome.result).toBe('done');
    const twiml = callUpdates(call.sid)[0]!.form.Twiml!;
    expect(twiml.length).toBeLessThanOrEqual(4000);
    expect(twiml).toContain('line 59 ');
    expect(twiml).not.toContain('line 0 ');
  });
});
