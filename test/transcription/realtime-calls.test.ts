// Emulated Twilio calls transcribed by OpenAI Realtime (the local double): the caller's audio reaches the
// provider byte for byte, a dropped provider socket degrades the call and recovers, and a privacy pause stops
// every frame and every word of the paused stretch from going anywhere until the call is resumed.
import { Writable } from 'node:stream';
import pino from 'pino';
import twilio from 'twilio';
import { afterEach, describe, expect, it } from 'vitest';
import type { LiveEvent } from '../../src/bus/types.js';
import { createClassifier } from '../../src/classification/index.js';
import { redact } from '../../src/classification/redact.js';
import { RuleBook } from '../../src/rules/rule-book.js';
import { parseRuleSet, type RuleInput } from '../../src/rules/schema.js';
import type { EmulatedCall } from '../../src/simulator/call.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { loadScenarios, type Scenario } from '../../src/simulator/scenario.js';
import type { MemoryStore } from '../../src/store/memory.js';
import {
  createOpenAIRealtimeTranscription,
  type OpenAIRealtimeOptions,
  type OpenAIRealtimeTranscription,
} from '../../src/transcription/openai-realtime.js';
import type { TranscriberFactory } from '../../src/transcription/transcriber.js';
import type { Classifier, ClassifyInput } from '../../src/types.js';
import { OpenAIRealtimeDouble, type HeardTurn } from '../doubles/openai-realtime.js';

const scenarios = new Map((await loadScenarios()).map((s) => [s.name, s]));
const scenario = (name: string): Scenario => scenarios.get(name)!;
const defaultRules = (await RuleBook.fromFile('rules/default.json', { HANDOFF_QUEUE: 'support' })).rules;

interface Fed {
  callSid: string;
  track: string;
  payloads: string[];
  /** pushAudio calls made while the call's gate was closed, or after the transcriber was closed. */
  leaked: number;
  closed: boolean;
}

/** Everything a test reads back from one run. */
interface Run {
  stack: LocalStack;
  double: OpenAIRealtimeDouble;
  transcription: OpenAIRealtimeTranscription;
  fed: Fed[];
  events: LiveEvent[];
  logs: string[];
  classified: (ClassifyInput & { gateOpen: boolean })[];
  call?: EmulatedCall;
}

let run: Run | undefined;
afterEach(async () => {
  await run?.stack.close();
  await run?.double.close();
  run = undefined;
});

/**
 * The service on the emulator with OpenAI Realtime transcription pointed at the double. The double answers
 * each turn with the scenario line that speaker finished last (it tells caller from agent by the tone's pitch).
 */
async function start(options: { rules?: RuleInput[]; speed?: number; transcription?: Partial<OpenAIRealtimeOptions> } = {}): Promise<Run> {
  const logs: string[] = [];
  const logDestination = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const r = { logs, fed: [] as Fed[], events: [] as LiveEvent[], classified: [] as Run['classified'] } as Run;
  r.double = await OpenAIRealtimeDouble.start({ apiKey: 'sk-test', deltaIntervalMs: 10, script: (turn) => lineJustSpoken(r.call, turn) });
  r.transcription = createOpenAIRealtimeTranscription({
    apiKey: 'sk-test',
    url: r.double.url,
    vad: { silenceDurationMs: 300 },
    reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    batchMs: 0,
    logger: pino({ level: 'debug' }, logDestination),
    ...options.transcription,
  });
  const local = createClassifier({ kind: 'local' });
  const classifier: Classifier = {
    name: 'local',
    classify: (input) => {
      r.classified.push({ ...input, gateOpen: r.stack.service.monitor.session(input.callSid!)?.gate.isOpen ?? true });
      return local.classify(input);
    },
  };
  r.stack = await startLocalStack({
    speed: options.speed ?? 8,
    env: { LOG_LEVEL: 'debug', CLASSIFIER: 'local' },
    parts: {
      transcribers: watching(r.transcription, r),
      classifier,
      logDestination,
      rules: new RuleBook(options.rules ? parseRuleSet(options.rules) : [...defaultRules]),
    },
  });
  r.stack.service.bus.subscribe((e) => r.events.push(e));
  run = r;
  return r;
}

