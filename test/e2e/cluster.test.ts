// WORKERS=2: two service processes on one port (Node's cluster module), one SQLite file, one Redis. The emulator's
// streams and Twilio's transcription callbacks land on whichever worker the primary hands the connection to, so a
// call's callbacks often reach the worker that does not hold its stream: each scenario must still get its action,
// once, from the worker holding the stream. A worker killed is started again under the same instance id; SIGTERM
// to the primary drains both and exits 0. Waits on the emulator's records and HTTP answers; no fixed sleeps.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { observe } from '../../src/simulator/observe.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import { eventually } from '../support/twilio-client.js';
import { RestartRig } from './restart-process.js';
import { redisReachable, redisUrl } from '../support/redis.js';

const reachable = redisReachable;

let rig: RestartRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** Which workers answer /healthz now (the primary deals connections round robin, so a few asks see them all). */
async function instances(url: string, asks = 8): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < asks; i++) {
    const r = await fetch(`${url}/healthz`, { headers: { connection: 'close' } }).catch(() => undefined);
    if (r?.ok) seen.add(((await r.json()) as { instance: string }).instance);
  }
  return seen;
}

describe.skipIf(!reachable)('WORKERS=2 on one port', () => {
  it('decides each call once, on the worker holding its stream, wherever its callbacks land; restarts a killed worker; drains on SIGTERM', async () => {
    rig = await new RestartRig({
      WORKERS: '2',
      REDIS_URL: redisUrl,
      REDIS_CHANNEL: `takeover:test:${randomBytes(4).toString('hex')}`,
      INSTANCE_ID: 'cluster-test',
      SHUTDOWN_DRAIN_SECONDS: '20',
    }).start(4);
    const service = await rig.spawnService();
    await eventually(async () => (await instances(service.url)).size === 2, 15_000, 'both workers to answer');
    expect(await instances(service.url)).toEqual(new Set(['cluster-test:w1', 'cluster-test:w2']));

    const scenarios = await loadScenarios();
    const calls = scenarios.map((s) => rig!.emulator.placeCall(s));
    await Promise.all(calls.map((c) => c.done));
    for (const call of calls) {
      const { expected, observed } = observe(call);
      expect(observed, call.scenario.name).toEqual(expected === 'none' ? [] : [expected]);
    }
    // Every callback was taken (by the holder, or handed to it), and a handoff was asked of Twilio once per call.
    for (const call of calls) {
      expect(call.events.filter((e) => e.kind === 'callback' && e.status !== 204), call.scenario.name).toEqual([]);
      const updates = call.events.filter((e) => e.kind === 'rest' && e.resource === 'Calls' && /<Enqueue|<Dial/.test(e.form.Twiml ?? ''));
      expect(updates.length, call.scenario.name).toBeLessThanOrEqual(1);
    }
    // Both workers held calls, and each call is on record once, under the worker that held its stream.
    const store = await rig.store();
    const holders = await Promise.all(calls.map(async (c) => (await store.getCall(c.sid))?.instanceId));
    expect(new Set(holders)).toEqual(new Set(['cluster-test:w1', 'cluster-test:w2']));
    for (const call of calls) {
      const lifecycle = (await store.audit(call.sid)).filter((e) => e.kind === 'call').map((e) => e.data.event);
      expect(lifecycle.filter((e) => e === 'started'), call.scenario.name).toHaveLength(1);
      // A stream re-created after <Pay> may land on the other worker: that one takes the call up, and the worker
      // that held it lets go (audited), so that one worker decides for the call at any time.
      expect(lifecycle.filter((e) => e === 'moved').length, call.scenario.name).toBe(lifecycle.filter((e) => e === 'taken up again').length);
    }

    // A worker that dies is started again, under the same instance id.
    const workers = execFileSync('pgrep', ['-P', String(service.child.pid), '-f', 'server']).toString().trim().split('\n').map(Number);
    expect(workers).toHaveLength(2);
    process.kill(workers[0]!, 'SIGKILL');
    await eventually(async () => {
      const now = execFileSync('pgrep', ['-P', String(service.child.pid), '-f', 'server']).toString().trim().split('\n').map(Number);
      return now.length === 2 && !now.includes(workers[0]!) && (await instances(service.url)).size === 2;
    }, 15_000, 'the killed worker to be started again');
    expect(service.output.join('')).toMatch(/"msg":"worker \d stopped \(SIGKILL\); starting it again in 1000 ms"/);

    const termAt = Date.now();
    service.child.kill('SIGTERM');
    const exit = await service.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - termAt).toBeLessThan(20_000);
    console.info(`cluster: ${calls.length} scenario calls on 2 workers; SIGTERM to exit ${exit.at - termAt} ms`);
  }, 120_000);
});
