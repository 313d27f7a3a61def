// Twilio's real-time transcription callbacks: around a privacy pause, text from the transcription that ran
// before the pause must not pass the gate once the call is resumed with a new transcription; and callbacks
// that arrive out of order become Utterances in SequenceId order.
import { afterEach, expect, it, vi } from 'vitest';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import type { Utterance } from '../../src/types.js';
import { eventually, postCallback, sid } from '../support/twilio-client.js';

const calm = (await loadScenarios()).find((s) => s.name === 'calm-caller')!;

let stack: LocalStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

it('drops a callback from the pre-pause transcription that arrives after the call was resumed', async () => {
  stack = await startLocalStack({ speed: 8, env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' } });
  const s = stack;
  const seen: string[] = [];
  s.service.bus.subscribe((e) => e.type === 'utterance' && seen.push(e.text));
  const call = s.emulator.placeCall({ ...calm, lines: [...calm.lines, { speaker: 'caller', text: 'One more thing about my order.', gapMs: 2500 }] });
  const monitor = s.service.monitor;
  const first = await eventually(() => (seen.length > 0 ? monitor.session(call.sid)?.transcription?.sid : undefined), 5000, 'the first transcript');

  await monitor.manual(call.sid, { type: 'pause', resumeAfterSeconds: 0 }, 'supervisor:test');
  await monitor.resume(call.sid, 'supervisor:test');
  const second = await eventually(() => {
    const now = monitor.session(call.sid)?.transcription?.sid;
    return now !== first ? now : undefined;
  });
  expect(second).not.toBe(first);

  const dropped = monitor.session(call.sid)!.counters.utterancesDropped;
  const late = await postCallback(s, '/twilio/transcription', {
    AccountSid: s.config.twilio.accountSid,
    CallSid: call.sid,
    TranscriptionSid: first,
    TranscriptionEvent: 'transcription-content',
    TranscriptionData: JSON.stringify({ transcript: 'words from before the pause, posted late', confidence: 0.9 }),
    Final: 'true',
    Track: 'inbound_track',
  });
  expect(late.status).toBe(204);
  await call.done;
  await monitor.settle();

  expect(monitor.session(call.sid)!.counters.utterancesDropped).toBe(dropped + 1);
  expect(seen.join('\n')).not.toContain('posted late');
  const stored = (await s.service.store.transcript(call.sid)).map((l) => l.text);
  expect(stored).not.toContain('words from before the pause, posted late');
  // The new transcription's text still passes.
  expect(stored).toContain('One more thing about my order.');
});

it('turns callbacks posted out of order back into Utterances in SequenceId order', async () => {
  stack = await startLocalStack({ env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' } });
  const s = stack;
  const monitor = s.service.monitor;
  const utterances: Utterance[] = [];
  const original = monitor.utterance.bind(monitor);
  vi.spyOn(monitor, 'utterance').mockImplementation((u) => (utterances.push(u), original(u)));
  const callSid = sid('CA');
  const transcriptionSid = sid('GT');
  const content = (n: number, transcript: string) => ({
    AccountSid: s.config.twilio.accountSid,
    CallSid: callSid,
    TranscriptionSid: transcriptionSid,
    TranscriptionEvent: 'transcription-content',
    TranscriptionData: JSON.stringify({ transcript, confidence: 0.9 }),
    Final: 'true',
    Track: 'inbound_track',
    SequenceId: String(n),
  });

  expect((await postCallback(s, '/twilio/transcription', content(2, 'and it arrived broken'))).status).toBe(204);
  expect(utterances).toEqual([]); // held until 1 comes (or its wait runs out)
  expect((await postCallback(s, '/twilio/transcription', content(1, 'I ordered a lamp last week'))).status).toBe(204);
  // A repeat of a delivered callback is dropped.
  expect((await postCallback(s, '/twilio/transcription', content(1, 'I ordered a lamp last week'))).status).toBe(204);
  await monitor.settle();

  expect(utterances.map((u) => [u.sequence, u.text])).toEqual([
    [1, 'I ordered a lamp last week'],
    [2, 'and it arrived broken'],
  ]);
  expect(utterances.every((u) => u.callSid === callSid && u.track === 'inbound' && u.final && u.provider === 'twilio')).toBe(true);
  expect(monitor.session(callSid)!.turns.map((t) => t.text)).toEqual(['I ordered a lamp last week', 'and it arrived broken']);
  // The stored transcript, which a supervisor reads, is in the same order.
  expect((await s.service.store.transcript(callSid)).map((l) => l.text)).toEqual(['I ordered a lamp last week', 'and it arrived broken']);
});
