// Scale-out: the real service as an operator runs it (`src/server.ts`, or the compiled `dist/server.js` with
// --compiled) with WORKERS=N processes on one port, one Redis, one SQLite file, forwarding every call's audio to
// the OpenAI Realtime double (bench/media-double.ts: ws:// on loopback, or wss:// with --tls and a self-signed
// certificate the service trusts through NODE_EXTRA_CA_CERTS). Twilio-like streams at 50 frames/s come from
// bench/media-load.ts; a share of the calls ask for a person through Twilio transcription callbacks, which land on
// whichever worker the primary hands the connection to (so often not the one holding the stream: they are handed
// over Redis). A stand-in for Twilio's REST API records when each handoff arrives.
// Per process and in total: CPU per frame (from /proc, the processes' own CPU only), memory per call (RSS under load
// minus idle RSS), newest-frame forwarding lag p50/p99 (bench/lag.ts: each frame carries its send time, the double
// reads it off each append's newest frame; a connection's port tells which worker opened it, through `ss`), and
// decision latency (callback sent → REST request received) p50/p99 (total only).
// The double is the full one (server VAD, events back), so the workers handle provider events as they would with
// OpenAI; lag is measured at its JavaScript, so its own event-loop delay is reported beside it.
// Capacity: a run holds its calls if lag p99 < 20 ms, every decision arrived and the load kept its frame rate; `held`
// is the most calls held per process count among those run (--calls, or with --find doubled from the first count until
// one is not held, then halved twice between), and twoOverOne compares two processes with one (goal 1.6×).
// References in the same run: the parse-only floor and a plain forwarder (one append per frame, like Twilio's sample,
// with the same lag figure), from bench/media-forward.ts's servers on the same number of streams (one process each).
// Usage: npm run bench:scale [-- --processes 1,2 --calls 200,400,800 --seconds 6 --warmup 3 --share 0.1 --compiled --tls --find --no-references --node-flags=--cpu-prof]
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LagReport } from './lag.js';
import { percentiles, round } from './stats.js';
import { trustSelfSigned } from './tls.js';
import { freePort } from '../test/support/ports.js';

const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '1,2' },
    calls: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '3' },
    share: { type: 'string', default: '0.1' },
    compiled: { type: 'boolean', default: false },
    tls: { type: 'boolean', default: false },
    find: { type: 'boolean', default: false },
    /** Node flags for the service (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof to see where its time goes). */
    'node-flags': { type: 'string', default: '' },
    'no-references': { type: 'boolean', default: false },
    redis: { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
});
const processList = values.processes.split(',').map(Number);
const callList = values.calls.split(',').map(Number);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const share = Number(values.share);
const ROOT = new URL('../', import.meta.url).pathname;
/** A run holds its calls when the newest frame's lag p99 is under this. */
const LAG_BOUND_MS = 20;
/** Two processes should hold at least this many times the calls of one. */
const SCALE_GOAL = 1.6;
const tls = values.tls ? trustSelfSigned() : undefined;
const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));
function child(file: string, args: string[] = []): ChildProcess {
  return fork(new URL(file, import.meta.url).pathname, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}
function next<T>(proc: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      proc.off('message', on);
      resolve(m as T);
    };
    proc.on('message', on);
    proc.once('exit', (code) => reject(new Error(`a benchmark child exited (${code}) before sending "${type}"`)));
  });
}

/** CPU seconds (user + system) and RSS of one process, from /proc. */
function sample(pid: number): { cpuS: number; rssKb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(fields[11]) + Number(fields[12])) / TICKS;
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuS, rssKb };
}

