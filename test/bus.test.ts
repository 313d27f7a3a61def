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

  it('says what to do when Redis cannot be reached', async () => {
    await expect(RedisBus.connect({ url: 'redis://127.0.0.1:1' })).rejects.toThrow(/REDIS_URL: cannot connect .*unset REDIS_URL/);
  });
});
