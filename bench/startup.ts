// Start-up time and idle memory of the service: the compiled JavaScript (`npm start`: node dist/server.js) against the
// same source run through tsx (`node --import tsx src/server.ts`, what the demo and tests run), measured in the same run,
// rounds interleaved. Each start is a fresh process on its own SQLite file with the default (local) classifier; start-up
// is from spawn to the first 200 from /readyz, idle RSS is read from /proc after it has been ready and idle for --idle
// seconds. Builds dist/ first (npm run build) unless --no-build.
// Usage: npm run bench:startup [-- --rounds 5 --idle 3 --no-build --flags --max-semi-space-size=64]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { round } from './stats.js';
import { freePort } from '../test/support/ports.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    idle: { type: 'string', default: '3' },
    'no-build': { type: 'boolean', default: false },
    /** Extra Node flags to measure the compiled service with as a third variant (e.g. --max-semi-space-size=64). */
    flags: { type: 'string' },
  },
});
const ROOT = new URL('../', import.meta.url).pathname;
const rounds = Number(values.rounds);
const idleS = Number(values.idle);

if (!values['no-build']) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });

const variants: Record<string, string[]> = {
  compiled: ['dist/server.js'],
  tsx: ['--import', 'tsx', 'src/server.ts'],
};
if (values.flags) variants[`compiled ${values.flags}`] = [...values.flags.split(' '), 'dist/server.js'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

interface Run {
  readyMs: number;
  idleRssMb: number;
}

async function measure(args: string[]): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'takeover-startup-'));
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: 'https://takeover.startup.invalid',
      TWILIO_ACCOUNT_SID: 'AC' + randomBytes(16).toString('hex'),
      TWILIO_AUTH_TOKEN: randomBytes(16).toString('hex'),
      TWILIO_API_BASE_URL: 'http://127.0.0.1:9',
      SQLITE_PATH: join(dir, 'takeover.db'),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode}) before it was ready: node ${args.join(' ')}`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      await sleep(5);
    }
    const readyMs = performance.now() - started;
    await sleep(idleS * 1000);
    return { readyMs: round(readyMs, 0), idleRssMb: round(rssKb(child.pid!) / 1024, 1) };
  } finally {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : round((s[mid - 1]! + s[mid]!) / 2, 1);
};

const runs = new Map<string, Run[]>(Object.keys(variants).map((k) => [k, []]));
for (let r = 0; r < rounds; r++) for (const [name, args] of Object.entries(variants)) runs.get(name)!.push(await measure(args));

const summary = Object.fromEntries(
  [...runs].map(([name, rs]) => [
    name,
    { command: `node ${variants[name]!.join(' ')}`, readyMsMedian: median(rs.map((x) => x.readyMs)), idleRssMbMedian: median(rs.map((x) => x.idleRssMb)), runs: rs },
  ]),
);
const c = summary.compiled!;
const t = summary.tsx!;
console.log(
  JSON.stringify({
    benchmark: 'start-up (spawn to /readyz 200) and idle RSS: compiled (npm start) against tsx, same run, rounds interleaved',
    rounds,
    idleSeconds: idleS,
    ...summary,
    compiledToTsx: { readyMs: round(c.readyMsMedian / t.readyMsMedian, 2), idleRss: round(c.idleRssMbMedian / t.idleRssMbMedian, 2) },
    node: process.version,
    cpus: cpus().length,
  }),
);
