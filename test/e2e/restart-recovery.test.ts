// A restart of the real process on the same SQLite file and INSTANCE_ID: a paused call resumes at its stored due
// time (stream and transcription re-created, recording resumed) with nothing said before then transcribed; after a
// SIGKILL the next start ends the dead process's call records (never another instance's) and audits no second
// "call started" when the call's callbacks come back.
import { afterEach, describe, expect, it } from 'vitest';
import { loadScenarios, type Scenario } from '../../src/simulator/scenario.js';
import { eventually } from '../support/twilio-client.js';
import { RestartRig } from './restart-process.js';

const scenarios = new Map((await loadScenarios()).map((s) => [s.name, s]));
let rig: RestartRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('a restart during a pause', () => {
  it('resumes the call at its due time: stream and transcription re-created, recording resumed, nothing said before then transcribed', async () => {
    rig = await new RestartRig().start(2);
    rig.env.RULES_FILE = rig.writeRules([
      { id: 'card', when: { type: 'sensitive', categories: ['payment_card'] }, action: { type: 'pause', resumeAfterSeconds: 12 }, cooldownSeconds: 0 },
    ]);
    const first = await rig.spawnService();
    const card = scenarios.get('reads-card-number')!;
    const sc: Scenario = {
      ...card,
      lines: [
        ...card.lines,
        // 15 s of audio later (7.5 s at this speed): well after the due time.
        { speaker: 'agent', text: 'Is there anything else I can help you with today?', gapMs: 15_000 },
        { speaker: 'caller', text: 'No thanks, that is everything for today.', gapMs: 400 },
      ],
    };
    const call = rig.emulator.placeCall(sc);
    const store = await rig.store();
    const paused = await eventually(async () => {
      const r = await store.getCall(call.sid);
      return r?.status === 'paused' && r.pausedUntil !== undefined ? r : undefined;
    }, 20_000, 'the pause stored with its due time');
    expect(paused.resume).toMatchObject({ recordingPaused: true, streams: [{ name: 'takeover', track: 'both_tracks' }], transcription: { sid: expect.stringMatching(/^GT/) } });
    expect(call.recording?.status).toBe('paused');

    first.child.kill('SIGKILL');
    await first.exited;
    const restRequestsBefore = rig.emulator.restLog().length;
    await rig.spawnService();

    await eventually(() => call.recording?.status === 'in-progress', 20_000, 'the recording resumed');
    const after = rig.emulator.restLog().slice(restRequestsBefore);
    expect(after.map((e) => `${e.resource} ${e.form.Status ?? ''}`.trim())).toEqual(['Streams', 'Transcriptions', 'Recordings/{Sid} in-progress']);
    // At the due time, not before it (and not much after).
    expect(after[0]!.at).toBeGreaterThanOrEqual(paused.pausedUntil!);
    expect(after[0]!.at - paused.pausedUntil!).toBeLessThan(2000);
    expect(after[0]!.form).toMatchObject({ Url: 'wss://takeover.restart.invalid/media-stream', Name: 'takeover', Track: 'both_tracks', 'Parameter1.Name': 'from' });
    await eventually(() => call.events.filter((e) => e.kind === 'stream-open').length === 2, 10_000, 'the re-created stream connected');

    await call.done;
    await eventually(async () => (await store.getCall(call.sid))?.status === 'ended', 10_000, 'the call ended on record');
    const lines = (await store.transcript(call.sid)).map((l) => l.text);
    // The lines after the resume are there; the card's expiry and code, said during the pause, nowhere.
    expect(lines).toContain('No thanks, that is everything for today.');
    expect(lines.join(' ')).not.toMatch(/twelve twenty eight|three four five|expiry/i);
    const audit = await store.audit(call.sid);
    expect(audit.filter((e) => e.kind === 'call' && e.data.event === 'started')).toHaveLength(1);
    expect(audit.some((e) => e.kind === 'gate' && e.data.open === true)).toBe(true);
  }, 90_000);
});

describe('a restart after SIGKILL', () => {
  it("ends the dead process's calls on record, leaves another instance's alone, and audits no second \"call started\"", async () => {
    rig = await new RestartRig().start(1);
    const first = await rig.spawnService();
    const calm: Scenario = {
      ...scenarios.get('calm-caller')!,
      lines: [
        { speaker: 'agent', text: 'Thanks for calling Acme Home. How can I help you today?', gapMs: 200 },
        { speaker: 'caller', text: 'I would like to check my delivery date please.', gapMs: 300 },
        // Long enough for the restart: the call's next words reach the new process.
        { speaker: 'agent', text: 'Your delivery is planned for Thursday morning.', gapMs: 20_000 },
        { speaker: 'caller', text: 'Great, thank you very much, goodbye.', gapMs: 300 },
      ],
    };
    const call = rig.emulator.placeCall(calm);
    const store = await rig.store();
    await eventually(async () => (await store.transcript(call.sid)).length >= 2, 20_000, 'two lines stored');
    expect(await store.getCall(call.sid)).toMatchObject({ status: 'monitoring', instanceId: 'restart-test:1' });
    // Another instance's live call, in the same store.
    const other = { callSid: 'CA' + 'b'.repeat(32), customParameters: {}, startedAt: Date.now(), status: 'monitoring' as const, instanceId: 'other-host:3000' };
    await store.saveCall(other);

    first.child.kill('SIGKILL');
    await first.exited;
    await rig.spawnService();

    const ended = await eventually(async () => {
      const audit = await store.audit(call.sid);
      return audit.find((e) => e.kind === 'call' && e.data.event === 'ended');
    }, 10_000, 'the dead call ended on record');
    expect(String(ended.data.why)).toMatch(/instance stopped/);
    expect(await store.getCall(other.callSid)).toMatchObject({ status: 'monitoring', instanceId: 'other-host:3000' });
    expect((await store.getCall(other.callSid))?.endedAt).toBeUndefined();

    // The call goes on: its transcription callbacks reach the new process, which takes it up again without a second start.
    await call.done;
    await eventually(async () => (await store.getCall(call.sid))?.status === 'ended', 10_000, 'the call ended after transcription-stopped');
    const audit = await store.audit(call.sid);
    expect(audit.filter((e) => e.kind === 'call' && e.data.event === 'started')).toHaveLength(1);
    expect(audit.some((e) => e.kind === 'call' && e.data.event === 'taken up again')).toBe(true);
    expect((await store.transcript(call.sid)).map((l) => l.text)).toContain('Great, thank you very much, goodbye.');
    const record = (await store.getCall(call.sid))!;
    expect(record.startedAt).toBeLessThan(ended.at);
  }, 90_000);
});