/** Records what the monitor feeds each transcriber, and whether it fed one it should not have. */
function watching(inner: TranscriberFactory, r: Run): TranscriberFactory {
  return {
    provider: inner.provider,
    create(context) {
      const t = inner.create(context);
      if (!t) return undefined;
      const fed: Fed = { callSid: context.callSid, track: context.track, payloads: [], leaked: 0, closed: false };
      r.fed.push(fed);
      return {
        pushAudio(payload, timestampMs) {
          if (fed.closed || !r.stack.service.monitor.session(context.callSid)?.gate.isOpen) fed.leaked++;
          fed.payloads.push(payload);
          t.pushAudio(payload, timestampMs);
        },
        close() {
          fed.closed = true;
          return t.close();
        },
      };
    },
  };
}

function lineJustSpoken(call: EmulatedCall | undefined, turn: HeardTurn): string {
  if (!call) return '';
  const speaker = turn.pitchHz < 275 ? 'caller' : 'agent';
  const done = call.lines.filter((l) => l.speaker === speaker && l.endMs <= call.audioNow);
  return done.at(-1)?.text ?? '';
}

/** The scenario's TwiML with the Media Stream only: transcription is ours, not Twilio's. */
function streamOnly(r: Run, s: Scenario): string {
  const vr = new twilio.twiml.VoiceResponse();
  const stream = vr.start().stream({ url: r.stack.config.mediaStreamUrl, name: r.stack.config.streamName, track: 'both_tracks' });
  for (const [name, value] of Object.entries({ from: s.from, to: s.to, ...s.parameters })) stream.parameter({ name, value });
  vr.connect().stream({ url: 'wss://agent.example.com/ai-agent' });
  return vr.toString();
}

function place(r: Run, s: Scenario): EmulatedCall {
  r.call = r.stack.emulator.placeCall(s, streamOnly(r, s));
  return r.call;
}

async function finish(r: Run, call: EmulatedCall): Promise<void> {
  await call.done;
  await r.stack.service.monitor.settle();
}

/** The scenario with the agent saying goodbye last: the call ends before that line's transcript is back, and the monitor no longer listens. */
const withGoodbye = (s: Scenario): Scenario => ({ ...s, lines: [...s.lines, { speaker: 'agent', text: 'Goodbye.', gapMs: 400 }] });
const calm = scenario('calm-caller');

/**
 * Every line of the calm call was stored, each side's in order: a transcription session puts its own turns in order.
 * Across the two sides the store keeps arrival order, and a long line's transcript can come after the other side's
 * short answer to it on a busy machine: that interleaving is the providers' timing, not what these tests check.
 */
async function expectEverySideInOrder(r: Run, callSid: string): Promise<void> {
  for (const [track, speaker] of [['inbound', 'caller'], ['outbound', 'agent']] as const) {
    const said = calm.lines.filter((l) => l.speaker === speaker).map((l) => redact(l.text));
    // The last line's transcript may still be on its way when the call has ended (the monitor listens a little longer).
    await expect
      .poll(async () => (await r.stack.service.store.transcript(callSid)).filter((l) => l.track === track).map((l) => l.text).slice(0, said.length), {
        message: track,
        timeout: 5000,
      })
      .toEqual(said);
  }
}

const bytesOf = (payloads: string[]) => Buffer.concat(payloads.map((p) => Buffer.from(p, 'base64')));
const store = (r: Run) => r.stack.service.store as MemoryStore;
const stored = async (r: Run, callSid: string) => (await r.stack.service.store.transcript(callSid)).map((l) => l.text);

