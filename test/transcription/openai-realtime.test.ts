// The OpenAI Realtime transcriber against the local double: what goes out (the session, Twilio's bytes
// unchanged), what comes back (Utterances in turn order), and what happens when the provider misbehaves.
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { SILENT_FRAME, toneFrame } from '../../src/simulator/mulaw.js';
import {
  createOpenAIRealtimeTranscription,
  type OpenAIRealtimeOptions,
  type RealtimeTrackTranscriber,
} from '../../src/transcription/openai-realtime.js';
import type { TranscriberHealth } from '../../src/transcription/transcriber.js';
import type { Utterance } from '../../src/types.js';
import { OpenAIRealtimeDouble, type RealtimeDoubleOptions } from '../doubles/openai-realtime.js';
import { eventually } from '../support/twilio-client.js';

const callSid = 'CA' + '0'.repeat(32);
let double: OpenAIRealtimeDouble | undefined;
const open: RealtimeTrackTranscriber[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
  await double?.close();
  double = undefined;
});

async function setUp(doubleOptions: RealtimeDoubleOptions = {}, options: Partial<OpenAIRealtimeOptions> = {}) {
  double = await OpenAIRealtimeDouble.start({ apiKey: 'sk-test', ...doubleOptions });
  const factory = createOpenAIRealtimeTranscription({
    apiKey: 'sk-test',
    url: double.url,
    language: 'en',
    vad: { silenceDurationMs: 300 },
    reconnect: { initialDelayMs: 10, maxDelayMs: 40 },
    // One append per frame unless a test batches: what is sent can then be counted frame by frame.
    batchMs: 0,
    ...options,
  });
  const utterances: Utterance[] = [];
  const health: TranscriberHealth[] = [];
  const transcriber = factory.create({
    callSid,
    track: 'inbound',
    onUtterance: (u) => utterances.push(u),
    onHealth: (h) => health.push(h),
  }) as RealtimeTrackTranscriber;
  open.push(transcriber);
  const d = double;
  let n = 0;
  /** Pushes frames the way the media route does: 20 ms apart in Twilio time, all at once in wall time. */
  const push = (payloads: string[]) => payloads.forEach((p) => transcriber.pushAudio(p, 1000 + 20 * n++));
  return { double: d, factory, transcriber, utterances, health, push };
}

/** `voiced` frames of the caller's tone, then `silent` frames of silence. */
const turn = (voiced: number, silent: number) => [
  ...Array.from({ length: voiced }, (_, i) => toneFrame(i, 220)),
  ...Array.from({ length: silent }, () => SILENT_FRAME),
];
const decoded = (payloads: string[]) => Buffer.concat(payloads.map((p) => Buffer.from(p, 'base64')));
const finals = (us: Utterance[]) => us.filter((u) => u.final).map((u) => u.text);

describe('OpenAI Realtime transcription: the session', () => {
  it('opens a GA transcription session for μ-law as Twilio sends it', async () => {
    const { double } = await setUp({}, { model: 'gpt-4o-mini-transcribe', prompt: 'billing calls', noiseReduction: 'near_field' });
    await double.until(() => double.connections[0]?.session !== undefined);
    const c = double.connections[0]!;
    expect(c.url).toBe('/v1/realtime?intent=transcription');
    expect(c.headers.authorization).toBe('Bearer sk-test');
    expect(c.session).toEqual({
      type: 'transcription',
      audio: {
        input: {
          format: { type: 'audio/pcmu' },
          transcription: { model: 'gpt-4o-mini-transcribe', language: 'en', prompt: 'billing calls' },
          turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 300 },
          noise_reduction: { type: 'near_field' },
        },
      },
    });
  });

  it('refuses a missing key or a URL that is not a WebSocket URL, saying what to set', () => {
    expect(() => createOpenAIRealtimeTranscription({ apiKey: '' })).toThrow(/OPENAI_API_KEY/);
    expect(() => createOpenAIRealtimeTranscription({ apiKey: 'k', url: 'https://api.openai.com/v1/realtime' })).toThrow(/must start with wss:\/\//);
  });

  it('only makes transcribers for the tracks it was asked to transcribe', () => {
    const factory = createOpenAIRealtimeTranscription({ apiKey: 'k', url: 'ws://127.0.0.1:9', tracks: ['inbound'] });
    const ctx = { callSid, onUtterance() {}, onHealth() {} };
    expect(factory.create({ ...ctx, track: 'outbound' })).toBeUndefined();
    const t = factory.create({ ...ctx, track: 'inbound' });
    expect(t).toBeDefined();
    void t!.close();
  });
});

