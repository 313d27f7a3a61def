// Media forwarding cost: server CPU per Twilio frame on the real path (/media-stream → CallMonitor.streamMedia →
// OpenAI Realtime transcriber → a double), against a bare WebSocket server that only JSON.parses each frame,
// measured in the same run. Streams come from a child process and the double runs in another, so only the
// server's own CPU (process.cpuUsage) is counted. Goal: forwarding costs at most 1.25× the reference.
// The default forwards with batchMs 100, the setting the README recommends (TRANSCRIBE_BATCH_MS=100); add
// `--batch-ms 0,100` to compare with one append per frame.
// Usage: npm run bench:media [-- --streams 300 --seconds 6 --warmup 3 --rounds 3 --batch-ms 100 --phases reference,receiving,forwarding --sink --cpu-prof DIR]
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';
import { buildService } from '../src/app.js';
import { createClassifier } from '../src/classification/index.js';
import { loadConfig } from '../src/config.js';
import { RuleBook } from '../src/rules/rule-book.js';
import { MemoryStore } from '../src/store/memory.js';
import { createOpenAIRealtimeTranscription } from '../src/transcription/openai-realtime.js';
import { twilioTranscription, type TranscriberFactory } from '../src/transcription/transcriber.js';
import { round } from './stats.js';

/** What the README recommends for TRANSCRIBE_BATCH_MS: frames reach OpenAI at most 80 ms later, 40 ms on average. */
const RECOMMENDED_BATCH_MS = 100;

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '300' },
    seconds: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    /** TRANSCRIBE_BATCH_MS values to forward with; 100 is the recommended setting. */
    'batch-ms': { type: 'string', default: String(RECOMMENDED_BATCH_MS) },
    /** Which phases to run (e.g. one at a time under node --cpu-prof). */
    phases: { type: 'string', default: 'reference,receiving,forwarding' },
    /** Forward to a peer that only counts appends (no parsing, no VAD): isolates the cost of a busy peer on shared cores. */
    sink: { type: 'boolean', default: false },
    /** Write a V8 CPU profile of this process for each measured window into this folder (e.g. /tmp/prof). */
    'cpu-prof': { type: 'string' },
  },
});
const streams = Number(values.streams);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const rounds = Number(values.rounds);
const batches = values['batch-ms'].split(',').map(Number);
const phases = values.phases.split(',');
const GOAL = 1.25;

function child(file: string, args: string[] = []): ChildProcess {
  return fork(new URL(file, import.meta.url).pathname, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}
function next<T>(proc: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      proc.off('message', on);
      resolve(m as T);
    };
    proc.on('message', on);
  });
}
const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

/** `--cpu-prof DIR`: profiles exactly the measured window (not startup or warm-up), one file per measurement. */
const profDir = values['cpu-prof'];
let inspector: Session | undefined;
if (profDir) {
  mkdirSync(profDir, { recursive: true });
  inspector = new Session();
  inspector.connect();
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.setSamplingInterval', { interval: 100 });
}
let profiled = 0;
let label = '';

const load = child('./media-load.ts');
const doubleProc = child('./media-double.ts', values.sink ? ['--sink'] : []);
const { url: doubleUrl } = await next<{ url: string }>(doubleProc, 'double');
const doubleCount = async () => {
  doubleProc.send({ type: 'count' });
  return next<{ appends: number; bytes: number }>(doubleProc, 'count');
};

interface Measured {
  cpuUsPerFrame: number;
  /** Of which in the kernel (socket reads and writes). */
  systemUsPerFrame: number;
  framesPerSecPerCore: number;
  framesPerSec: number;
  serverCpuCores: number;
  appendsPerSec?: number;
  framesDropped?: number;
}

/** Streams to `url`, then measures this process's CPU against the frames `count()` says were handled. */
async function measure(url: string, count: () => number, extra: () => Promise<Partial<Measured>> = async () => ({})): Promise<Measured> {
  load.send({ type: 'run', url, streams });
  await next(load, 'ready');
  await sleep(warmup);
  const frames0 = count();
  const extra0 = await extra();
  if (inspector) await inspector.post('Profiler.start');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds);
  const cpu = process.cpuUsage(cpu0);
  if (inspector) {
    const { profile } = await inspector.post('Profiler.stop');
    writeFileSync(join(profDir!, `${String(++profiled).padStart(2, '0')}-${label}.cpuprofile`), JSON.stringify(profile));
  }
  const wallS = (performance.now() - t0) / 1000;
  const frames = count() - frames0;
  const extra1 = await extra();
  load.send({ type: 'stop' });
  await next(load, 'stopped');
  const cpuUs = cpu.user + cpu.system;
  const out: Measured = {
    cpuUsPerFrame: round(cpuUs / frames, 2),
    systemUsPerFrame: round(cpu.system / frames, 2),
    framesPerSecPerCore: Math.round((frames / cpuUs) * 1e6),
    framesPerSec: Math.round(frames / wallS),
    serverCpuCores: round(cpuUs / 1e6 / wallS, 2),
  };
  if (extra1.appendsPerSec !== undefined) out.appendsPerSec = Math.round((extra1.appendsPerSec - (extra0.appendsPerSec ?? 0)) / wallS);
  if (extra1.framesDropped !== undefined) out.framesDropped = extra1.framesDropped - (extra0.framesDropped ?? 0);
  return out;
}

