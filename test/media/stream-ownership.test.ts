// A stream belongs to its call. The upgrade signature covers only the URL, so a captured one lets anyone open
// /media-stream: a `start` naming another account, a second stream for a live call, or a streamSid already
// seen is closed with 1008, counted, audited and logged (without numbers), and changes nothing of the call.
import { Writable } from 'node:stream';
import twilio from 'twilio';
import type WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClassifier } from '../../src/classification/index.js';
import { RuleBook } from '../../src/rules/rule-book.js';
import type { EmulatedCall } from '../../src/simulator/call.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { SILENT_FRAME, toneFrame } from '../../src/simulator/mulaw.js';
import { loadScenarios, type Scenario } from '../../src/simulator/scenario.js';
import { createOpenAIRealtimeTranscription } from '../../src/transcription/openai-realtime.js';
import { OpenAIRealtimeDouble, type HeardTurn } from '../doubles/openai-realtime.js';
import { eventually, mediaFrame, openStream, send, sid, startFrames } from '../support/twilio-client.js';

const calm = (await loadScenarios()).find((s) => s.name === 'calm-caller')!;
const defaultRules = (await RuleBook.fromFile('rules/default.json', { HANDOFF_QUEUE: 'support' })).rules;

/** The intruder's voice: a tone no emulated speaker uses, always the same 20 ms frame, so a turn holding it is recognisable. */
const INTRUDER_FRAME = toneFrame(0, 110);
const INTRUDER_BYTES = Buffer.from(INTRUDER_FRAME, 'base64');
const INTRUDER_WORDS = 'I want to speak to a real person right now';
const INTRUDER_NUMBER = '+15550107777';
/** The victim's last line, well after the intruder has come and gone. */
const LAST_LINE = 'One more thing, can I change the delivery address?';

let stack: LocalStack;
let double: OpenAIRealtimeDouble;
let victim: EmulatedCall | undefined;
const logs: string[] = [];

beforeAll(async () => {
  // OpenAI Realtime (the local double) transcribes the stream's audio: whatever audio reaches the call's
  // transcriber becomes the caller's words. The double answers a turn holding the intruder's voice with the
  // intruder's words, any other with the line the emulated speaker finished last.
  double = await OpenAIRealtimeDouble.start({ apiKey: 'sk-test', deltaIntervalMs: 5, script: (turn) => heard(turn) });
  const logDestination = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  stack = await startLocalStack({
    speed: 8,
    env: { LOG_LEVEL: 'info', CLASSIFIER: 'local' },
    parts: {
      transcribers: createOpenAIRealtimeTranscription({ apiKey: 'sk-test', url: double.url, vad: { silenceDurationMs: 300 }, batchMs: 0 }),
      classifier: createClassifier({ kind: 'local' }),
      rules: new RuleBook([...defaultRules]),
      logDestination,
    },
  });
}, 20_000);
afterAll(async () => {
  await stack?.close();
  await double?.close();
});

function heard(turn: HeardTurn): string {
  if (turn.audio.includes(INTRUDER_BYTES)) return INTRUDER_WORDS;
  if (!victim) return '';
  const speaker = turn.pitchHz < 275 ? 'caller' : 'agent';
  return victim.lines.filter((l) => l.speaker === speaker && l.endMs <= victim!.audioNow).at(-1)?.text ?? '';
}

/** The calm call, with a last caller line well after the intruder has come and gone; stream only (transcription is ours). */
function placeVictim(): EmulatedCall {
  const s: Scenario = { ...calm, lines: [...calm.lines, { speaker: 'caller', text: LAST_LINE, gapMs: 6000 }] };
  const vr = new twilio.twiml.VoiceResponse();
  const stream = vr.start().stream({ url: stack.config.mediaStreamUrl, name: stack.config.streamName, track: 'both_tracks' });
  for (const [name, value] of Object.entries({ from: s.from, to: s.to, ...s.parameters })) stream.parameter({ name, value });
  vr.connect().stream({ url: 'wss://agent.example.com/ai-agent' });
  victim = stack.emulator.placeCall(s, vr.toString());
  return victim;
}

/** Resolves with the close code the service sent, or undefined if the socket was still open after `ms`. */
function closedBy(ws: WebSocket, ms = 3000): Promise<{ code: number; reason: string } | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

