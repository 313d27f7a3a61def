// The retention job: call data older than the retention period goes; rule history, tokens and the change audit stay.
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import { startRetention } from '../../src/store/retention.js';
import { eventually } from '../support/twilio-client.js';

const DAY = 86_400_000;

describe('retention', () => {
  it('purges what is older than the period right after start, then on every interval', async () => {
    const now = Date.now();
    const store = new MemoryStore();
    await store.saveCall({ callSid: 'CAold', customParameters: {}, startedAt: now - 40 * DAY, endedAt: now - 40 * DAY + 60_000, status: 'ended' });
    await store.saveCall({ callSid: 'CAnew', customParameters: {}, startedAt: now - DAY, endedAt: now - DAY + 60_000, status: 'ended' });
    await store.appendTranscript({ callSid: 'CAold', at: now - 40 * DAY, track: 'inbound', text: 'old' });
    await store.appendAudit({ at: now - 40 * DAY, callSid: 'CAold', kind: 'call', actor: 'twilio', data: {} });
    await store.appendAudit({ at: now - 40 * DAY, callSid: '', kind: 'supervisor', actor: 'supervisor:alice', data: { change: 'created rule "x"' } });
    await store.saveRuleSet({ actor: 'system', change: 'seed', rules: [], at: now - 400 * DAY });
    const purged: unknown[] = [];

    const stop = startRetention(store, { days: 30, intervalMs: 20, onPurged: (r) => purged.push(r) });
    await eventually(() => purged.length >= 2, 2000, 'two purges');
    stop();

    expect(purged[0]).toMatchObject({ calls: 1, transcriptLines: 1, auditEntries: 1 });
    expect(purged[1]).toMatchObject({ calls: 0, transcriptLines: 0, auditEntries: 0 });
    expect([...store.calls.keys()]).toEqual(['CAnew']);
    expect(store.lines).toEqual([]);
    expect(store.entries.map((e) => e.data.change)).toEqual(['created rule "x"']);
    expect(await store.currentRuleSet()).toBeDefined();
  });

  it('keeps everything when the period is 0', async () => {
    const store = new MemoryStore();
    await store.saveCall({ callSid: 'CAancient', customParameters: {}, startedAt: 1, status: 'ended' });
    const stop = startRetention(store, { days: 0, intervalMs: 5 });
    await new Promise((r) => setTimeout(r, 30));
    stop();
    expect(store.calls.size).toBe(1);
  });

  it('reports a failed purge and tries again later', async () => {
    const store = new MemoryStore();
    let calls = 0;
    store.purgeBefore = async () => {
      calls++;
      throw new Error('disk full');
    };
    const errors: unknown[] = [];
    const stop = startRetention(store, { days: 1, intervalMs: 10, onError: (e) => errors.push(e) });
    await eventually(() => calls >= 2, 2000, 'a second attempt');
    stop();
    expect((errors[0] as Error).message).toBe('disk full');
  });
});