describe('OpenAI Realtime transcription on emulated calls', () => {
  for (const batchMs of [0, 100]) {
    it(`gets the call's audio to the provider byte for byte, and every line back (batchMs ${batchMs})`, async () => {
      const r = await start({ transcription: { batchMs } });
      const call = place(r, withGoodbye(calm));
      await finish(r, call);

      expect(r.fed.map((f) => f.track).sort()).toEqual(['inbound', 'outbound']);
      // The provider reads in its own time (on a busy machine, after the call has ended here): wait until what each
      // track was fed has reached it, a last batch not yet full aside.
      const arrived = (sent: Buffer) => r.double.connections.some((c) => sent.length - c.bytes < Math.max(1, batchMs * 8) && sent.subarray(0, c.bytes).equals(c.audio));
      await r.double.until(() => r.fed.every((fed) => arrived(bytesOf(fed.payloads))), 10_000, 'the audio at the provider');
      for (const fed of r.fed) {
        const sent = bytesOf(fed.payloads);
        const got = r.double.connections.find((c) => c.bytes > 0 && sent.subarray(0, c.bytes).equals(c.audio));
        expect(got, `a session with the ${fed.track} track's audio`).toBeDefined();
        if (batchMs === 0) {
          expect(got!.appends).toEqual(fed.payloads);
        } else {
          // A batch not yet full when the call ended is not sent: less than batchMs of trailing silence.
          expect(sent.length - got!.bytes).toBeLessThan(batchMs * 8);
          expect(got!.appendCount).toBe(Math.floor(got!.bytes / (batchMs * 8)));
        }
      }
      expect(r.double.connections).toHaveLength(2);
      await expectEverySideInOrder(r, call.sid);
      expect(r.transcription.totals).toMatchObject({ framesDropped: 0, reconnects: 0, errors: 0 });
    });
  }

  it('survives the provider dropping both sockets mid-call: reconnects, replays, marks the call degraded then ok, and rules see it', async () => {
    const r = await start({
      rules: [...defaultRules, { id: 'transcription-down', when: { type: 'degraded' }, action: { type: 'alert' } }],
    });
    r.double.dropAfterAppends(150, 2);
    const call = place(r, withGoodbye(calm));
    await finish(r, call);

    expect(r.double.connections.filter((c) => c.appendCount === 150)).toHaveLength(2);
    expect(r.transcription.totals).toMatchObject({ reconnects: 2, framesDropped: 0 });
    expect(r.transcription.totals.framesReplayed).toBeGreaterThan(0);
    // Audio the dead sessions had not transcribed went to the new ones: no line was lost, and each side's lines are in
    // order. (Across the two sides the store keeps arrival order: a long line's transcript can come after the short
    // answer to it from the other side's session, so that order is not what this checks.)
    await expectEverySideInOrder(r, call.sid);

    const degraded = r.events.filter((e): e is Extract<LiveEvent, { type: 'call' }> => e.type === 'call' && e.callSid === call.sid).map((e) => e.degraded);
    expect(degraded.find((d) => d !== undefined)).toMatch(/^OpenAI transcription: socket closed/);
    const health = store(r).entries.filter((e) => e.callSid === call.sid && e.kind === 'transcriber').map((e) => e.data.state);
    expect(health[0]).toBe('degraded');
    expect(health.at(-1)).toBe('ok');
    expect(r.stack.service.monitor.session(call.sid)?.degraded).toBeUndefined();
    expect(store(r).entries.some((e) => e.kind === 'decision' && e.data.ruleId === 'transcription-down')).toBe(true);
    await r.double.until(() => r.stack.service.monitor.session(call.sid)?.state === 'ended', 2000, 'the call to end');
  });

  it('pauses on a card number: not one more frame to the provider, no word of the paused stretch anywhere, and transcription comes back on resume', async () => {
    const r = await start({ speed: 6 });
    const base = scenario('reads-card-number');
    const sc: Scenario = withGoodbye({
      ...base,
      lines: [
        ...base.lines,
        { speaker: 'agent', text: 'Is there anything else I can help you with today?', gapMs: 1500 },
        { speaker: 'caller', text: 'No thanks, that is everything for today.', gapMs: 400 },
      ],
    });
    const call = place(r, sc);
    const monitor = r.stack.service.monitor;
    await r.double.until(() => monitor.session(call.sid)?.state === 'paused', 10_000, 'the pause');
    const feedsBefore = r.fed.length;
    const sessionsBefore = r.double.connections.length;
    // Resume by hand once the caller has said goodbye: lines 4 to 6 fall in the paused stretch.
    const goodbye = call.lines[6]!;
    await r.double.until(() => call.audioNow > goodbye.endMs + 300, 10_000, 'the goodbye');
    expect(monitor.session(call.sid)?.state).toBe('paused');
    await monitor.resume(call.sid, 'supervisor:test');
    await finish(r, call);

    // Audio: every frame the transcribers were given before the pause reached the double, and none after.
    const before = r.fed.slice(0, feedsBefore);
    expect(before.every((f) => f.closed)).toBe(true);
    expect(r.fed.every((f) => f.leaked === 0)).toBe(true);
    const pausedSessions = r.double.connections.slice(0, sessionsBefore);
    expect(pausedSessions.every((c) => c.closed)).toBe(true);
    for (const fed of before) {
      expect(pausedSessions.some((c) => c.appends.length === fed.payloads.length && c.appends.every((a, i) => a === fed.payloads[i]))).toBe(true);
    }
    expect(pausedSessions.reduce((n, c) => n + c.appendCount, 0)).toBe(before.reduce((n, f) => n + f.payloads.length, 0));
    expect(monitor.session(call.sid)!.counters.framesHeld).toBeGreaterThan(0);

    // Text: nothing said in the paused stretch (lines 4 to 6), nor the card number, went anywhere.
    const paused = /twelve twenty eight|three four five|expiry|security code|payment is being processed|thanks, goodbye/i;
    // Not inside a longer number: a log line's timestamp may well contain 4111.
    const card = /four one one one|(?<![\d.])4111(?:[ -]?1111|(?!\d))/;
    const busText = r.events.map((e) => JSON.stringify(e)).join('\n');
    const storeText = JSON.stringify([store(r).lines, store(r).entries]);
    const logText = r.logs.join('');
    expect(logText.length).toBeGreaterThan(0);
    for (const [where, text] of [['bus', busText], ['store', storeText], ['logs', logText]] as const) {
      expect(text, where).not.toMatch(paused);
      expect(text, where).not.toMatch(card);
    }
    expect(r.classified.every((c) => c.gateOpen)).toBe(true);
    expect(r.classified.map((c) => c.text).join('\n')).not.toMatch(paused);

    // Resumed: new sessions got audio and the last lines were transcribed; closing and reopening were audited.
    expect(r.fed.length).toBeGreaterThan(feedsBefore);
    expect(r.double.connections.slice(sessionsBefore).some((c) => c.appendCount > 0)).toBe(true);
    expect(await stored(r, call.sid)).toContain('No thanks, that is everything for today.');
    const gate = store(r).entries.filter((e) => e.callSid === call.sid && e.kind === 'gate').map((e) => [e.data.open, e.actor]);
    expect(gate).toEqual([
      [false, 'rule:sensitive-data'],
      [true, 'supervisor:test'],
    ]);
  });

  it('gives transcribers to a stream that started while the gate was still closed, when the call resumes', async () => {
    const r = await start();
    const call = place(r, withGoodbye(calm));
    const monitor = r.stack.service.monitor;
    await r.double.until(() => r.fed.length === 2, 5000, 'the first transcribers');
    await monitor.manual(call.sid, { type: 'pause', resumeAfterSeconds: 0 }, 'supervisor:test');
    const session = monitor.session(call.sid)!;
    expect(session.transcribers.size).toBe(0);
    // Twilio's `start` on the re-created stream can beat the REST answer that lets the gate reopen.
    const { path, customParameters } = [...session.streams.values()][0]!;
    monitor.streamStarted({ callSid: call.sid, streamSid: 'MZ' + 'e'.repeat(32), tracks: ['inbound', 'outbound'], customParameters, path });
    expect(session.transcribers.size).toBe(0);
    await monitor.resume(call.sid, 'supervisor:test');
    expect(session.gate.isOpen).toBe(true);
    expect([...session.transcribers.keys()].sort()).toEqual(['inbound', 'outbound']);
  });
});