describe('OpenAI Realtime transcription: audio out', () => {
  it('forwards each Twilio payload unchanged, one append per frame, including frames sent before the session was ready', async () => {
    const { double, push } = await setUp();
    const frames = turn(30, 30);
    push(frames.slice(0, 10));
    await double.until(() => double.connections[0]?.appendCount === 10);
    push(frames.slice(10));
    await double.until(() => double.connections[0]?.appendCount === 60);
    expect(double.connections[0]!.appends).toEqual(frames);
  });

  it('batches frames into appends of batchMs on the raw bytes, the bytes unchanged', async () => {
    const { double, push, factory } = await setUp({}, { batchMs: 100 });
    const frames = turn(30, 20);
    push(frames);
    await double.until(() => double.connections[0]?.appendCount === 10);
    const c = double.connections[0]!;
    expect(c.audio.equals(decoded(frames))).toBe(true);
    // A 160-byte frame's base64 ends in padding: joined base64 strings would not decode to these bytes.
    expect(c.appends.every((a) => Buffer.from(a, 'base64').length === 800 && !a.slice(0, -2).includes('='))).toBe(true);
    expect(factory.totals).toMatchObject({ framesIn: 50, framesSent: 50, appends: 10, framesDropped: 0 });
  });

  it('sends a frame too big for the batch on its own, after what was batched before it, nothing cut', async () => {
    const { double, push } = await setUp({}, { batchMs: 100 });
    const big = Buffer.alloc(6000, 0x55).toString('base64');
    const frames = [...turn(2, 0), big, ...turn(5, 0)];
    push(frames);
    await double.until(() => double.connections[0]?.appendCount === 3);
    const c = double.connections[0]!;
    expect(c.appends[1]).toBe(big);
    expect(c.audio.equals(decoded(frames))).toBe(true);
  });
});

describe('OpenAI Realtime transcription: text back', () => {
  it('turns deltas into partial Utterances and completions into finals, in turn order, on the Twilio timeline', async () => {
    const { double, push, utterances, health } = await setUp(
      { transcripts: ['I would like to pay my bill', 'thank you'], answerDelayMs: 5 },
      { partialIntervalMs: 0 },
    );
    push([...turn(40, 20), ...turn(25, 25)]);
    await double.until(() => utterances.filter((u) => u.final).length === 2);
    expect(finals(utterances)).toEqual(['I would like to pay my bill', 'thank you']);
    const first = utterances.filter((u) => u.sequence === 1);
    expect(first.map((u) => [u.text, u.final])).toEqual([
      ['I ', false],
      ['I would ', false],
      ['I would like ', false],
      ['I would like to ', false],
      ['I would like to pay ', false],
      ['I would like to pay my ', false],
      ['I would like to pay my bill', false],
      ['I would like to pay my bill', true],
    ]);
    expect(utterances.every((u) => u.callSid === callSid && u.track === 'inbound' && u.provider === 'openai')).toBe(true);
    // Speech began at Twilio time 1000 ms, less the 300 ms prefix padding; it ended 300 ms of silence after 40 frames.
    const final1 = utterances.find((u) => u.final)!;
    expect(final1.startMs).toBe(1000);
    expect(final1.endMs).toBe(1000 + 40 * 20 + 300);
    expect(utterances.find((u) => u.final && u.sequence === 2)).toBeDefined();
    expect(health).toEqual([{ state: 'ok' }]);
  });

  it('coalesces token deltas into at most one partial per partialIntervalMs, all the text so far in each', async () => {
    const { double, push, utterances } = await setUp(
      { transcripts: ['one two three four five six seven eight nine ten'], deltaIntervalMs: 10 },
      { partialIntervalMs: 35 },
    );
    push(turn(20, 20));
    await double.until(() => utterances.some((u) => u.final));
    const partials = utterances.filter((u) => !u.final).map((u) => u.text.trim());
    expect(partials.length).toBeGreaterThanOrEqual(1);
    expect(partials.length).toBeLessThanOrEqual(4);
    expect(partials.every((p, i) => i === 0 || p.length > partials[i - 1]!.length)).toBe(true);
    expect(partials[0]!.split(' ').length).toBeGreaterThan(1);
    expect(finals(utterances)).toEqual(['one two three four five six seven eight nine ten']);
  });
});