/** Twilio's REST API as far as a handoff needs it: records when each call's update arrives. */
async function restStandIn(): Promise<{ url: string; arrived: Map<string, number>; close: () => void }> {
  const arrived = new Map<string, number>();
  const server = createHttpServer((req, res) => {
    const at = performance.timeOrigin + performance.now();
    const sid = /\/Calls\/(CA[0-9a-f]{32})\.json/.exec(req.url ?? '')?.[1];
    req.resume();
    req.on('end', () => {
      if (sid && !arrived.has(sid)) arrived.set(sid, at);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sid: sid ?? 'CA0', status: 'in-progress' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, arrived, close: () => server.close() };
}

interface Measured {
  processes: number;
  calls: number;
  framesPerSec: number;
  cpuUsPerFrame: number;
  memoryPerCallKb: number;
  idleRssMb: number;
  /** Handoffs that reached the REST stand-in, of those asked for. */
  decisions: string;
  decisionMs: { p50: number; p99: number };
  /** Newest frame sent by the load → its append's arrival at the double, over the window. */
  lagMs: { n: number; p50: number; p99: number; max: number };
  /** Appends whose newest frame carried no send time: 0 while audio is forwarded whole and as received. */
  lagUnreadable: number;
  doubleLoopDelayMs: { p50: number; p99: number; max: number };
  /** Frames the double got over frames the load sent, over the window (about 1: nothing dropped or held back). */
  forwardedShare: number;
  /** Frames the load sent over the 50 a second per call it should have. */
  loadRate: number;
  held: boolean;
  perProcess: { pid: number; cpuCores: number; idleRssMb: number; loadRssMb: number; lagMs?: { n: number; p50: number; p99: number } }[];
}

async function measure(processes: number, calls: number): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'takeover-scale-'));
  const double = child('./media-double.ts', tls ? ['--tls', tls.dir] : []);
  const rest = await restStandIn();
  const load = child('./media-load.ts');
  let service: ChildProcess | undefined;
  try {
    const { url: doubleUrl } = await next<{ url: string }>(double, 'double');
    const port = await freePort();
    const accountSid = 'AC' + randomBytes(16).toString('hex');
    const args = [...values['node-flags'].split(' ').filter(Boolean), ...(values.compiled ? ['dist/server.js'] : ['--import', 'tsx', 'src/server.ts'])];
    service = spawn(process.execPath, args, {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        ALLOW_UNSIGNED: '1',
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        TWILIO_ACCOUNT_SID: accountSid,
        TWILIO_AUTH_TOKEN: randomBytes(16).toString('hex'),
        TWILIO_API_BASE_URL: rest.url,
        CLASSIFIER: 'local',
        TRANSCRIPTION_PROVIDER: 'openai',
        OPENAI_API_KEY: 'sk-bench',
        OPENAI_REALTIME_URL: doubleUrl,
        WORKERS: String(processes),
        REDIS_URL: values.redis,
        REDIS_CHANNEL: `takeover:bench:${randomBytes(4).toString('hex')}`,
        SQLITE_PATH: join(dir, 'takeover.db'),
        DATABASE_URL: '',
        AUDIT_QUEUE_DIR: join(dir, 'queue'),
        INSTANCE_ID: 'bench',
        LOG_LEVEL: 'error',
      },
    });
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const ready = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
      // Each worker answers readiness on its own; give the others time to start as well.
      if (ready && (processes === 1 || pids(service, processes).length === processes)) break;
      if (i > 600) throw new Error('the service did not get ready in 60 s');
      await sleep(0.1);
    }
    await sleep(1);
    const workers = pids(service, processes);
    const idle = workers.map(sample);

    load.send({ type: 'run', url: `${base.replace(/^http/, 'ws')}/media-stream`, accountSid, streams: calls, tracks: ['inbound'] });
    const { callSids } = await next<{ callSids: string[] }>(load, 'ready');
    // A person is asked for during the warmup too, on calls not measured (a few per worker, as the primary spreads
    // connections): otherwise the window's first decisions run cold code, tens of ms in each worker, that a running
    // service ran long before.
    const askFor = (callSid: string) => {
      const form = new URLSearchParams({
        AccountSid: accountSid,
        CallSid: callSid,
        TranscriptionSid: 'GT' + randomBytes(16).toString('hex'),
        TranscriptionEvent: 'transcription-content',
        TranscriptionData: JSON.stringify({ transcript: 'Can I talk to a real person, please?', confidence: 0.9 }),
        Final: 'true',
        Track: 'inbound_track',
        SequenceId: '1',
      });
      // A new connection each: the primary hands it to the next worker, as a load balancer would spread them.
      void fetch(`${base}/twilio/transcription`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' }, body: form }).catch(() => undefined);
    };
    const asking = callSids.slice(0, Math.round(calls * share));
    const warming = callSids.slice(asking.length, asking.length + 4 * processes);
    for (const callSid of warming) {
      askFor(callSid);
      await sleep((warmup * 0.5) / warming.length);
    }
    await sleep(warmup * 0.5);

    const s0 = workers.map(sample);
    load.send({ type: 'count' });
    double.send({ type: 'count' });
    double.send({ type: 'lag' });
    const [c0, d0] = await Promise.all([next<{ sent: number }>(load, 'count'), next<{ bytes: number }>(double, 'count'), next(double, 'lag')]);
    const t0 = performance.now();
    // A share of the calls ask for a person during the window, spread over it.
    const posted = new Map<string, number>();
    const gapMs = (seconds * 1000 * 0.8) / Math.max(1, asking.length);
    for (const callSid of asking) {
      posted.set(callSid, performance.timeOrigin + performance.now());
      askFor(callSid);
      await sleep(gapMs / 1000);
    }
    await sleep(Math.max(0, seconds - (performance.now() - t0) / 1000));
    const s1 = workers.map(sample);
    load.send({ type: 'count' });
    double.send({ type: 'count' });
    double.send({ type: 'lag' });
    const [c1, d1, lag] = await Promise.all([next<{ sent: number }>(load, 'count'), next<{ bytes: number }>(double, 'count'), next<LagReport>(double, 'lag')]);
    const wallS = (performance.now() - t0) / 1000;
    const owners = portOwners(Number(new URL(doubleUrl).port));
    load.send({ type: 'stop' });
    await next(load, 'stopped');

    const frames = c1.sent - c0.sent;
    const cpuS = s1.reduce((n, s, i) => n + s.cpuS - s0[i]!.cpuS, 0);
    const latencies = [...posted].flatMap(([sid, at]) => {
      const got = rest.arrived.get(sid);
      return got === undefined ? [] : [got - at];
    });
    const p = percentiles(latencies, [50, 99]);
    const lagP = percentiles(Object.values(lag.byPort).flat(), [50, 99]);
    const lagMs = { n: lagP.n!, p50: round(lagP.p50!, 2), p99: round(lagP.p99!, 2), max: round(lagP.max!, 2) };
    const loadRate = round(frames / wallS / (calls * 50), 3);
    return {
      processes,
      calls,
      framesPerSec: round(frames / wallS),
      cpuUsPerFrame: round((cpuS * 1e6) / frames, 2),
      memoryPerCallKb: round(s1.reduce((n, s, i) => n + s.rssKb - idle[i]!.rssKb, 0) / calls, 1),
      idleRssMb: round(idle.reduce((n, s) => n + s.rssKb, 0) / 1024, 1),
      decisions: `${latencies.length} of ${asking.length}`,
      decisionMs: { p50: round(p.p50 ?? NaN, 2), p99: round(p.p99 ?? NaN, 2) },
      lagMs,
      lagUnreadable: lag.unreadable,
      doubleLoopDelayMs: lag.loopDelayMs,
      forwardedShare: round((d1.bytes - d0.bytes) / 160 / frames, 3),
      loadRate,
      held: lagMs.n > 0 && lagMs.p99 < LAG_BOUND_MS && latencies.length === asking.length && loadRate >= 0.97,
      perProcess: workers.map((pid, i) => {
        const mine = Object.entries(lag.byPort).flatMap(([port, list]) => (owners.get(Number(port)) === pid ? list : []));
        const q = percentiles(mine, [50, 99]);
        return {
          pid,
          cpuCores: round((s1[i]!.cpuS - s0[i]!.cpuS) / wallS, 3),
          idleRssMb: round(idle[i]!.rssKb / 1024, 1),
          loadRssMb: round(s1[i]!.rssKb / 1024, 1),
          ...(mine.length ? { lagMs: { n: q.n!, p50: round(q.p50!, 2), p99: round(q.p99!, 2) } } : {}),
        };
      }),
    };
  } finally {
    if (service && service.exitCode === null) {
      const exited = new Promise((r) => service!.once('exit', r));
      service.kill('SIGINT');
      await Promise.race([exited, sleep(10)]);
      if (service.exitCode === null) service.kill('SIGKILL');
    }
    for (const c of [load, double]) if (c.exitCode === null) c.kill();
    rest.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The processes that handle calls: the service itself, or with WORKERS above 1 its workers. */
function pids(service: ChildProcess, processes: number): number[] {
  if (processes === 1) return [service.pid!];
  try {
    return execFileSync('pgrep', ['-P', String(service.pid), '-f', 'server']).toString().trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Which process holds each connection to the double: its local port → pid, from `ss` (same user, so it may see them). */
function portOwners(doublePort: number): Map<number, number> {
  const owners = new Map<number, number>();
  try {
    const out = execFileSync('ss', ['-tnpH', 'state', 'established', 'dst', `127.0.0.1:${doublePort}`]).toString();
    for (const m of out.matchAll(/127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:\d+\s+users:\(\("[^"]*",pid=(\d+)/g)) owners.set(Number(m[1]), Number(m[2]));
  } catch {
    // No ss: lag in total only.
  }
  return owners;
}

/** The floor and the plain forwarder, from bench:media's servers, on the same number of streams. */
function references(calls: number): unknown {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', 'bench/media-forward.ts', '--phases', 'reference,naive', '--streams', String(calls), '--rounds', '1', '--seconds', String(seconds), '--warmup', String(warmup), ...(tls ? ['--tls'] : [])],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  ).toString();
  const json = JSON.parse(out.slice(out.indexOf('{'))) as Record<string, unknown>;
  return json;
}

const results: Measured[] = [];
const refs: Record<number, unknown> = {};
if (values.find) {
  // Per process count: double from the first count until a run does not hold, then halve the gap twice.
  for (const processes of processList) {
    let held = 0;
    let missed = 0;
    for (let calls = callList[0]!; !missed && calls <= 6400; calls *= 2) {
      const m = await measure(processes, calls);
      results.push(m);
      if (m.held) held = calls;
      else missed = calls;
    }
    for (let step = 0; step < 2 && missed && missed - held > 50; step++) {
      const calls = Math.round((held + missed) / 2 / 10) * 10;
      const m = await measure(processes, calls);
      results.push(m);
      if (m.held) held = calls;
      else missed = calls;
    }
  }
  if (!values['no-references']) for (const calls of callList) refs[calls] = references(calls);
} else {
  for (const calls of callList) {
    if (!values['no-references']) refs[calls] = references(calls);
    for (const processes of processList) results.push(await measure(processes, calls));
  }
}

/** Per process count: the most calls held among those run, and the fewest not held above it (unknown if none). */
const capacity = processList.map((processes) => {
  const runs = results.filter((r) => r.processes === processes);
  const held = Math.max(0, ...runs.filter((r) => r.held).map((r) => r.calls));
  const above = runs.filter((r) => !r.held && r.calls > held).map((r) => r.calls);
  return { processes, held, firstNotHeld: above.length ? Math.min(...above) : null };
});
const one = capacity.find((c) => c.processes === 1);
const two = capacity.find((c) => c.processes === 2);
const twoOverOne =
  one && two && one.held > 0
    ? {
        ratio: round(two.held / one.held, 2),
        goal: SCALE_GOAL,
        // Only a bracketed capacity is a measurement: one process's held is a floor if it held every count tried,
        // two processes' if they did.
        met: two.held >= SCALE_GOAL * (one.firstNotHeld ?? Infinity) ? true : two.firstNotHeld !== null && two.firstNotHeld <= SCALE_GOAL * one.held ? false : 'not settled by the counts run',
      }
    : null;
console.log(
  JSON.stringify(
    {
      benchmark: 'scale',
      provider: tls ? 'wss://' : 'ws://',
      seconds,
      warmup,
      share,
      compiled: values.compiled,
      lagBoundMs: LAG_BOUND_MS,
      summary: {
        held: capacity,
        twoOverOne,
        runs: results.map((r) => ({ processes: r.processes, calls: r.calls, lagMs: r.lagMs, perProcessLagP99: r.perProcess.map((p) => p.lagMs?.p99 ?? null), held: r.held })),
      },
      results,
      references: refs,
    },
    null,
    2,
  ),
);
tls?.remove();
process.exit(0);
