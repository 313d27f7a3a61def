// A call's life beyond one process, in process: a call known only from Twilio's transcription callbacks (what is
// left of it after a restart) ends when its transcription stops, and a pause on it stops that transcription by its
// SID; a pause that finds nothing to stop is not "done"; a draining instance is unready but alive.
import { afterEach, describe, expect, it } from 'vitest';
import { ActionExecutor } from '../../src/actions/executor.js';
import { createTwilioClient, twilioCallControl } from '../../src/actions/twilio-rest.js';
import type { LiveEvent } from '../../src/bus/types.js';
import { LONG_CALL, startApiStack, type ApiStack } from '../supervisor/api-stack.js';
import { eventually, postCallback, sid } from '../support/twilio-client.js';

let stack: ApiStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const content = (callSid: string, transcriptionSid: string, seq: number, text: string) => ({
  AccountSid: stack!.config.twilio.accountSid,
  CallSid: callSid,
  TranscriptionSid: transcriptionSid,
  SequenceId: String(seq),
  TranscriptionEvent: 'transcription-content',
  TranscriptionData: JSON.stringify({ transcript: text, confidence: 0.9 }),
  Final: 'true',
  Track: 'inbound_track',
});

describe('a call known only from transcription callbacks (after a restart)', () => {
  it('ends when its transcription stops', async () => {
    stack = await startApiStack();
    const callSid = sid('CA');
    const transcriptionSid = sid('GT');
    expect((await postCallback(stack, '/twilio/transcription', content(callSid, transcriptionSid, 1, 'I am still here'))).status).toBe(204);
    const session = await eventually(() => stack!.service.monitor.session(callSid), 2000, 'the session rebuilt');
    expect(session.state).toBe('monitoring');
    const stopped = { AccountSid: stack.config.twilio.accountSid, CallSid: callSid, TranscriptionSid: transcriptionSid, SequenceId: '2', TranscriptionEvent: 'transcription-stopped' };
    expect((await postCallback(stack, '/twilio/transcription', stopped)).status).toBe(204);
    await eventually(() => session.state === 'ended', 2000, 'the session ended');
    await stack.service.monitor.settle();
    expect(await stack.store.getCall(callSid)).toMatchObject({ status: 'ended', endedAt: expect.any(Number) });
  });

  it('pauses by stopping the transcription by its SID and the recording, and shows the due time to supervisors', async () => {
    stack = await startApiStack();
    // The call's transcription posts elsewhere, as for a call whose 'transcription-started' went to a process now gone.
    const twiml =
      '<Response><Start><Transcription name="takeover" track="both_tracks" statusCallbackUrl="https://gone.invalid/twilio/transcription"/></Start>' +
      '<Connect><Stream url="wss://agent.example.com/ai-agent"/></Connect></Response>';
    const call = stack.emulator.placeCall(LONG_CALL, twiml);
    const [transcription] = call.transcriptions.values();
    await postCallback(stack, '/twilio/transcription', content(call.sid, transcription!.sid, 5, 'I have a question about my bill'));
    await eventually(() => stack!.service.monitor.session(call.sid), 2000, 'the session rebuilt');
    const events: LiveEvent[] = [];
    stack.service.bus.subscribe((e) => events.push(e));

    const before = Date.now();
    const paused = await stack.api('POST', `/api/calls/${call.sid}/pause`, { as: 'supervisor', body: { resumeAfterSeconds: 30 } });
    expect(paused.body).toMatchObject({ result: 'done' });
    const rest = stack.emulator.restLog().map((e) => `${e.resource} ${e.form.Status ?? ''} ${e.status}`);
    expect(rest).toEqual(['Recordings/{Sid} paused 200', 'Transcriptions/{Sid} stopped 200']);
    expect(transcription!.running).toBe(false);

    const listed = await stack.api('GET', '/api/calls?state=live', { as: 'viewer' });
    const summary = listed.body.calls.find((c: { callSid: string }) => c.callSid === call.sid);
    expect(summary).toMatchObject({ state: 'paused', pausedUntil: expect.any(Number) });
    expect(summary.pausedUntil).toBeGreaterThanOrEqual(before + 30_000);
    expect(events.find((e) => e.type === 'call' && e.state === 'paused' && e.pausedUntil === summary.pausedUntil)).toBeDefined();
    await stack.service.monitor.settle();
    expect(await stack.store.getCall(call.sid)).toMatchObject({ status: 'paused', pausedUntil: summary.pausedUntil, resume: { recordingPaused: true, transcription: { sid: transcription!.sid } } });
  });

  it('does not call a pause done when it found no stream and no transcription to stop', async () => {
    stack = await startApiStack();
    const call = stack.emulator.placeCall(LONG_CALL);
    const control = twilioCallControl(createTwilioClient(stack.config.twilio));
    const executor = new ActionExecutor(control, () => undefined, { deadlineMs: 5000, keepListeningAfterHandoff: false });
    const now = Date.now();
    const outcome = await executor.execute(
      {
        id: `${call.sid}:manual:1`,
        callSid: call.sid,
        ruleId: 'manual',
        origin: 'manual',
        mode: 'enforce',
        action: { type: 'pause', resumeAfterSeconds: 60 },
        reason: 'test',
        actor: 'supervisor:test',
        timings: { transcriptAt: now, assessedAt: now, decidedAt: now },
      },
      { callSid: call.sid, streams: () => [], transcription: () => undefined },
    );
    expect(outcome).toMatchObject({ result: 'failed', detail: expect.stringMatching(/nothing stopped/) });
    // What it could stop, it stopped: the recording.
    expect(call.recording?.status).toBe('paused');
  });
});

describe('readiness while draining', () => {
  it('is unready (503) from the start of a drain while /healthz stays 200, and turns new calls away with Retry-After', async () => {
    stack = await startApiStack();
    expect((await fetch(`${stack.serviceUrl}/readyz`)).status).toBe(200);
    await stack.service.drain();
    const ready = await fetch(`${stack.serviceUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false, problems: [{ check: 'draining', problem: expect.stringMatching(/shutting down/) }] });
    expect((await fetch(`${stack.serviceUrl}/healthz`)).status).toBe(200);
    const refused = await postCallback(stack, '/twilio/transcription', content(sid('CA'), sid('GT'), 1, 'hello there'));
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