/** Two seconds of the intruder talking, then the silence that ends a turn. */
const intruderSpeech = (streamSid: string) => {
  const frames = [];
  for (let n = 1; n <= 100; n++) frames.push({ ...mediaFrame(streamSid, n), media: { ...mediaFrame(streamSid, n).media, payload: INTRUDER_FRAME } });
  for (let n = 101; n <= 140; n++) frames.push({ ...mediaFrame(streamSid, n), media: { ...mediaFrame(streamSid, n).media, payload: SILENT_FRAME } });
  return frames;
};

/** The stored transcript once it holds the victim's last line (its transcript may come back after the call ended). */
const lastLineStored = (call: EmulatedCall) =>
  eventually(async () => {
    const stored = (await stack.service.store.transcript(call.sid)).map((l) => l.text);
    return stored.includes(LAST_LINE) ? stored : undefined;
  }, 5000, "the caller's last line");

const refusedCount = async (reason: string): Promise<number> => {
  const text = await (await fetch(`${stack.serviceUrl}/metrics`)).text();
  return Number(new RegExp(`takeover_streams_refused_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
};

const refusals = async (callSid: string) =>
  (await stack.service.store.audit(callSid)).filter((e) => e.kind === 'call' && e.data.event === 'stream refused');

const liveSession = (callSid: string) =>
  eventually(() => {
    const s = stack.service.monitor.session(callSid);
    return s && s.openStreams.length === 1 ? s : undefined;
  }, 5000, 'the call to be monitored');

describe('a stream belongs to its call', () => {
  it('refuses a second stream for a live call with 1008: the calm call is not handed off, keeps its parameters, and outlives the intruder', async () => {
    const call = placeVictim();
    const session = await liveSession(call.sid);
    const parameters = { ...session.customParameters };
    expect(parameters).toEqual({ from: calm.from, to: calm.to, ...calm.parameters });
    const before = await refusedCount('second stream');

    // Someone with a captured upgrade signature and the live call's SID, in our account.
    const intruder = await openStream(stack);
    const closed = closedBy(intruder);
    const streamSid = sid('MZ');
    send(intruder, startFrames(stack, call.sid, streamSid, { from: INTRUDER_NUMBER, tier: 'vip' }));
    send(intruder, intruderSpeech(streamSid));
    expect(await closed).toEqual({ code: 1008, reason: 'second stream' });
    // Its stop and disconnect reach nothing.
    send(intruder, [{ event: 'stop', sequenceNumber: '141', streamSid, stop: { accountSid: stack.config.twilio.accountSid, callSid: call.sid } }]);
    intruder.terminate();

    expect(session.state).toBe('monitoring');
    expect(session.customParameters).toEqual(parameters);
    expect([...session.streams.keys()]).not.toContain(streamSid);
    await call.done;
    await stack.service.monitor.settle();

    // The caller's own last line, well after the intruder left, was still heard: monitoring went on.
    const stored = await lastLineStored(call);
    expect(stored.join('\n')).not.toContain(INTRUDER_WORDS);
    expect(double.connections.some((c) => c.audio.includes(INTRUDER_BYTES))).toBe(false);
    // No handoff, no request to Twilio at all.
    expect(call.events.filter((e) => e.kind === 'rest')).toEqual([]);
    await eventually(() => session.state === 'ended', 2000, 'the call to end with its own stream');

    expect(await refusedCount('second stream')).toBe(before + 1);
    expect(await refusals(call.sid)).toMatchObject([{ actor: 'twilio', data: { reason: 'second stream', streamSid } }]);
    const line = logs.find((l) => l.includes('refused a Media Stream') && l.includes(streamSid));
    expect(line).toBeDefined();
    expect(logs.join('\n')).not.toContain(INTRUDER_NUMBER);
    expect(logs.join('\n')).not.toContain(calm.from);
  }, 20_000);

  it('refuses a start that names another account, and opens no call for it', async () => {
    const callSid = sid('CA');
    const streamSid = sid('MZ');
    const before = await refusedCount('foreign account');
    const ws = await openStream(stack);
    const closed = closedBy(ws);
    send(ws, startFrames(stack, callSid, streamSid, { from: INTRUDER_NUMBER }, sid('AC')));
    send(ws, [mediaFrame(streamSid, 1)]);
    expect(await closed).toEqual({ code: 1008, reason: 'foreign account' });
    expect(stack.service.monitor.session(callSid)).toBeUndefined();
    expect(await refusedCount('foreign account')).toBe(before + 1);
    await stack.service.monitor.settle();
    expect(await refusals(callSid)).toMatchObject([{ data: { reason: 'foreign account', streamSid } }]);
  });

  it('refuses a start without an account, as Twilio always sends one', async () => {
    const callSid = sid('CA');
    const ws = await openStream(stack);
    const closed = closedBy(ws);
    const [connected, start] = startFrames(stack, callSid, sid('MZ'));
    delete (start as { start: { accountSid?: string } }).start.accountSid;
    send(ws, [connected, start]);
    expect(await closed).toMatchObject({ code: 1008 });
    expect(stack.service.monitor.session(callSid)).toBeUndefined();
  });

  it("refuses a streamSid already seen: reusing the live stream's SID neither joins the call nor ends it", async () => {
    const callSid = sid('CA');
    const streamSid = sid('MZ');
    const owner = await openStream(stack);
    send(owner, startFrames(stack, callSid, streamSid, { from: '+15550100001' }));
    const session = await liveSession(callSid);
    const before = await refusedCount('stream reused');

    // The same call and stream SIDs, then a stop and a disconnect: once, this ended the owner's monitoring.
    const intruder = await openStream(stack);
    const closed = closedBy(intruder);
    send(intruder, startFrames(stack, callSid, streamSid, { from: INTRUDER_NUMBER }));
    expect(await closed).toEqual({ code: 1008, reason: 'stream reused' });
    send(intruder, [{ event: 'stop', sequenceNumber: '2', streamSid, stop: { accountSid: stack.config.twilio.accountSid, callSid } }]);
    intruder.terminate();

    // The same stream SID for another call: refused too, and that call is not opened.
    const other = sid('CA');
    const elsewhere = await openStream(stack);
    const closedElsewhere = closedBy(elsewhere);
    send(elsewhere, startFrames(stack, other, streamSid));
    expect(await closedElsewhere).toEqual({ code: 1008, reason: 'stream reused' });
    elsewhere.terminate();
    expect(stack.service.monitor.session(other)).toBeUndefined();

    // The owner's stream is untouched: frames still count, parameters unchanged, and its own stop ends the call.
    send(owner, [mediaFrame(streamSid, 1)]);
    await eventually(() => session.counters.frames === 1, 2000, 'the owner frame');
    expect(session.state).toBe('monitoring');
    expect(session.openStreams.map((s) => s.streamSid)).toEqual([streamSid]);
    expect(session.customParameters).toEqual({ from: '+15550100001' });
    expect(await refusedCount('stream reused')).toBe(before + 2);
    send(owner, [{ event: 'stop', sequenceNumber: '3', streamSid, stop: { accountSid: stack.config.twilio.accountSid, callSid } }]);
    await eventually(() => session.state === 'ended', 2000, 'the call to end on its own stop');
    owner.close();
  });

  it('accepts the stream takeover itself re-creates when a paused call resumes, and no other one meanwhile', async () => {
    const call = placeVictim();
    const session = await liveSession(call.sid);
    const first = session.openStreams[0]!;
    const before = await refusedCount('second stream');
    await stack.service.monitor.manual(call.sid, { type: 'pause', resumeAfterSeconds: 0 }, 'supervisor:test');
    await eventually(() => session.openStreams.length === 0, 2000, 'the paused stream to stop');
    // While the call has no stream, one that is not takeover's re-created stream (other parameters) is refused.
    const before2 = await refusedCount('not a re-created stream');
    const intruder = await openStream(stack);
    const closed = closedBy(intruder);
    send(intruder, startFrames(stack, call.sid, sid('MZ'), { ...first.customParameters, from: INTRUDER_NUMBER }));
    expect(await closed).toEqual({ code: 1008, reason: 'not a re-created stream' });
    expect(await refusedCount('not a re-created stream')).toBe(before2 + 1);
    expect(session.streams.size).toBe(1);
    expect((await stack.service.monitor.resume(call.sid, 'supervisor:test')).result).toBe('done');
    const second = await eventually(() => session.openStreams.find((s) => s.streamSid !== first.streamSid), 5000, 'the re-created stream');
    expect(second.customParameters).toEqual({ from: calm.from, to: calm.to, ...calm.parameters });
    expect(session.state).toBe('monitoring');
    expect(await refusedCount('second stream')).toBe(before);
    await call.done;
    await stack.service.monitor.settle();
    await lastLineStored(call);
  }, 20_000);
});
