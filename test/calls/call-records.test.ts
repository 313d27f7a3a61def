// What a restart reads back, on each store (memory, SQLite, PostgreSQL when one answers): the instance that holds a
// call, a pause's due time and resume plan, and the open calls of one instance only.
import { afterAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../src/store/index.js';
import { storeBackends } from '../store/backends.js';

const { backends, cleanUp } = await storeBackends('records');
afterAll(cleanUp);

const T0 = 1_700_000_000_000;
const call = (n: number, extra: Partial<CallRecord> = {}): CallRecord => ({
  callSid: 'CA' + String(n).padStart(32, '0'),
  customParameters: { tenant: 'acme' },
  startedAt: T0 + n,
  status: 'monitoring',
  ...extra,
});

describe.each(backends)('$name store', ({ open, skip }) => {
  it.skipIf(skip)('keeps which instance holds a call, and a pause with its due time and resume plan', async () => {
    const store = await open();
    const paused = call(1, {
      status: 'paused',
      instanceId: 'host-a:3000',
      pausedUntil: T0 + 120_000,
      resume: {
        streams: [{ url: 'wss://t.example/media-stream?tenant=acme', name: 'takeover', track: 'both_tracks', parameters: { tenant: 'acme' } }],
        transcription: { sid: 'GT' + 'a'.repeat(32), name: 'takeover', statusCallbackUrl: 'https://t.example/twilio/transcription', track: 'both_tracks', partialResults: true },
        recordingPaused: true,
      },
    });
    await store.saveCall(paused);
    await store.saveCall(call(2, { instanceId: 'host-a:3000' }));
    await store.saveCall(call(3, { instanceId: 'host-a:3000', status: 'ended', endedAt: T0 + 10 }));
    await store.saveCall(call(4, { instanceId: 'host-b:3000' }));
    await store.saveCall(call(5));

    expect(await store.getCall(paused.callSid)).toEqual(paused);
    expect((await store.openCallsOf('host-a:3000')).map((c) => c.callSid)).toEqual([call(1).callSid, call(2).callSid]);
    expect((await store.openCallsOf('host-b:3000')).map((c) => c.callSid)).toEqual([call(4).callSid]);

    // Resumed: the due time and plan go, the holder stays.
    await store.saveCall({ ...paused, status: 'monitoring', pausedUntil: undefined, resume: undefined });
    expect(await store.getCall(paused.callSid)).toEqual({ ...call(1), instanceId: 'host-a:3000' });
    expect(await store.getCall(call(5).callSid)).toEqual(call(5));
    await store.close();
  });
});
