// Store.replaceTranscript on every backend: the line a partial transcript wrote (it decided something) takes the text of
// its final version, keeps its time and place, and stays one line; another call's or track's line is left alone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { now } from '../../src/clock.js';
import { QueuedStore } from '../../src/store/queued-store.js';
import { storeBackends } from './backends.js';

const { backends, cleanUp } = await storeBackends('replace');
afterAll(cleanUp);

// Times as the service writes them: from its clock, with fractions of a millisecond; two lines can share the millisecond.
const T0 = now();
const T1 = T0 + 812.4172;

describe.each(backends)('$name store', ({ open, skip }) => {
  it.skipIf(skip)("replaces the text of a partial transcript's line with its final version, in place", async () => {
    const store = await open();
    await store.appendTranscript({ callSid: 'CA1', at: T0, track: 'outbound', text: 'How can I help?' });
    await store.appendTranscript({ callSid: 'CA1', at: T1, track: 'inbound', text: 'can I please talk to' });
    await store.appendTranscript({ callSid: 'CA1', at: T1, track: 'outbound', text: 'Sure' });
    await store.appendTranscript({ callSid: 'CA2', at: T1, track: 'inbound', text: 'can I please talk to' });
    await store.replaceTranscript({ callSid: 'CA1', at: T1, track: 'inbound', text: 'can I please talk to a real person' });
    // No line at that time: nothing changes, nothing is added.
    await store.replaceTranscript({ callSid: 'CA1', at: T1 - 5, track: 'inbound', text: 'nothing here' });

    expect(await store.transcript('CA1')).toEqual([
      { callSid: 'CA1', at: T0, track: 'outbound', text: 'How can I help?' },
      { callSid: 'CA1', at: T1, track: 'inbound', text: 'can I please talk to a real person' },
      { callSid: 'CA1', at: T1, track: 'outbound', text: 'Sure' },
    ]);
    expect((await store.transcript('CA2')).map((l) => l.text)).toEqual(['can I please talk to']);
    await store.close();
  });

});

// The service writes through the write queue (in front of SQLite or PostgreSQL): a replacement made right after its
// line is written after it.
describe.each(backends.filter((b) => b.name !== 'memory'))('$name store behind the write queue', ({ open, skip }) => {
  it.skipIf(skip)('a replacement made at once follows its line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'takeover-replace-queue-'));
    const store = QueuedStore.open(await open(), { dir, maxEntries: 100, log: { error() {}, warn() {}, info() {} } });
    void store.appendTranscript({ callSid: 'CA3', at: T1, track: 'inbound', text: 'put me through to' });
    await store.replaceTranscript({ callSid: 'CA3', at: T1, track: 'inbound', text: 'put me through to someone' });
    expect((await store.transcript('CA3')).map(({ at, text }) => ({ at, text }))).toEqual([{ at: T1, text: 'put me through to someone' }]);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