describe('OpenAI Realtime transcription: failures', () => {
  it('reconnects after a dropped socket, replays the unconfirmed audio, counts it, and reports degraded then ok', async () => {
    const { double, push, utterances, health, factory } = await setUp({ transcripts: ['my account number please'] });
    double.dropAfterAppends(30);
    const frames = turn(40, 20);
    push(frames.slice(0, 30));
    await double.until(() => double.connections.length === 2 && double.connections[1]!.appendCount > 0, 3000, 'a second session');
    push(frames.slice(30));
    await double.until(() => utterances.some((u) => u.final), 3000, 'the final transcript');
    // The first session died mid-turn: the whole turn went again to the second one, nothing lost.
    const [first, second] = double.connections;
    expect(first!.appendCount).toBe(30);
    expect(second!.appends).toEqual(frames);
    expect(finals(utterances)).toEqual(['my account number please']);
    expect(factory.totals).toMatchObject({ reconnects: 1, framesReplayed: 30, framesDropped: 0 });
    expect(health.map((h) => h.state)).toEqual(['ok', 'degraded', 'ok']);
    expect(health[1]).toMatchObject({ reason: expect.stringContaining('socket closed') });
  });

  it('a turn the provider reports late (it is behind the audio sent) still goes again from its start after a reconnect', async () => {
    const { double, push, utterances, factory } = await setUp({ transcripts: ['four one one one two two two two'] });
    // Half a second of silence, a 3-second turn, then silence. All of it is sent before the provider has heard any
    // (a busy machine, a provider behind): its speech_started comes seconds of audio after the turn began.
    const frames = [...turn(0, 25), ...turn(150, 30)];
    double.dropAfterAppends(100);
    push(frames);
    await double.until(() => utterances.some((u) => u.final), 5000, 'the final transcript');
    const [first, second] = double.connections;
    expect(first!.appendCount).toBe(100);
    // Nothing was confirmed when the first session died mid-turn: all of it goes again, the turn's first words too.
    expect(second!.audio.equals(decoded(frames))).toBe(true);
    const final = utterances.find((u) => u.final)!;
    expect(final.text).toBe('four one one one two two two two');
    // Speech began 25 frames in, less the 300 ms prefix padding.
    expect(final.startMs).toBe(1000 + 25 * 20 - 300);
    expect(factory.totals).toMatchObject({ reconnects: 1, framesDropped: 0 });
  });

  it('with batchMs, a new session gets the whole unconfirmed turn again, the part of a batch not sent yet included, byte for byte', async () => {
    const { double, push, utterances, factory } = await setUp({ transcripts: ['my account number please'] }, { batchMs: 100 });
    double.dropAfterAppends(3);
    const frames = turn(40, 20);
    // 3 batches of 5 frames reach the first session, which dies; 2 more frames are still waiting in the batch.
    push(frames.slice(0, 17));
    await double.until(() => double.connections.length === 2 && double.connections[1]!.appendCount > 0, 3000, 'a second session');
    push(frames.slice(17));
    await double.until(() => utterances.some((u) => u.final), 3000, 'the final transcript');
    const [first, second] = double.connections;
    expect(first!.appendCount).toBe(3);
    expect(second!.audio.equals(decoded(frames))).toBe(true);
    expect(second!.appendCount).toBe(12);
    expect(finals(utterances)).toEqual(['my account number please']);
    expect(factory.totals).toMatchObject({ reconnects: 1, framesReplayed: 17, framesDropped: 0, framesSent: 77 });
  });

  it('holds at most maxBufferedAudioMs while the provider refuses connections, oldest dropped first, and never makes the caller wait', async () => {
    const { double, push, health, factory } = await setUp({}, { maxBufferedAudioMs: 200 });
    double.refuseConnections(3, 503);
    const frames = Array.from({ length: 100 }, (_, i) => Buffer.alloc(160, i).toString('base64'));
    const t0 = process.hrtime.bigint();
    push(frames);
    const pushMs = Number(process.hrtime.bigint() - t0) / 1e6;
    // Not a speed figure (see bench/): a push that waited for the provider would take seconds; a GC pause on a busy CI machine must not fail this.
    expect(pushMs).toBeLessThan(250);
    await double.until(() => double.connections[0]?.appendCount === 10, 3000, 'the held audio');
    expect(double.refused).toBe(3);
    expect(double.connections[0]!.appends).toEqual(frames.slice(90));
    expect(factory.totals).toMatchObject({ framesDropped: 90, msDropped: 1800, reconnects: 3 });
    expect(health).toEqual([{ state: 'degraded', reason: expect.stringContaining('503') }, { state: 'ok' }]);
  });

  it('sends what waited for a backed-up socket once it drains, even when no more audio comes (the last seconds of a call)', async () => {
    const { double, transcriber, health, factory } = await setUp({ record: false }, { maxBufferedAudioMs: 30 * 60_000 });
    await double.until(() => double.connections[0]?.session !== undefined && health.length > 0);
    const peer = (double.connections[0]!.socket as unknown as { _socket: import('node:net').Socket })._socket;
    peer.pause();
    // Far more than the kernel's socket buffers hold, so that frames wait in the backlog; none is dropped.
    const frames = 60_000;
    for (let i = 0; i < frames; i++) transcriber.pushAudio(SILENT_FRAME, i * 20);
    expect(factory.totals.framesSent).toBeLessThan(frames);
    peer.resume();
    // No frame is pushed from here on: the rest goes as the socket drains.
    await double.until(() => double.connections[0]!.bytes === frames * 160, 10_000, 'every frame at the provider');
    expect(factory.totals).toMatchObject({ framesSent: frames, framesDropped: 0 });
  });

  it('never waits on a provider that stops reading: the socket backs up, the backlog stays bounded, drops are counted, then it catches up', async () => {
    const { double, transcriber, health, factory } = await setUp({ record: false }, { maxBufferedAudioMs: 1000 });
    await double.until(() => double.connections[0]?.session !== undefined && health.length > 0);
    const peer = (double.connections[0]!.socket as unknown as { _socket: import('node:net').Socket })._socket;
    peer.pause();
    // Far more than the kernel's socket buffers hold: ~15 MB of appends.
    let slowest = 0;
    for (let i = 0; i < 60_000; i++) {
      const t0 = performance.now();
      transcriber.pushAudio(SILENT_FRAME, i * 20);
      slowest = Math.max(slowest, performance.now() - t0);
    }
    // Same here: waiting on the stalled socket would take forever; 100 ms leaves room for a major GC on a busy machine.
    expect(slowest).toBeLessThan(100);
    expect(factory.totals.framesDropped).toBeGreaterThan(0);
    expect(factory.totals.framesIn).toBe(60_000);
    expect(factory.totals.framesSent + factory.totals.framesDropped + 50).toBe(60_000);
    expect(health.at(-1)).toEqual({ state: 'degraded', reason: 'OpenAI transcription is not keeping up: audio dropped' });
    peer.resume();
    await double.until(
      () => {
        transcriber.pushAudio(SILENT_FRAME, 0);
        return health.at(-1)?.state === 'ok';
      },
      5000,
      'the provider to catch up',
    );
    expect(health.map((h) => h.state)).toEqual(['ok', 'degraded', 'ok']);
  });

  it('starts a fresh session after an error event', async () => {
    const { double, push, health, factory } = await setUp();
    double.errorAfterAppends(5);
    push(turn(0, 10));
    await double.until(() => double.connections.length === 2 && double.connections[1]!.session !== undefined);
    expect(factory.totals.errors).toBe(1);
    expect(health.map((h) => h.state)).toEqual(['ok', 'degraded', 'ok']);
    expect(health[1]).toMatchObject({ reason: expect.stringContaining('server_error') });
  });

  it('gives up on a session that does not answer within the connect timeout', async () => {
    const mute = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => mute.once('listening', r));
    let connections = 0;
    mute.on('connection', () => connections++);
    const factory = createOpenAIRealtimeTranscription({
      apiKey: 'k',
      url: `ws://127.0.0.1:${(mute.address() as { port: number }).port}`,
      connectTimeoutMs: 100,
      reconnect: { initialDelayMs: 10, maxDelayMs: 20 },
    });
    const health: TranscriberHealth[] = [];
    const t = factory.create({ callSid, track: 'inbound', onUtterance() {}, onHealth: (h) => health.push(h) })!;
    // A second attempt means the first one timed out and was reported.
    await eventually(() => connections >= 2 && health.length > 0, 5000, 'a reconnect after the connect timeout');
    await t.close();
    for (const c of mute.clients) c.terminate();
    await new Promise((r) => mute.close(r));
    expect(health).toEqual([{ state: 'degraded', reason: 'OpenAI transcription: no session within 100 ms' }]);
    expect(connections).toBeGreaterThanOrEqual(2);
  });

  it('sends and delivers nothing once closed, even a transcript the provider was still working on', async () => {
    const { double, push, transcriber, utterances } = await setUp({ answerDelayMs: 100 });
    push(turn(20, 20));
    await double.until(() => double.connections[0]?.sent.some((e) => e.type === 'input_audio_buffer.committed') ?? false);
    await transcriber.close();
    push(turn(20, 20));
    // Once the double has seen the socket close it can send nothing more: whatever was on its way has arrived.
    await double.until(() => double.connections[0]!.closed, 5000, 'the socket closed');
    expect(double.connections[0]!.appendCount).toBe(40);
    expect(double.connections[0]!.closed).toBe(true);
    expect(utterances).toEqual([]);
  });
});
