// Verdicts and rule health through the API, on calls the emulator plays through the whole pipeline: a caller who
// asks for a person is handed off by the default rules; a supervisor marks that decision, a stretch of a calm call,
// and reads each rule's figures over the period with the calls behind them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadScenarios, type Scenario } from '../../src/simulator/scenario.js';
import { startApiStack, type ApiStack } from './api-stack.js';

let s: ApiStack;
let scenarios: Map<string, Scenario>;
let handedOff: string;
let calm: string;
let decisionId: string;
const T0 = Date.now();

beforeAll(async () => {
  s = await startApiStack({ speed: 4 });
  scenarios = new Map((await loadScenarios()).map((sc) => [sc.name, sc]));
  const a = s.emulator.placeCall(scenarios.get('asks-for-human')!);
  const b = s.emulator.placeCall(scenarios.get('calm-caller')!);
  await Promise.all([a.done, b.done]);
  await s.service.monitor.settle();
  handedOff = a.sid;
  calm = b.sid;
  const detail = await s.api('GET', `/api/calls/${handedOff}`, { as: 'viewer' });
  const decision = detail.body.decisions.find((d: { ruleId: string }) => d.ruleId === 'caller-asks-for-a-person');
  if (!decision) throw new Error(`the asks-for-human call was not handed off: ${JSON.stringify(detail.body.audit.map((e: { kind: string; actor: string; data: unknown }) => [e.kind, e.actor, e.data]))}`);
  decisionId = decision.decisionId;
});
afterAll(async () => {
  await s.close();
});

const health = (query = '') => s.api('GET', `/api/rule-health?from=${T0 - 60_000}&to=${Date.now() + 60_000}&bucketMs=60000${query}`, { as: 'viewer' });
const ruleOf = (body: { rules: { ruleId: string }[] }, id: string) => body.rules.find((r) => r.ruleId === id) as any;

describe('marking verdicts', () => {
  it('a viewer may read verdicts but not mark one; a supervisor marks a decision, and it is audited', async () => {
    const denied = await s.api('POST', `/api/calls/${handedOff}/verdicts`, { as: 'viewer', body: { kind: 'right', decisionId } });
    expect(denied.status).toBe(403);
    expect((await s.api('POST', `/api/calls/${handedOff}/verdicts`, { as: null, body: { kind: 'right', decisionId } })).status).toBe(401);

    const marked = await s.api('POST', `/api/calls/${handedOff}/verdicts`, {
      as: 'supervisor',
      body: { kind: 'should_not_have_acted', decisionId, note: 'they asked for a person at the bank, card 4111 1111 1111 1111' },
    });
    expect(marked.status).toBe(201);
    expect(marked.body.verdict).toMatchObject({ callSid: handedOff, kind: 'should_not_have_acted', decisionId, ruleId: 'caller-asks-for-a-person', actor: 'supervisor:supervisor-sam' });
    // The note is redacted like a transcript: no card number is stored.
    expect(marked.body.verdict.note).toContain('[card]');
    expect(JSON.stringify(marked.body)).not.toContain('4111');
    // The verdict's subject is the turn that fired the rule: a line of the stored transcript.
    const transcript = await s.store.transcript(handedOff);
    expect(transcript.some((l) => l.track === 'inbound' && Math.abs(l.at - marked.body.verdict.from) <= 0.5)).toBe(true);

    const read = await s.api('GET', `/api/calls/${handedOff}/verdicts`, { as: 'viewer' });
    expect(read.status).toBe(200);
    expect(read.body.verdicts).toEqual([marked.body.verdict]);

    const audit = await s.store.queryAudit({ callSid: handedOff, kind: 'supervisor' });
    const entry = audit.find((e) => (e.data.verdict as { id?: string } | undefined)?.id === marked.body.verdict.id);
    expect(entry).toMatchObject({ actor: 'supervisor:supervisor-sam', data: { status: 201, verdict: { kind: 'should_not_have_acted', decisionId } } });
    expect(JSON.stringify(audit)).not.toContain('4111');
  });

  it('refuses bad input naming the field, and unknown calls and decisions with 404', async () => {
    const post = (body: unknown, sid = handedOff) => s.api('POST', `/api/calls/${sid}/verdicts`, { as: 'supervisor', body });
    const field = async (body: unknown) => {
      const r = await post(body);
      expect(r.status).toBe(400);
      return r.body.issues.map((i: { path: string }) => i.path);
    };
    expect(await field({ decisionId })).toContain('kind');
    expect(await field({ kind: 'wrong', decisionId })).toContain('kind');
    expect(await field({ kind: 'right' })).toContain('decisionId');
    expect(await field({ kind: 'right', decisionId, stretch: { from: 1, to: 2 } })).toContain('decisionId');
    expect(await field({ kind: 'right', decisionId, note: 'x'.repeat(501) })).toContain('note');
    expect(await field({ kind: 'should_not_have_acted', stretch: { from: T0, to: Date.now() } })).toContain('kind');
    expect(await field({ kind: 'right', stretch: { from: 10, to: 5 } })).toContain('stretch.to');
    expect(await field({ kind: 'right', decisionId, ruleId: 'caller-frustrated' })).toContain('ruleId');
    expect(await field({ kind: 'right', decisionId, extra: 1 })).toEqual(['']);
    expect((await post({ kind: 'right', stretch: { from: 1000, to: 2000 } })).status).toBe(400);
    expect((await post({ kind: 'right', decisionId }, 'CA123')).status).toBe(400);

    const unknownDecision = await post({ kind: 'right', decisionId: `${handedOff}:caller-frustrated:1` });
    expect(unknownDecision.status).toBe(404);
    expect(unknownDecision.body.error).toContain('no decision');
    const unknownCall = await post({ kind: 'right', decisionId }, `CA${'0'.repeat(32)}`);
    expect(unknownCall.status).toBe(404);
    expect((await s.api('GET', `/api/calls/CA${'0'.repeat(32)}/verdicts`, { as: 'viewer' })).status).toBe(404);
  });

  it('says so when the database does not take the verdict, and keeps nothing', async () => {
    const save = s.store.saveVerdict;
    s.store.saveVerdict = async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    };
    try {
      const r = await s.api('POST', `/api/calls/${handedOff}/verdicts`, { as: 'supervisor', body: { kind: 'right', decisionId } });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('5');
      expect(r.body.error).toMatch(/^the database did not take the verdict \(.*ECONNREFUSED.*\); nothing was saved: try again/);
    } finally {
      s.store.saveVerdict = save;
    }
    expect((await s.store.verdicts(handedOff)).map((v) => v.kind)).toEqual(['should_not_have_acted']);
  });
});

