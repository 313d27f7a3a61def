// Several processes on one machine (WORKERS): Node's cluster module forks one service process per worker, all
// serving on the same port (the primary hands each new connection to the next worker). Each worker is an instance
// of its own: INSTANCE_ID gets `:wN` (N from 1, the same N when a worker is started again, so that it takes back
// what its last process left, as a restarted instance does) and its own AUDIT_QUEUE_DIR beside the configured one.
// They reach each other's calls over Redis (a Twilio callback landing on the wrong worker is handed to the holder).
//
// The primary does no call work: it starts the workers, starts again one that dies (after 1 s, doubling up to 30 s
// while it keeps dying), and on SIGTERM or SIGINT passes the signal on, waits for every worker to drain and exit,
// then exits (1 if one had to be killed at the deadline).
import cluster, { type Worker } from 'node:cluster';
import { join } from 'node:path';
import type { Config } from './config.js';

/** After the workers' own drain deadline and close time, how long the primary waits before it kills them. */
const KILL_AFTER_MS = 3000;
const RESTART_INITIAL_MS = 1000;
const RESTART_MAX_MS = 30_000;
/** A worker that ran this long before dying is restarted after the initial delay again. */
const STABLE_MS = 60_000;

/** One line of JSON on stdout, like the workers' pino lines, so one log pipeline reads both. */
function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  const levels = { info: 30, warn: 40, error: 50 };
  process.stdout.write(`${JSON.stringify({ level: levels[level], time: Date.now(), pid: process.pid, role: 'primary', ...fields, msg })}\n`);
}

/** The environment a worker runs with: its own instance id and write-queue folder, and one worker of its own. */
export function workerEnv(config: Config, n: number): Record<string, string> {
  return {
    INSTANCE_ID: `${config.lifecycle.instanceId}:w${n}`,
    AUDIT_QUEUE_DIR: join(config.auditQueue.dir, `w${n}`),
    WORKERS: '1',
  };
}

/** Runs the primary: resolves with the exit code once every worker has stopped after a signal. */
export function runPrimary(config: Config, closeMs: number): Promise<number> {
  const count = config.lifecycle.workers;
  const byWorker = new Map<Worker, { n: number; startedAt: number }>();
  const delays = new Map<number, number>();
  let stopping = false;
  let killed = false;

  const fork = (n: number) => {
    const worker = cluster.fork(workerEnv(config, n));
    byWorker.set(worker, { n, startedAt: Date.now() });
  };

  return new Promise((resolve) => {
    cluster.on('exit', (worker, code, signal) => {
      const slot = byWorker.get(worker);
      byWorker.delete(worker);
      if (!slot) return;
      if (stopping) {
        if (byWorker.size === 0) {
          log('info', 'every worker has stopped', { killed });
          resolve(killed ? 1 : 0);
        }
        return;
      }
      const ranMs = Date.now() - slot.startedAt;
      const delay = ranMs >= STABLE_MS ? RESTART_INITIAL_MS : Math.min(RESTART_MAX_MS, (delays.get(slot.n) ?? RESTART_INITIAL_MS / 2) * 2);
      delays.set(slot.n, delay);
      log('error', `worker ${slot.n} stopped (${signal ?? `exit code ${code}`}); starting it again in ${delay} ms`, { worker: slot.n, code, signal, ranMs });
      setTimeout(() => {
        if (!stopping) fork(slot.n);
      }, delay).unref();
    });

    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        // A second signal: stop now, as a single process does.
        for (const w of byWorker.keys()) w.process.kill('SIGKILL');
        return;
      }
      stopping = true;
      log('info', `${signal}: the workers drain their live calls and stop`, { workers: byWorker.size, drainSeconds: config.lifecycle.drainMs / 1000 });
      if (byWorker.size === 0) return resolve(0);
      for (const w of byWorker.keys()) w.process.kill(signal);
      setTimeout(() => {
        for (const w of byWorker.keys()) {
          killed = true;
          log('error', `worker ${byWorker.get(w)?.n} did not stop in time: killed`);
          w.process.kill('SIGKILL');
        }
      }, config.lifecycle.drainMs + closeMs + KILL_AFTER_MS).unref();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));

    log('info', `starting ${count} workers on port ${config.port}`, { workers: count, instanceId: config.lifecycle.instanceId });
    for (let n = 1; n <= count; n++) fork(n);
  });
}

export const isPrimary = (): boolean => cluster.isPrimary;
