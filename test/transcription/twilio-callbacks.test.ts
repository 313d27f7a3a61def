// Twilio's real-time transcription callbacks: around a privacy pause, text from the transcription that ran
// before the pause must not pass the gate once the call is resumed with a new transcription; callbacks
// that arrive out of order become Utterances in SequenceId order; a replayed one carries no effect twice.
import { afterEach, expect, it, vi } from 'vitest';
import { RuleBook } from '../../src/rules/rule-book.js';
import { parseRuleSet } from '../../src/rules/schema.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import type { Utterance } from '../../src/types.js';
import { eventually, openStream, postCallback, send, sid, startFrames } from '../support/twilio-client.js';

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
    // Later than any callback of that transcription so far: not a replay, so only its epoch keeps it out.
    SequenceId: '1000',
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
  // A repeat of a delivered callback is acknowledged and dropped.
  expect((await postCallback(s, '/twilio/transcription', content(1, 'I ordered a lamp last week'))).status).toBe(200);
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

it('stores and judges a replayed callback once, even after its transcription stopped; takes one that comes after its gap was skipped, late', async () => {
  // A call handed off the second time the caller asks for a person: a replayed request must not count twice.
  stack = await startLocalStack({
    env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' },
    parts: { rules: new RuleBook(parseRuleSet([{ id: 'asked-twice', when: { type: 'wants_human', times: 2 }, action: { type: 'handoff', to: { queue: 'support' } } }])) },
  });
  const s = stack;
  const monitor = s.service.monitor;
  const callSid = sid('CA');
  const transcriptionSid = sid('GT');
  // The call's stream stays up throughout, so the call is still monitored when its transcription stops.
  const ws = await openStream(s);
  send(ws, startFrames(s, callSid, sid('MZ')));
  const session = await eventually(() => monitor.session(callSid));
  const callback = (n: number, fields: Record<string, string>) => ({
    AccountSid: s.config.twilio.accountSid,
    CallSid: callSid,
    TranscriptionSid: transcriptionSid,
    SequenceId: String(n),
    Timestamp: new Date().toISOString(),
    ...fields,
  });
  const content = (n: number, transcript: string) =>
    callback(n, { TranscriptionEvent: 'transcription-content', TranscriptionData: JSON.stringify({ transcript, confidence: 0.9 }), Final: 'true', Track: 'inbound_track' });
  const post = (params: Record<string, string>) => postCallback(s, '/twilio/transcription', params);

  expect((await post(callback(1, { TranscriptionEvent: 'transcription-started', Track: 'both_tracks' }))).status).toBe(204);
  const asked = content(2, 'Can I talk to a real person please');
  expect((await post(asked)).status).toBe(204);
  await monitor.settle();
  // Signed by Twilio and posted again as it was: acknowledged, and nothing more.
  const replay = await post(asked);
  expect(replay.status).toBe(200);
  expect(await replay.json()).toEqual({ ignored: 'already delivered' });

  // Seq 4 comes first and is delivered once its wait for 3 runs out; 3, arriving after (it can be late by more than
  // the wait: handed over from another instance), is taken then, out of order. Its replay is not.
  expect((await post(content(4, 'It is about my invoice'))).status).toBe(204);
  await eventually(() => session.turns.length === 2, 2000, 'seq 4 to be delivered');
  expect((await post(content(3, 'Hello again'))).status).toBe(204);
  await monitor.settle();
  expect((await post(content(3, 'Hello again'))).status).toBe(200);

  // The transcription stops (the stream goes on); its callbacks replayed afterwards still count for nothing.
  expect((await post(callback(5, { TranscriptionEvent: 'transcription-stopped' }))).status).toBe(204);
  await monitor.settle();
  for (const again of [asked, callback(1, { TranscriptionEvent: 'transcription-started', Track: 'both_tracks' })]) {
    expect((await post(again)).status).toBe(200);
  }
  await monitor.settle();

  expect(session.state).toBe('monitoring');
  const said = ['Can I talk to a real person please', 'It is about my invoice', 'Hello again'];
  expect(session.turns.map((t) => t.text)).toEqual(said);
  expect((await s.service.store.transcript(callSid)).map((l) => l.text)).toEqual(said);
  const audit = await s.service.store.audit(callSid);
  expect(audit.filter((e) => e.kind === 'assessment')).toHaveLength(3);
  expect(audit.filter((e) => e.kind === 'decision')).toEqual([]);
  ws.close();
});

it('refuses a callback without a SequenceId: it could not be told from its replay', async () => {
  stack = await startLocalStack({ env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' } });
  const callSid = sid('CA');
  const res = await postCallback(stack, '/twilio/transcription', {
    AccountSid: stack.config.twilio.accountSid,
    CallSid: callSid,
    TranscriptionSid: sid('GT'),
    TranscriptionEvent: 'transcription-content',
    TranscriptionData: JSON.stringify({ transcript: 'hello', confidence: 0.9 }),
    Final: 'true',
    Track: 'inbound_track',
  });
  expect(res.status).toBe(400);
  expect((await res.json()).error).toContain('SequenceId');
  expect(stack.service.monitor.session(callSid)).toBeUndefined();
});
