// Child process of bench/media-forward.ts: the server being measured, one per measurement, so that no
// measurement inherits another's heap, JIT state or sockets. Its own CPU is what is counted.
//   --mode reference   a bare ws server that only JSON.parses each frame
//   --mode receiving   the service, with nothing to forward to (Twilio transcribes)
//   --mode naive       the plain way to forward: a bare ws server that JSON.parses each frame, decodes its
//                      payload, encodes it again and sends it as one append per frame on a socket per stream
//                      to the double at --double-url (no batching, no backlog, no privacy gate)
//   --mode floor       the least any forwarder batching --batch-ms can do: a bare ws server that JSON.parses each
//                      frame and, once per batch of frames, writes one append of a batch's size (built once, sent
//                      again and again) on a socket per stream to the double. No decoding, no copying, no state.
//   --mode connected   the service with an OpenAI Realtime session per call (outbound track) that gets no audio:
//                      the streams announce both tracks but send only inbound frames. What open provider
//                      sessions cost before any frame is forwarded.
//   --mode forwarding  the service, forwarding to the OpenAI Realtime double at --double-url
// Messages: it sends {type:'listening', url, accountSid}; on {type:'snapshot'} it answers with its CPU time, memory and counts;
// on {type:'profile', dir, label, start|stop} it starts or writes a V8 CPU profile; on {type:'heap', dir, label} it writes a
// V8 heap snapshot (where each call's memory goes).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import WebSocket, { WebSocketServer } from 'ws';
import { buildService } from '../src/app.js';
import { createClassifier } from '../src/classification/index.js';
import { loadConfig } from '../src/config.js';
import { RuleBook } from '../src/rules/rule-book.js';
import { MemoryStore } from '../src/store/memory.js';
import { createOpenAIRealtimeTranscription } from '../src/transcription/openai-realtime.js';
import { twilioTranscription, type TranscriberFactory } from '../src/transcription/transcriber.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    'batch-ms': { type: 'string', default: '100' },
    'double-url': { type: 'string' },
  },
});
const mode = values.mode;
const send = (m: object) => process.send!(m);

/** Frames handled so far, and for forwarding what left for the double. */
let counts: () => { frames: number; framesDropped?: number; appends?: number; sessions?: number } = () => ({ frames: 0 });
let url: string;
/** The service's account: the load's `start` messages name it, or the service refuses their streams. */
const accountSid = 'AC' + randomBytes(16).toString('hex');

/** A bare ws server, no service: each connection goes to `onConnection`. Returns its /media-stream URL. */
async function bareServer(onConnection: (twilio: WebSocket) => void): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', onConnection);
  return `ws://127.0.0.1:${(wss.address() as { port: number }).port}/media-stream`;
}