async function reference(): Promise<Measured> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  let parsed = 0;
  wss.on('connection', (ws) =>
    ws.on('message', (data) => {
      JSON.parse((data as Buffer).toString('utf8'));
      parsed++;
    }),
  );
  const port = (wss.address() as { port: number }).port;
  const m = await measure(`ws://127.0.0.1:${port}/media-stream`, () => parsed);
  for (const c of wss.clients) c.terminate();
  await new Promise((r) => wss.close(r));
  return m;
}

/** The service as configured here; `transcribers` decides whether frames go anywhere after the monitor. */
async function service(transcribers: TranscriberFactory, count: (frames: () => number) => () => number, extra?: () => Promise<Partial<Measured>>): Promise<Measured> {
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    ALLOW_UNSIGNED: '1',
    TWILIO_ACCOUNT_SID: 'AC' + randomBytes(16).toString('hex'),
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
  const url = (await svc.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws') + '/media-stream';
  const seen = () => [...svc.monitor.sessions.values()].reduce((n, s) => n + s.counters.frames, 0);
  const m = await measure(url, count(seen), extra);
  await svc.close();
  return m;
}

/** Up to the monitor only (Twilio transcribes, no audio leaves): what receiving alone costs on the real path. */
const receiving = () => service(twilioTranscription, (seen) => seen);

function forwarding(batchMs: number): Promise<Measured> {
  const transcription = createOpenAIRealtimeTranscription({ apiKey: 'sk-bench', url: doubleUrl, batchMs, tracks: ['inbound'] });
  return service(
    transcription,
    () => () => transcription.totals.framesSent,
    async () => ({ appendsPerSec: (await doubleCount()).appends, framesDropped: transcription.totals.framesDropped }),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : round((s[mid - 1]! + s[mid]!) / 2, 2);
}

// Interleaved rounds, so both sides see the same machine (other work on shared cores comes and goes).
const refs: Measured[] = [];
const received: Measured[] = [];
const fwd = new Map<number, Measured[]>(batches.map((b) => [b, []]));
for (let r = 0; r < rounds; r++) {
  label = 'reference';
  if (phases.includes('reference')) refs.push(await reference());
  label = 'receiving';
  if (phases.includes('receiving')) received.push(await receiving());
  if (phases.includes('forwarding')) {
    for (const b of batches) {
      label = `forwarding-${b}`;
      fwd.get(b)!.push(await forwarding(b));
    }
  }
}
load.kill();
doubleProc.kill();

const refUs = refs.length ? median(refs.map((m) => m.cpuUsPerFrame)) : NaN;
const recvUs = received.length ? median(received.map((m) => m.cpuUsPerFrame)) : NaN;
console.log(
  JSON.stringify({
    benchmark: 'media forwarding: server CPU per Twilio frame, /media-stream → CallMonitor → OpenAI Realtime transcriber → double',
    streams,
    framesPerStreamPerSec: 50,
    secondsMeasured: seconds,
    rounds,
    recommendedBatchMs: RECOMMENDED_BATCH_MS,
    reference: { what: 'bare ws server, JSON.parse per frame', cpuUsPerFrame: refUs, runs: refs },
    receivingOnly: {
      what: 'the service with nothing to forward to (Twilio transcription): /media-stream → parse → CallMonitor.streamMedia',
      cpuUsPerFrame: recvUs,
      ratioToReference: round(recvUs / refUs, 2),
      runs: received,
    },
    forwarding: batches.map((batchMs) => {
      const runs = fwd.get(batchMs)!;
      const us = median(runs.map((m) => m.cpuUsPerFrame));
      return {
        batchMs,
        what:
          batchMs === 0
            ? 'one input_audio_buffer.append per Twilio frame (20 ms)'
            : `frames joined into appends of ${batchMs} ms of audio: a frame waits at most ${Math.max(0, batchMs - 20)} ms for its batch`,
        cpuUsPerFrame: us,
        framesPerSecPerCore: Math.round(1e6 / us),
        ratioToReference: round(us / refUs, 2),
        goal: GOAL,
        met: us / refUs <= GOAL,
        runs,
      };
    }),
    node: process.version,
    cpus: cpus().length,
  }),
);
process.exit(0);
