// Verdicts in the store, and the rule-health figures read from it, on memory, SQLite and PostgreSQL: what two real
// calls through the pipeline wrote (a handoff and a privacy pause, at the service's clock), verdicts given at the
// service's clock (fractional milliseconds), read back by call and by period, purged with the call data.
import { afterAll, describe, expect, it } from 'vitest';
import { now } from '../../src/clock.js';
import { RuleBook } from '../../src/rules/rule-book.js';
import type { Verdict } from '../../src/store/types.js';
import { ruleHealth } from '../../src/supervisor/rule-health.js';
import { storeBackends } from './backends.js';
import { captureServiceWrites, replay } from './service-writes.js';

const { backends, cleanUp } = await storeBackends('verdicts');
afterAll(cleanUp);

const writes = await captureServiceWrites();
const rules = (await RuleBook.fromFile('rules/default.json', { HANDOFF_QUEUE: 'support' })).rules;
const decisions = writes.flatMap((w) => (w.op === 'appendAudit' && w.entry.kind === 'decision' && typeof w.entry.data.ruleId === 'string' ? [w.entry] : []));
const times = writes.flatMap((w) => (w.op === 'appendAudit' ? [w.entry.at] : []));
const period = { from: Math.floor(Math.min(...times)) - 1000, to: Math.ceil(Math.max(...times)) + 1000, bucketMs: 60_000 };

function verdictOn(decision: (typeof decisions)[number], kind: Verdict['kind'], at: number, note?: string): Verdict {
  const turnAt = (decision.data.timings as { transcriptAt: number }).transcriptAt;
  return {
    id: `vd_${Math.random().toString(16).slice(2, 18)}`,
    callSid: decision.callSid,
    kind,
    decisionId: decision.decisionId!,
    ruleId: decision.data.ruleId as string,
    from: turnAt,
    to: turnAt,
    ...(note ? { note } : {}),
    actor: 'supervisor:alice',
    at,
  };
}

it('the captured calls fired the frustration rules and the sensitive-data rule', () => {
  expect(new Set(decisions.map((d) => d.data.ruleId))).toEqual(new Set(['caller-frustrated', 'caller-frustrated-slow', 'sensitive-data']));
});

describe.each(backends)('$name store', (backend) => {
  it.skipIf(backend.skip)('keeps verdicts as given, reads them by call in the order given and by period', async () => {
    const store = await backend.open();
    try {
      const [first, second] = decisions;
      const a = verdictOn(first!, 'should_not_have_acted', now(), 'not upset, just loud');
      const b = verdictOn(first!, 'right', now());
      const t0 = now();
      const stretch: Verdict = { id: 'vd_stretch', callSid: second!.callSid, kind: 'should_have_acted', from: t0 + 0.25, to: t0 + 2000.5, actor: 'supervisor:bob', at: now() };
      for (const v of [a, b, stretch]) await store.saveVerdict(v);
      expect(Number.isInteger(a.at)).toBe(false);

      expect(await store.verdicts(first!.callSid)).toEqual([a, b]);
      expect(await store.verdicts(second!.callSid)).toEqual([stretch]);
      expect(await store.verdicts('CAnone')).toEqual([]);
      // By what they judge (from), oldest first: the stretch is later than the decisions' turns.
      expect((await store.queryVerdicts({})).map((v) => v.id)).toEqual([a.id, b.id, stretch.id]);
      expect((await store.queryVerdicts({ since: stretch.from })).map((v) => v.id)).toEqual([stretch.id]);
      expect((await store.queryVerdicts({ before: stretch.from })).map((v) => v.id)).toEqual([a.id, b.id]);
      expect(await store.queryVerdicts({ limit: 1 })).toHaveLength(1);
      await expect(store.saveVerdict(a)).rejects.toThrow();
    } finally {
      await store.close();
    }
  });

  it.skipIf(backend.skip)("gives each rule's figures from the service's decision entries and the standing verdicts", async () => {
    const store = await backend.open();
    try {
      for (const w of writes) await replay(store, w);
      const frustrated = decisions.find((d) => d.data.ruleId === 'caller-frustrated')!;
      const pause = decisions.find((d) => d.data.ruleId === 'sensitive-data')!;
      await store.saveVerdict(verdictOn(frustrated, 'should_not_have_acted', now()));
      await store.saveVerdict(verdictOn(frustrated, 'right', now()));
      await store.saveVerdict(verdictOn(pause, 'should_not_have_acted', now()));

      const report = await ruleHealth(store, rules, period);
      expect(report.truncated).toBe(false);
      const of = (id: string) => report.rules.find((r) => r.ruleId === id)!;
      expect(of('caller-frustrated').totals).toEqual({ hits: 1, actions: 1, right: 1, should_not_have_acted: 0, should_have_acted: 0, wrongShare: 0 });
      expect(of('sensitive-data').totals).toEqual({ hits: 1, actions: 1, right: 0, should_not_have_acted: 1, should_have_acted: 0, wrongShare: 1 });
      expect(of('caller-asks-for-a-person').totals.hits).toBe(0);
      expect(of('caller-frustrated').calls.hits).toEqual({ count: 1, callSids: [frustrated.callSid] });
      expect(of('sensitive-data').calls.should_not_have_acted.callSids).toEqual([pause.callSid]);
      // Each decision lands in the bucket of its time.
      const bucket = Math.floor((frustrated.at - period.from) / period.bucketMs);
      expect(of('caller-frustrated').buckets[bucket]).toMatchObject({ hits: 1, actions: 1 });
      // A period after the calls holds none of it.
      const later = await ruleHealth(store, rules, { from: period.to, to: period.to + 3_600_000, bucketMs: 600_000 });
      expect(later.rules.every((r) => r.totals.hits === 0 && r.totals.right + r.totals.should_not_have_acted === 0)).toBe(true);

      // Verdicts are call data: purged with the calls they judge.
      await store.purgeBefore(period.to);
      expect(await store.queryVerdicts({})).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
