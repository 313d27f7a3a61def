// Media forwarding cost: server CPU per Twilio frame on the real path (/media-stream → CallMonitor.streamMedia →
// OpenAI Realtime transcriber → a double), against a bare WebSocket server that only JSON.parses each frame,
// measured in the same run. Each measurement starts its own processes: the server (bench/media-server.ts), the
// streams (bench/media-load.ts) and, when forwarding, the double (bench/media-double.ts); only the server's own
// CPU (process.cpuUsage) is counted, and no measurement inherits another's heap, JIT state or sockets. Rounds
// interleave the phases, and the median of the rounds is reported. Goal: forwarding costs at most 1.25× the reference.
// The default forwards with batchMs 100, the setting the README recommends (TRANSCRIBE_BATCH_MS=100); add
// `--batch-ms 0,100` to compare with one append per frame.
// Memory per call: the server's RSS while the streams run, minus its RSS before they connected, over the streams; and
// what is still referenced (JS heap, Buffers) after a full collection, the same way.
// Servers run with `npm start`'s Node flags (none); `--node-flags` measures others (e.g. --max-semi-space-size=64).
// Newest-frame lag (bench/lag.ts) where frames reach the double as they came (the plain forwarder, forwarding):
// from the load's send of the newest frame in an append to its arrival at the double, p50/p99 over the window.
// `--tls`: the double serves wss:// with a self-signed certificate the servers trust (bench/tls.ts).
// Usage: npm run bench:media [-- --streams 300 --seconds 6 --warmup 3 --rounds 3 --batch-ms 100 --phases reference,receiving,forwarding --sink --tls --cpu-prof DIR --heap-snapshot DIR --node-flags=--max-semi-space-size=64]
import { fork, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import type { LagReport } from './lag.js';
import { percentiles, round } from './stats.js';
import { trustSelfSigned } from './tls.js';

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
    phases: { type: 'string', default: 'reference,naive,floor,receiving,connected,forwarding' },
    /** Forward to a peer that only counts appends (no parsing, no VAD): isolates the cost of a busy peer on shared cores. */
    sink: { type: 'boolean', default: false },
    /** Serve the double over wss:// (a self-signed certificate made now, trusted through NODE_EXTRA_CA_CERTS). */
    tls: { type: 'boolean', default: false },
    /** Write a V8 CPU profile of the server for each measured window into this folder (e.g. /tmp/prof). */
    'cpu-prof': { type: 'string' },
    /** Writes V8 heap snapshots of each server, idle and under load after the measurement (DIR/NN-mode-idle|load.heapsnapshot). */
    'heap-snapshot': { type: 'string' },
    /** Node flags for every server measured (default: none, as `npm start`). */
    'node-flags': { type: 'string', default: '' },
  },
});
const streams = Number(values.streams);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const rounds = Number(values.rounds);
const batches = values['batch-ms'].split(',').map(Number);
const phases = values.phases.split(',');
const GOAL = 1.25;
const tls = values.tls ? trustSelfSigned() : undefined;

function child(file: string, args: string[] = [], nodeFlags: string[] = []): ChildProcess {
  return fork(new URL(file, import.meta.url).pathname, args, { execArgv: ['--import', 'tsx', ...nodeFlags], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}
/** Every server measured (the reference too) runs with the same flags: `npm start`'s (none) unless --node-flags. */
const SERVER_NODE_FLAGS = values['node-flags'].split(' ').filter(Boolean);
/** To measure what is still referenced per call, a full collection is run once the CPU was read. */
const GC_FLAG = '--expose-gc';
function next<T>(proc: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      proc.off('message', on);
      proc.off('exit', exit);
      resolve(m as T);
    };
    const exit = (code: number | null) => reject(new Error(`a benchmark child exited (${code}) before sending "${type}"`));
    proc.on('message', on);
    proc.once('exit', exit);
  });
}
async function ask<T>(proc: ChildProcess, message: { type: string; [key: string]: unknown }, answer: string): Promise<T> {
  const reply = next<T>(proc, answer);
  proc.send(message);
  return reply;
}
async function stop(proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill();
  await exited;
}
const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

interface Measured {
  cpuUsPerFrame: number;
  /** Of which in the kernel (socket reads and writes). */
  systemUsPerFrame: number;
  framesPerSecPerCore: number;
  framesPerSec: number;
  serverCpuCores: number;
  appendsPerSec?: number;
  framesDropped?: number;
  /** Provider sessions opened while measuring (reconnects): 0 on a healthy run. */
  sessionsOpened?: number;
  /** Newest frame's send → its append's arrival at the double, over the window (forwarders of the load's frames only). */
  lagMs?: { n: number; p50: number; p99: number; max: number };
  /** Appends whose newest frame carried no send time: 0 unless audio is not forwarded whole and as received. */
  lagUnreadable?: number;
  /** The double's own event-loop delay over the window: a lag near it is the double's, not the forwarder's. */
  doubleLoopDelayMs?: { p50: number; p99: number; max: number };
  /** RSS before the streams connected (MB). */
  idleRssMb: number;
  /** (RSS at the end of the window − idle RSS) / streams. */
  memoryPerCallKb: number;
  /** What is still referenced per call after a full collection, idle's taken off: the JS heap, and Buffers (outside it). */
  heapPerCallKb: number;
  buffersPerCallKb: number;
}
interface Snapshot {
  cpu: NodeJS.CpuUsage;
  memory: NodeJS.MemoryUsage;
  /** After a full collection. */
  live: NodeJS.MemoryUsage;
  at: number;
  frames: number;
  appends?: number;
  framesDropped?: number;
  sessions?: number;
}

