// Scale-out: the real service as an operator runs it (`src/server.ts`, or the compiled `dist/server.js` with
// --compiled) with WORKERS=N processes on one port, one Redis, one SQLite file, forwarding every call's audio to
// the OpenAI Realtime double (bench/media-double.ts, ws:// on loopback). Twilio-like streams at 50 frames/s come from
// bench/media-load.ts; a share of the calls ask for a person through Twilio transcription callbacks, which land on
// whichever worker the primary hands the connection to (so often not the one holding the stream: they are handed
// over Redis). A stand-in for Twilio's REST API records when each handoff arrives.
// Per process and in total: CPU per frame (from /proc, the processes' own CPU only), memory per call (RSS under load
// minus idle RSS), decision latency (callback sent → REST request received) p50/p99.
// References in the same run: the parse-only floor and a plain forwarder (one append per frame, like Twilio's sample),
// from bench/media-forward.ts's servers on the same number of streams (one process each).
// Not measured: the newest frame's forwarding lag (the double cannot tell one frame from another).
// Usage: npm run bench:scale [-- --processes 1,2 --calls 200 --seconds 6 --warmup 3 --share 0.1 --compiled --no-references]
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentiles, round } from './stats.js';
import { freePort } from '../test/support/ports.js';

const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '1,2' },
    calls: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '3' },
    share: { type: 'string', default: '0.1' },
    compiled: { type: 'boolean', default: false },
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
  perProcess: { cpuCores: number; idleRssMb: number; loadRssMb: number }[];
}

async function measure(processes: number, calls: number): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'takeover-scale-'));
  const double = child('./media-double.ts');
  const rest = await restStandIn();
  const load = child('./media-load.ts');
  let service: ChildProcess | undefined;
  try {
    const { url: doubleUrl } = await next<{ url: string }>(double, 'double');
    const port = await freePort();
    const accountSid = 'AC' + randomBytes(16).toString('hex');
    const args = values.compiled ? ['dist/server.js'] : ['--import', 'tsx', 'src/server.ts'];
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
    await sleep(warmup);

    const s0 = workers.map(sample);
    load.send({ type: 'count' });
    const c0 = await next<{ sent: number }>(load, 'count');
    const t0 = performance.now();
    // A share of the calls ask for a person during the window, spread over it.
    const asking = callSids.slice(0, Math.round(calls * share));
    const posted = new Map<string, number>();
    const gapMs = (seconds * 1000 * 0.8) / Math.max(1, asking.length);
    for (const callSid of asking) {
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
      posted.set(callSid, performance.timeOrigin + performance.now());
      // A new connection each: the primary hands it to the next worker, as a load balancer would spread them.
      void fetch(`${base}/twilio/transcription`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' }, body: form }).catch(() => undefined);
      await sleep(gapMs / 1000);
    }
    await sleep(Math.max(0, seconds - (performance.now() - t0) / 1000));
    const s1 = workers.map(sample);
    load.send({ type: 'count' });
    const c1 = await next<{ sent: number }>(load, 'count');
    const wallS = (performance.now() - t0) / 1000;
    load.send({ type: 'stop' });
    await next(load, 'stopped');

    const frames = c1.sent - c0.sent;
    const cpuS = s1.reduce((n, s, i) => n + s.cpuS - s0[i]!.cpuS, 0);
    const latencies = [...posted].flatMap(([sid, at]) => {
      const got = rest.arrived.get(sid);
      return got === undefined ? [] : [got - at];
    });
    const p = percentiles(latencies, [50, 99]);
    return {
      processes,
      calls,
      framesPerSec: round(frames / wallS),
      cpuUsPerFrame: round((cpuS * 1e6) / frames, 2),
      memoryPerCallKb: round(s1.reduce((n, s, i) => n + s.rssKb - idle[i]!.rssKb, 0) / calls, 1),
      idleRssMb: round(idle.reduce((n, s) => n + s.rssKb, 0) / 1024, 1),
      decisions: `${latencies.length} of ${asking.length}`,
      decisionMs: { p50: round(p.p50 ?? NaN, 2), p99: round(p.p99 ?? NaN, 2) },
      perProcess: workers.map((_, i) => ({
        cpuCores: round((s1[i]!.cpuS - s0[i]!.cpuS) / wallS, 3),
        idleRssMb: round(idle[i]!.rssKb / 1024, 1),
        loadRssMb: round(s1[i]!.rssKb / 1024, 1),
      })),
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

/** The floor and the plain forwarder, from bench:media's servers, on the same number of streams. */
function references(calls: number): unknown {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', 'bench/media-forward.ts', '--phases', 'reference,naive', '--streams', String(calls), '--rounds', '1', '--seconds', String(seconds), '--warmup', String(warmup)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  ).toString();
  const json = JSON.parse(out.slice(out.indexOf('{'))) as Record<string, unknown>;
  return json;
}

const results: Measured[] = [];
const refs: Record<number, unknown> = {};
for (const calls of callList) {
  if (!values['no-references']) refs[calls] = references(calls);
  for (const processes of processList) results.push(await measure(processes, calls));
}
console.log(JSON.stringify({ benchmark: 'scale', seconds, warmup, share, compiled: values.compiled, results, references: refs }, null, 2));
process.exit(0);
