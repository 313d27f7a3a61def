// Decision overhead under load: from a final (or partial) transcript reaching the service to the REST
// request leaving for Twilio, with the local classifier and hundreds of concurrent calls streaming audio.
// The emulator runs in a child process. Reference measured in the same run: the classifier's own latency
// on the same turns, and the event loop delay of the service process.
// Usage: npm run bench:decision [-- --calls 500 --ramp-ms 10000]
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { buildService } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { MemoryStore } from '../src/store/memory.js';
import { percentiles, round } from './stats.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '500' }, 'ramp-ms': { type: 'string', default: '10000' } } });
const calls = Number(values.calls);
const rampMs = Number(values['ramp-ms']);
const publicUrl = 'https://takeover.bench.invalid';
const accountSid = 'AC' + randomBytes(16).toString('hex');
const authToken = randomBytes(16).toString('hex');

const child = fork(new URL('./decision-calls.ts', import.meta.url).pathname, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const next = <T>(type: string) => new Promise<T>((resolve) => child.on('message', (m: { type: string }) => m.type === type && resolve(m as T)));

child.send({ accountSid, authToken, publicUrl, calls, rampMs });
const { apiUrl } = await next<{ apiUrl: string }>('emulator');
const config = loadConfig({
  LOG_LEVEL: 'silent',
  PORT: '0',
  HOST: '127.0.0.1',
  PUBLIC_URL: publicUrl,
  TWILIO_ACCOUNT_SID: accountSid,
  TWILIO_AUTH_TOKEN: authToken,
  TWILIO_API_BASE_URL: apiUrl,
  CLASSIFIER: 'local',
});
// In memory: the benchmark reads the audit trail back, and leaves nothing on disk.
const store = new MemoryStore();
const service = await buildService(config, { store });
const serviceUrl = await service.app.listen({ port: 0, host: '127.0.0.1' });
const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();
// How many calls are streaming at once (the ramp starts them over rampMs; each lasts its scenario's length).
let peakLiveCalls = 0;
const sampler = setInterval(() => {
  let live = 0;
  for (const session of service.monitor.sessions.values()) if (session.openStreams.length > 0) live++;
  peakLiveCalls = Math.max(peakLiveCalls, live);
}, 100);
const cpuStart = process.cpuUsage();
const wallStart = performance.now();
child.send({ serviceUrl });
const done = await next<{ ok: number; calls: number; latenciesMs: number[] }>('done');
clearInterval(sampler);
await service.monitor.settle();
const cpu = process.cpuUsage(cpuStart);
const wallMs = performance.now() - wallStart;
loop.disable();

const entries = store.entries;
const overhead = entries.flatMap((e) => {
  const t = e.kind === 'outcome' ? (e.data.timings as { transcriptAt: number; requestSentAt?: number } | undefined) : undefined;
  return t?.requestSentAt !== undefined ? [t.requestSentAt - t.transcriptAt] : [];
});
// Where the time goes, stage by stage (transcript → assessment → decision → request).
type Timings = { transcriptAt: number; assessedAt: number; decidedAt: number; requestSentAt?: number };
const timed = entries.flatMap((e) => {
  const t = e.kind === 'outcome' ? (e.data.timings as Timings | undefined) : undefined;
  return t?.requestSentAt !== undefined ? [t as Required<Timings>] : [];
});
const stagesMs = {
  toAssessment: percentiles(timed.map((t) => t.assessedAt - t.transcriptAt)),
  toDecision: percentiles(timed.map((t) => t.decidedAt - t.assessedAt)),
  toRequest: percentiles(timed.map((t) => t.requestSentAt - t.decidedAt)),
};
const classifierMs = entries.flatMap((e) => (e.kind === 'assessment' ? [e.data.latencyMs as number] : []));
await service.close();
child.kill();

console.log(
  JSON.stringify({
    benchmark: 'decision overhead: transcript received → REST request sent (local classifier)',
    calls,
    peakLiveCalls,
    scenariosOk: `${done.ok}/${done.calls}`,
    decisions: overhead.length,
    decisionOverheadMs: percentiles(overhead),
    stagesMs,
    reference: {
      classifierMsPerCallerTurn: percentiles(classifierMs),
      eventLoopDelayMs: { p50: round(loop.percentile(50) / 1e6), p99: round(loop.percentile(99) / 1e6), max: round(loop.max / 1e6) },
    },
    emulatorSeenMs: percentiles(done.latenciesMs),
    serviceCpuCores: round((cpu.user + cpu.system) / 1000 / wallMs, 2),
    node: process.version,
  }),
);
process.exit(0);
