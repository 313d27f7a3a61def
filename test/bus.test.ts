// Live events reach every listener: in process, and across instances through Redis.
import { afterAll, describe, expect, it } from 'vitest';
import { LocalBus } from '../src/bus/local.js';
import { RedisBus } from '../src/bus/redis.js';
import type { LiveEvent } from '../src/bus/types.js';
import { eventually } from './support/twilio-client.js';

const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const reachable = await RedisBus.connect({ url, channel: 'takeover:probe' }).then(
  (b) => (b.close(), true),
  () => false,
);
if (!reachable && process.env.CI) throw new Error(`Redis is required in CI and not reachable at ${url}`);

const event = (callSid: string): LiveEvent => ({ type: 'call', callSid, state: 'monitoring', at: 1 });

describe('LocalBus', () => {
  it('delivers in order, survives a failing listener, and stops after unsubscribe', () => {
    const bus = new LocalBus();
    const got: string[] = [];
    bus.subscribe(() => {
      throw new Error('dashboard socket closed');
    });
    const off = bus.subscribe((e) => got.push(e.callSid));
    bus.publish(event('CA1'));
    bus.publish(event('CA2'));
    off();
    bus.publish(event('CA3'));
    expect(got).toEqual(['CA1', 'CA2']);
  });
});

describe.skipIf(!reachable)('RedisBus', () => {
  const buses: RedisBus[] = [];
  afterAll(async () => Promise.all(buses.map((b) => b.close())));

  it('delivers an event to the other instance once, and locally at once', async () => {
    const channel = `takeover:test:${Date.now()}`;
    const a = await RedisBus.connect({ url, channel });
    const b = await RedisBus.connect({ url, channel });
    buses.push(a, b);
    const onA: string[] = [];
    const onB: string[] = [];
    a.subscribe((e) => onA.push(e.callSid));
    b.subscribe((e) => onB.push(e.callSid));
    a.publish(event('CA-from-a'));
    expect(onA).toEqual(['CA-from-a']);
    await eventually(() => onB.length === 1, 3000, 'the other instance to get it');
    await new Promise((r) => setTimeout(r, 100));
    expect(onB).toEqual(['CA-from-a']);
    expect(onA).toEqual(['CA-from-a']);
  });

  it('gets the holder’s reply to a command, and knows at once when no instance holds the call', async () => {
    const channel = `takeover:test:cmd:${Date.now()}`;
    const [a, b, c] = await Promise.all([RedisBus.connect({ url, channel }), RedisBus.connect({ url, channel }), RedisBus.connect({ url, channel })]);
    buses.push(a, b, c);
    b.serve((command) => (command.callSid === 'CA-held-by-b' ? Promise.resolve({ result: 'done', detail: `${command.op} on b` }) : undefined));
    c.serve(() => undefined);
    const resume = (callSid: string) => ({ op: 'resume' as const, callSid, actor: 'test' });
    expect(await a.request(resume('CA-held-by-b'))).toEqual({ kind: 'reply', reply: { result: 'done', detail: 'resume on b' } });
    const asked = Date.now();
    expect(await a.request(resume('CA-held-by-nobody'))).toEqual({ kind: 'none' });
    expect(Date.now() - asked).toBeLessThan(1000);
  });

  it('waits for a holder that has taken the command for longer than it waits for an answer', async () => {
    const channel = `takeover:test:slow:${Date.now()}`;
    const [a, b] = await Promise.all([RedisBus.connect({ url, channel }), RedisBus.connect({ url, channel })]);
    buses.push(a, b);
    let finish = (_: { result: string; detail: string }) => {};
    b.serve(() => new Promise((resolve) => (finish = resolve)));
    // 200 ms to answer; the holder says "taken" at once and finishes only when the test lets it, after that.
    const answer = a.request({ op: 'resume', callSid: 'CA-slow', actor: 'test' }, 200);
    // The 200 ms answer window passes while the holder works: nothing to wait on but the time itself.
    await new Promise((r) => setTimeout(r, 400));
    finish({ result: 'done', detail: 'resumed, slowly' });
    expect(await answer).toEqual({ kind: 'reply', reply: { result: 'done', detail: 'resumed, slowly' } });
  });

  it('says what to do when Redis cannot be reached', async () => {
    await expect(RedisBus.connect({ url: 'redis://127.0.0.1:1' })).rejects.toThrow(/REDIS_URL: cannot connect .*unset REDIS_URL/);
  });
});
