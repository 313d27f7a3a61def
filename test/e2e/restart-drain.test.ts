// SIGTERM during live calls, on the real process: the instance turns new calls away (503, Retry-After) and goes
// unready, keeps serving the calls it holds until each has had its action and ended, then exits before the
// drain deadline. Waits on the emulator's records, HTTP answers and the process's exit; no fixed sleeps.
import { afterEach, describe, expect, it } from 'vitest';
import type { EmulatedCall } from '../../src/simulator/call.js';
import { observe } from '../../src/simulator/observe.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import { eventually, quietCall } from '../support/twilio-client.js';
import { RestartRig } from './restart-process.js';

const DRAIN_SECONDS = 40;
let rig: RestartRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const heard = (call: EmulatedCall) => call.events.some((e) => e.kind === 'callback' && e.event === 'transcription-content' && e.status === 204);

describe('SIGTERM drains the live calls', () => {
  it('every scenario call gets its action, new calls are turned away, /readyz goes unready while /healthz stays up, and the process exits within the deadline', async () => {
    rig = await new RestartRig({ SHUTDOWN_DRAIN_SECONDS: String(DRAIN_SECONDS) }).start(4);
    const service = await rig.spawnService();
    const scenarios = await loadScenarios();
    const calls = scenarios.map((s) => rig!.emulator.placeCall(s));
    // Mid-call: every call has been heard, and none has had its action yet.
    await eventually(() => calls.every(heard), 15_000, 'a transcript of every call');
    expect(rig.emulator.restLog()).toEqual([]);

    const termAt = Date.now();
    service.child.kill('SIGTERM');
    const ready = await eventually(async () => {
      const r = await fetch(`${service.url}/readyz`);
      return r.status === 503 ? r : undefined;
    }, 5000, '/readyz to go unready');
    expect(await ready.json()).toMatchObject({ ready: false, problems: [{ check: 'draining' }] });
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${service.url}/health`)).status).toBe(200);

    // A call that starts now goes elsewhere: its stream upgrade and its callbacks get 503.
    const late = rig.emulator.placeCall(quietCall('late', 'a call that starts during the drain'));
    const rejected = await eventually(() => late.events.find((e) => e.kind === 'stream-rejected'), 5000, 'the late stream refused');
    expect(rejected).toMatchObject({ status: 503 });
    const lateCallback = await eventually(() => late.events.find((e) => e.kind === 'callback'), 5000, 'the late callback answered');
    expect(lateCallback).toMatchObject({ status: 503 });
    late.complete('test over');

    await Promise.all(calls.map((c) => c.done));
    const lastCallEnded = Date.now();
    const exit = await service.exited;
    expect(exit.code).toBe(0);
    // Within the deadline, and soon after the last call it held ended.
    expect(exit.at - termAt).toBeLessThan(DRAIN_SECONDS * 1000);
    expect(exit.at - lastCallEnded).toBeLessThan(5000);

    // Each got its action (on which line is the scenario tests' business: a loaded machine may decide a line later).
    for (const call of calls) {
      const { expected } = observe(call);
      expect(observe(call).observed, call.scenario.name).toEqual(expected === 'none' ? [] : [expected]);
    }
    // The caller sent to <Pay> came back through this instance, during the drain.
    const pays = calls.find((c) => c.scenario.name === 'pays-securely')!;
    expect(pays.events.filter((e) => e.kind === 'pay').map((e) => (e as { status: number }).status)).toEqual([200]);
    // Nothing of the calls it held was refused.
    for (const call of calls) {
      expect(call.events.filter((e) => e.kind === 'callback' && e.status !== 204), call.scenario.name).toEqual([]);
    }
    // On record: every call it held ended, except the paused ones, which keep their due time for the next start.
    const store = await rig.store();
    for (const call of calls) {
      const record = (await store.getCall(call.sid))!;
      if (record.status === 'paused') expect(record, call.scenario.name).toMatchObject({ pausedUntil: expect.any(Number), instanceId: 'restart-test:1' });
      else expect(record.endedAt, call.scenario.name).toEqual(expect.any(Number));
    }
    console.info(`drain: SIGTERM to exit ${exit.at - termAt} ms; last call ended ${lastCallEnded - termAt} ms after SIGTERM`);
  }, 90_000);

  it('stops at the drain deadline when a call goes on, and ends that call on record', async () => {
    rig = await new RestartRig({ SHUTDOWN_DRAIN_SECONDS: '2' }).start(1);
    const service = await rig.spawnService();
    const call = rig.emulator.placeCall(quietCall('long', 'a call that outlasts the drain'));
    const store = await rig.store();
    await eventually(async () => (await store.getCall(call.sid))?.status === 'monitoring', 10_000, 'the call on record');

    const termAt = Date.now();
    service.child.kill('SIGTERM');
    const exit = await service.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - termAt).toBeGreaterThanOrEqual(2000);
    expect(exit.at - termAt).toBeLessThan(2000 + 5000);
    expect(await store.getCall(call.sid)).toMatchObject({ status: 'ended', endedAt: expect.any(Number) });
    const ended = (await store.audit(call.sid)).find((e) => e.kind === 'call' && e.data.event === 'ended');
    expect(ended?.data.why).toBe('the instance stopped');
    console.info(`drain deadline 2 s: SIGTERM to exit ${exit.at - termAt} ms`);
  }, 60_000);
});