let profiled = 0;
let snapshots = 0;

/**
 * One measurement, in processes of its own: a fresh server (`mode`), a fresh load of `streams` Twilio-like
 * streams, and for forwarding a fresh double. Only the server's own CPU is counted, over `seconds` after `warmup`.
 */
async function measure(mode: 'reference' | 'naive' | 'floor' | 'receiving' | 'connected' | 'forwarding', batchMs?: number): Promise<Measured> {
  let double: ChildProcess | undefined;
  const args = ['--mode', mode];
  if (mode === 'forwarding' || mode === 'naive' || mode === 'floor' || mode === 'connected') {
    double = child('./media-double.ts', [...(values.sink ? ['--sink'] : []), ...(tls ? ['--tls', tls.dir] : [])]);
    const { url } = await next<{ url: string }>(double, 'double');
    args.push('--double-url', url);
    if (batchMs !== undefined) args.push('--batch-ms', String(batchMs));
  }
  const server = child('./media-server.ts', args, [...SERVER_NODE_FLAGS, GC_FLAG]);
  const load = child('./media-load.ts');
  try {
    const { url, accountSid } = await next<{ url: string; accountSid: string }>(server, 'listening');
    const idle = await ask<Snapshot>(server, { type: 'snapshot', gc: true }, 'snapshot');
    // Heap snapshots idle and under load, to compare: where each call's memory goes.
    const heap = values['heap-snapshot'];
    const heapLabel = `${String(++snapshots).padStart(2, '0')}-${mode}${batchMs === undefined ? '' : '-' + batchMs}`;
    if (heap) await ask(server, { type: 'heap', dir: heap, label: `${heapLabel}-idle` }, 'heap-written');
    load.send({ type: 'run', url, accountSid, streams, tracks: mode === 'connected' ? ['inbound', 'outbound'] : ['inbound'] });
    await next(load, 'ready');
    await sleep(warmup);
    const profile = values['cpu-prof'];
    if (profile) await ask(server, { type: 'profile', start: true }, 'profiling');
    const lags = mode === 'naive' || mode === 'forwarding';
    if (lags) await ask(double!, { type: 'lag' }, 'lag');
    const s0 = await ask<Snapshot>(server, { type: 'snapshot' }, 'snapshot');
    await sleep(seconds);
    const lag = lags ? await ask<LagReport>(double!, { type: 'lag' }, 'lag') : undefined;
    const s1 = await ask<Snapshot>(server, { type: 'snapshot', gc: true }, 'snapshot');
    if (profile) {
      const label = `${String(++profiled).padStart(2, '0')}-${mode}${batchMs === undefined ? '' : '-' + batchMs}`;
      await ask(server, { type: 'profile', dir: profile, label }, 'profiled');
    }
    if (heap) await ask(server, { type: 'heap', dir: heap, label: `${heapLabel}-load` }, 'heap-written');
    const wallS = (s1.at - s0.at) / 1000;
    const frames = s1.frames - s0.frames;
    const user = s1.cpu.user - s0.cpu.user;
    const system = s1.cpu.system - s0.cpu.system;
    const cpuUs = user + system;
    const out: Measured = {
      cpuUsPerFrame: round(cpuUs / frames, 2),
      systemUsPerFrame: round(system / frames, 2),
      framesPerSecPerCore: Math.round((frames / cpuUs) * 1e6),
      framesPerSec: Math.round(frames / wallS),
      serverCpuCores: round(cpuUs / 1e6 / wallS, 2),
      idleRssMb: round(idle.memory.rss / 2 ** 20, 1),
      memoryPerCallKb: round((s1.memory.rss - idle.memory.rss) / 1024 / streams, 1),
      heapPerCallKb: round((s1.live.heapUsed - idle.live.heapUsed) / 1024 / streams, 1),
      buffersPerCallKb: round((s1.live.arrayBuffers - idle.live.arrayBuffers) / 1024 / streams, 1),
    };
    if (s1.appends !== undefined) out.appendsPerSec = Math.round((s1.appends - (s0.appends ?? 0)) / wallS);
    if (s1.framesDropped !== undefined) out.framesDropped = s1.framesDropped - (s0.framesDropped ?? 0);
    if (s1.sessions !== undefined) out.sessionsOpened = s1.sessions - (s0.sessions ?? 0);
    if (lag) {
      const p = percentiles(Object.values(lag.byPort).flat(), [50, 99]);
      out.lagMs = { n: p.n!, p50: round(p.p50!, 2), p99: round(p.p99!, 2), max: round(p.max!, 2) };
      out.lagUnreadable = lag.unreadable;
      out.doubleLoopDelayMs = lag.loopDelayMs;
    }
    return out;
  } finally {
    await Promise.all([stop(load), stop(server), stop(double)]);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : round((s[mid - 1]! + s[mid]!) / 2, 2);
}

// Interleaved rounds, so both sides see the same machine (other work on shared cores comes and goes).
const refs: Measured[] = [];
const naive: Measured[] = [];
const floor = new Map<number, Measured[]>(batches.map((b) => [b, []]));
const received: Measured[] = [];
const connected: Measured[] = [];
const fwd = new Map<number, Measured[]>(batches.map((b) => [b, []]));
for (let r = 0; r < rounds; r++) {
  if (phases.includes('reference')) refs.push(await measure('reference'));
  if (phases.includes('naive')) naive.push(await measure('naive'));
  if (phases.includes('floor')) for (const b of batches) floor.get(b)!.push(await measure('floor', b));
  if (phases.includes('receiving')) received.push(await measure('receiving'));
  if (phases.includes('connected')) connected.push(await measure('connected'));
  if (phases.includes('forwarding')) for (const b of batches) fwd.get(b)!.push(await measure('forwarding', b));
}

/** Medians of the memory figures of `runs`. */
const memory = (runs: Measured[]) =>
  runs.length
    ? {
        memoryPerCallKb: median(runs.map((m) => m.memoryPerCallKb)),
        heapPerCallKb: median(runs.map((m) => m.heapPerCallKb)),
        buffersPerCallKb: median(runs.map((m) => m.buffersPerCallKb)),
        idleRssMb: median(runs.map((m) => m.idleRssMb)),
      }
    : {};
/** Medians of the lag figures of `runs`, where measured. */
const lagOf = (runs: Measured[]) =>
  runs.length && runs[0]!.lagMs
    ? {
        lagMs: { p50: median(runs.map((m) => m.lagMs!.p50)), p99: median(runs.map((m) => m.lagMs!.p99)) },
        lagUnreadable: runs.reduce((n, m) => n + (m.lagUnreadable ?? 0), 0),
      }
    : {};
const refUs = refs.length ? median(refs.map((m) => m.cpuUsPerFrame)) : NaN;
const naiveUs = naive.length ? median(naive.map((m) => m.cpuUsPerFrame)) : NaN;
const recvUs = received.length ? median(received.map((m) => m.cpuUsPerFrame)) : NaN;
const connectedUs = connected.length ? median(connected.map((m) => m.cpuUsPerFrame)) : NaN;
console.log(
  JSON.stringify({
    benchmark: 'media forwarding: server CPU per Twilio frame, /media-stream → CallMonitor → OpenAI Realtime transcriber → double',
    streams,
    framesPerStreamPerSec: 50,
    secondsMeasured: seconds,
    rounds,
    recommendedBatchMs: RECOMMENDED_BATCH_MS,
    reference: { what: 'bare ws server, JSON.parse per frame', cpuUsPerFrame: refUs, ...memory(refs), runs: refs },
    plainForwarder: {
      what: 'bare ws server: JSON.parse, decode and re-encode the payload, one append per frame to the double (the issue says about 2x)',
      cpuUsPerFrame: naiveUs,
      ratioToReference: round(naiveUs / refUs, 2),
      ...lagOf(naive),
      ...memory(naive),
      runs: naive,
    },
    writeFloor: phases.includes('floor')
      ? batches.map((batchMs) => {
          const runs = floor.get(batchMs)!;
          const us = median(runs.map((m) => m.cpuUsPerFrame));
          return {
            batchMs,
            what: 'the least a forwarder batching this much can do: JSON.parse per frame, one prebuilt append of a batch\'s size written per batch (no decode, no copy, no state). Above the goal, no forwarder with this batching meets it on this machine',
            cpuUsPerFrame: us,
            ratioToReference: round(us / refUs, 2),
            runs,
          };
        })
      : [],
    receivingOnly: {
      what: 'the service with nothing to forward to (Twilio transcription): /media-stream → parse → CallMonitor.streamMedia',
      cpuUsPerFrame: recvUs,
      ratioToReference: round(recvUs / refUs, 2),
      ...memory(received),
      runs: received,
    },
    connectedIdle: {
      what: 'the service receiving, with an OpenAI Realtime session open per call that gets no audio (outbound track only): what open provider sockets cost',
      cpuUsPerFrame: connectedUs,
      ratioToReference: round(connectedUs / refUs, 2),
      ...memory(connected),
      runs: connected,
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
        ...lagOf(runs),
        ...memory(runs),
        runs,
      };
    }),
    provider: tls ? 'wss://' : 'ws://',
    serverNodeFlags: SERVER_NODE_FLAGS,
    node: process.version,
    cpus: cpus().length,
  }),
);
tls?.remove();
process.exit(0);