describe('rule health', () => {
  it("counts each rule's hits, actions and verdicts over the period, with the calls behind each figure", async () => {
    const before = await health();
    expect(before.status).toBe(200);
    const person = ruleOf(before.body, 'caller-asks-for-a-person');
    expect(person).toMatchObject({ running: true, totals: { hits: 1, actions: 1, should_not_have_acted: 1, right: 0, wrongShare: 1 } });
    expect(person.calls.hits).toEqual({ count: 1, callSids: [handedOff] });
    expect(person.calls.should_not_have_acted.callSids).toEqual([handedOff]);
    // The rules that did not fire are listed too, at zero.
    expect(ruleOf(before.body, 'caller-frustrated').totals).toMatchObject({ hits: 0, actions: 0, wrongShare: null });
    // The time series adds up to the totals, one bucket per minute of the period.
    expect(person.buckets.length).toBe(Math.ceil((before.body.to - before.body.from) / 60_000));
    expect(person.buckets.reduce((n: number, b: { hits: number }) => n + b.hits, 0)).toBe(1);

    // A change of mind: the latest verdict on a decision is the one that counts.
    expect((await s.api('POST', `/api/calls/${handedOff}/verdicts`, { as: 'supervisor', body: { kind: 'right', decisionId } })).status).toBe(201);
    // A stretch of the calm call where nothing fired, which the frustration rule should have acted on.
    const lines = await s.store.transcript(calm);
    const stretch = { from: lines[0]!.at, to: lines.at(-1)!.at };
    const missed = await s.api('POST', `/api/calls/${calm}/verdicts`, { as: 'admin', body: { kind: 'should_have_acted', stretch, ruleId: 'caller-frustrated', note: 'sighing all along' } });
    expect(missed.status).toBe(201);
    expect(missed.body.verdict).toMatchObject({ from: stretch.from, to: stretch.to, ruleId: 'caller-frustrated' });

    const after = await health();
    expect(ruleOf(after.body, 'caller-asks-for-a-person').totals).toMatchObject({ hits: 1, right: 1, should_not_have_acted: 0, wrongShare: 0 });
    const frustrated = ruleOf(after.body, 'caller-frustrated');
    expect(frustrated.totals).toMatchObject({ hits: 0, should_have_acted: 1, wrongShare: 1 });
    expect(frustrated.calls.should_have_acted.callSids).toEqual([calm]);
  });

  it('a period that held nothing counts nothing; bounds are checked and named', async () => {
    const old = await s.api('GET', `/api/rule-health?from=${T0 - 7 * 86_400_000}&to=${T0 - 86_400_000}`, { as: 'viewer' });
    expect(old.status).toBe(200);
    expect(ruleOf(old.body, 'caller-asks-for-a-person').totals.hits).toBe(0);
    expect(old.body.buckets ?? old.body.rules[0].buckets.length).toBeLessThanOrEqual(60);

    const bad = async (query: string) => {
      const r = await s.api('GET', `/api/rule-health?${query}`, { as: 'viewer' });
      expect(r.status).toBe(400);
      return r.body.issues.map((i: { path: string }) => i.path);
    };
    expect(await bad(`from=${T0}&to=${T0 - 1}`)).toEqual(['to']);
    expect(await bad(`from=0&to=${T0}`)).toEqual(['from']);
    expect(await bad(`from=${T0 - 86_400_000}&to=${T0}&bucketMs=60000`)).toEqual(['bucketMs']);
    expect(await bad('bucketMs=10')).toEqual(['bucketMs']);
    expect(await bad('from=yesterday')).toEqual(['from']);
    expect((await s.api('GET', '/api/rule-health', { as: null })).status).toBe(401);
  });
});