/** For a bare forwarder: a socket to the double per Twilio stream, with a transcription session, closed with it. */
function bareProvider(twilio: WebSocket): WebSocket {
  const provider = new WebSocket(values['double-url']!, { headers: { Authorization: 'Bearer sk-bench' }, perMessageDeflate: false });
  provider.on('open', () =>
    provider.send(JSON.stringify({ type: 'session.update', session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcmu' } } } } })),
  );
  provider.on('message', () => {});
  provider.on('error', () => {});
  twilio.on('close', () => provider.close());
  return provider;
}

if (mode === 'reference') {
  let parsed = 0;
  url = await bareServer((ws) =>
    ws.on('message', (data) => {
      JSON.parse((data as Buffer).toString('utf8'));
      parsed++;
    }),
  );
  counts = () => ({ frames: parsed });
} else if (mode === 'naive') {
  let forwarded = 0;
  url = await bareServer((twilio) => {
    const provider = bareProvider(twilio);
    twilio.on('message', (data) => {
      const msg = JSON.parse((data as Buffer).toString('utf8')) as { event: string; media?: { payload: string } };
      if (msg.event !== 'media' || provider.readyState !== WebSocket.OPEN) return;
      const audio = Buffer.from(msg.media!.payload, 'base64').toString('base64');
      provider.send(JSON.stringify({ type: 'input_audio_buffer.append', audio }));
      forwarded++;
    });
  });
  // One append per frame.
  counts = () => ({ frames: forwarded, appends: forwarded });
} else if (mode === 'floor') {
  const framesPerAppend = Math.max(1, Math.round(Number(values['batch-ms']) / 20));
  // An append carrying framesPerAppend frames of 160 μ-law bytes: what goes out, byte for byte in length.
  const append = Buffer.from(JSON.stringify({ type: 'input_audio_buffer.append', audio: Buffer.alloc(160 * framesPerAppend, 0xff).toString('base64') }));
  let forwarded = 0;
  let appends = 0;
  url = await bareServer((twilio) => {
    const provider = bareProvider(twilio);
    let held = 0;
    twilio.on('message', (data) => {
      const msg = JSON.parse((data as Buffer).toString('utf8')) as { event: string };
      if (msg.event !== 'media' || provider.readyState !== WebSocket.OPEN) return;
      forwarded++;
      if (++held < framesPerAppend) return;
      held = 0;
      provider.send(append, { binary: false });
      appends++;
    });
  });
  counts = () => ({ frames: forwarded, appends });
} else if (mode === 'receiving' || mode === 'connected' || mode === 'forwarding') {
  let transcribers: TranscriberFactory = twilioTranscription;
  if (mode !== 'receiving') {
    const transcription = createOpenAIRealtimeTranscription({
      apiKey: 'sk-bench',
      url: values['double-url']!,
      batchMs: Number(values['batch-ms']),
      tracks: [mode === 'connected' ? 'outbound' : 'inbound'],
    });
    transcribers = transcription;
    counts = () => ({
      frames: mode === 'connected' ? [...svc.monitor.sessions.values()].reduce((n, s) => n + s.counters.frames, 0) : transcription.totals.framesSent,
      framesDropped: transcription.totals.framesDropped,
      appends: transcription.totals.appends,
      sessions: transcription.totals.sessions,
    });
  }
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    ALLOW_UNSIGNED: '1',
    TWILIO_ACCOUNT_SID: accountSid,
    TWILIO_AUTH_TOKEN: randomBytes(16).toString('hex'),
    TWILIO_API_BASE_URL: 'http://127.0.0.1:9',
    CLASSIFIER: 'local',
  });
  const svc = await buildService(config, {
    transcribers,
    classifier: createClassifier({ kind: 'local' }),
    rules: new RuleBook([]),
    // Not the default SQLite file: a benchmark must not write where a running service keeps its calls.
    store: new MemoryStore(),
  });
  url = (await svc.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws') + '/media-stream';
  if (mode === 'receiving') counts = () => ({ frames: [...svc.monitor.sessions.values()].reduce((n, s) => n + s.counters.frames, 0) });
} else {
  throw new Error(`--mode must be reference, naive, floor, receiving, connected or forwarding, not ${mode}`);
}

let inspector: Session | undefined;
process.on('message', async (m: { type: 'snapshot'; gc?: boolean } | { type: 'profile' | 'heap'; start?: boolean; dir?: string; label?: string }) => {
  if (m.type === 'snapshot') {
    const snapshot = { type: 'snapshot', cpu: process.cpuUsage(), memory: process.memoryUsage(), at: performance.now(), ...counts() };
    // What is still referenced: after a full collection (the process runs with --expose-gc), after the CPU was read.
    if (m.gc && globalThis.gc) globalThis.gc();
    send({ ...snapshot, live: process.memoryUsage() });
  } else if (m.type === 'profile' && m.start) {
    inspector = new Session();
    inspector.connect();
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.setSamplingInterval', { interval: 100 });
    await inspector.post('Profiler.start');
    send({ type: 'profiling' });
  } else if (m.type === 'profile' && inspector) {
    const { profile } = await inspector.post('Profiler.stop');
    mkdirSync(m.dir!, { recursive: true });
    writeFileSync(join(m.dir!, `${m.label}.cpuprofile`), JSON.stringify(profile));
    send({ type: 'profiled' });
  } else if (m.type === 'heap') {
    mkdirSync(m.dir!, { recursive: true });
    writeHeapSnapshot(join(m.dir!, `${m.label}.heapsnapshot`));
    send({ type: 'heap-written' });
  }
});
send({ type: 'listening', url, accountSid });
