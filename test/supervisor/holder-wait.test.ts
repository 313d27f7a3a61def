// A Twilio transcription callback can reach an instance before the call's stream has reached any: it waits (up to 2 s)
// for an instance to take the stream, and is handed to that one as soon as it announces the call on the bus. Two real
// Redis buses; each instance's call registry is reduced to which calls it holds.
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBus } from '../../src/bus/redis.js';
import type { CallMonitor } from '../../src/calls/monitor.js';
import { HolderForwarding } from '../../src/holders.js';
import { redisReachable, redisUrl } from '../support/redis.js';

const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;

/** An instance's calls as HolderForwarding sees them: which it holds. */
function instance(bus: RedisBus, onAsked?: (callSid: string) => void) {
  const held = new Set<string>();
  const monitor = {
    draining: false,
    session: (callSid: string) => {
      onAsked?.(callSid);
      return held.has(callSid) ? { callSid } : undefined;
    },
  } as unknown as CallMonitor;
  const holders = new HolderForwarding(bus, monitor, log);
  return { held, holders, monitor };
}

const fields = (callSid: string) => ({ CallSid: callSid, TranscriptionSid: 'GT' + randomBytes(16).toString('hex'), SequenceId: '1' });

describe.skipIf(!redisReachable)('a callback that comes before the call’s stream', () => {
  const buses: RedisBus[] = [];
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });

  async function pair() {
    const channel = `takeover:test:${randomBytes(4).toString('hex')}`;
    const [busA, busB] = await Promise.all([RedisBus.connect({ url: redisUrl, channel }), RedisBus.connect({ url: redisUrl, channel })]);
    buses.push(busA, busB);
    return { busA, busB };
  }

  it('waits for the instance that takes the stream and is handled there, as soon as that instance announces the call', async () => {
    const { busA, busB } = await pair();
    const callSid = 'CA' + randomBytes(16).toString('hex');
    let asked = 0;
    // A is asked about the call before its stream arrives; the stream arrives then, and A announces the call.
    const a = instance(busA, (sid) => {
      if (sid !== callSid || asked++ > 0) return;
      setImmediate(() => {
        a.held.add(callSid);
        busA.publish({ type: 'call', callSid, state: 'monitoring', at: Date.now() });
      });
    });
    a.holders.transcription.fromOthers!((f) => ({ status: 204, body: { handledBy: 'A', sid: String((f as { CallSid: string }).CallSid) } }));
    const b = instance(busB);
    b.holders.transcription.fromOthers!(() => ({ status: 500 }));

    const answer = await b.holders.transcription.toHolder!(callSid, fields(callSid));
    expect(answer).toEqual({ status: 204, body: { handledBy: 'A', sid: callSid } });
    expect(asked, 'A was asked before it held the call, then again').toBeGreaterThanOrEqual(2);
    expect(b.held.has(callSid)).toBe(false);
  });

  it('is handled where it landed when no instance takes the call’s stream within 2 s', async () => {
    const { busA, busB } = await pair();
    instance(busA);
    const b = instance(busB);
    const callSid = 'CA' + randomBytes(16).toString('hex');
    // Another call's announcement does not wake it.
    const noise = setInterval(() => busA.publish({ type: 'call', callSid: 'CA' + '1'.repeat(32), state: 'monitoring', at: Date.now() }), 50);
    try {
      const started = Date.now();
      expect(await b.holders.transcription.toHolder!(callSid, fields(callSid))).toBeUndefined();
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    } finally {
      clearInterval(noise);
    }
  });
});
