// Rules through the API: every change validated, saved as a new version and run at once; rollback;
// the rules file seeds an empty store only; and the dry run replays a transcript through the rules.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RuleInput } from '../../src/rules/schema.js';
import { createStore } from '../../src/store/index.js';
import { observe } from '../../src/simulator/observe.js';
import { DryRunStoppedError, DryRunThreads, DryRunTimeoutError } from '../../src/supervisor/dry-run-thread.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import { startApiStack, scriptedClassifier, type ApiStack } from './api-stack.js';

const frustration: RuleInput = {
  id: 'shouting',
  description: 'Two angry turns in a row',
  priority: 10,
  when: { type: 'frustration', atLeast: 0.7, turns: 2 },
  action: { type: 'handoff', to: { queue: 'care' } },
};

let s: ApiStack | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

const dir = mkdtempSync(join(tmpdir(), 'takeover-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('reading and changing rules', () => {
  it('starts from the rules file as version 1', async () => {
    s = await startApiStack();
    const { status, body } = await s.api('GET', '/api/rules', { as: 'viewer' });
    expect(status).toBe(200);
    expect(body.version).toBe(1);
    expect(body.rules.map((r: { id: string }) => r.id)).toContain('caller-asks-for-a-person');
    const versions = await s.api('GET', '/api/rules/versions', { as: 'viewer' });
    expect(versions.body.versions).toEqual([{ version: 1, actor: 'system', at: expect.any(Number), change: expect.stringMatching(/^seeded from /) }]);
  });

  it('creates, changes, disables, enables and deletes a rule, each as a new version that runs at once', async () => {
    s = await startApiStack({ rules: [] });
    const running = () => s!.service.rules.rules;

    const created = await s.api('POST', '/api/rules', { body: frustration });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ version: 2, rule: { id: 'shouting', enabled: true, mode: 'enforce', cooldownSeconds: 60, scope: {} } });
    expect(running().map((r) => r.id)).toEqual(['shouting']);
    expect((await s.api('GET', '/api/rules/shouting', { as: 'viewer' })).body.priority).toBe(10);

    const changed = await s.api('PUT', '/api/rules/shouting', { body: { ...frustration, mode: 'observe' } });
    expect(changed.body).toMatchObject({ version: 3, rule: { mode: 'observe' } });
    expect(running()[0]!.mode).toBe('observe');

    const disabled = await s.api('POST', '/api/rules/shouting/disable');
    expect(disabled.body).toMatchObject({ version: 4, rule: { enabled: false } });
    expect(running()[0]!.enabled).toBe(false);
    expect((await s.api('POST', '/api/rules/shouting/enable')).body.rule.enabled).toBe(true);

    const deleted = await s.api('DELETE', '/api/rules/shouting');
    expect(deleted.body).toEqual({ version: 6 });
    expect(running()).toEqual([]);

    const versions = await s.api('GET', '/api/rules/versions', { as: 'viewer' });
    expect(versions.body.versions.map((v: { change: string; actor: string }) => `${v.actor} ${v.change}`)).toEqual([
      'supervisor:admin-sam deleted rule "shouting"',
      'supervisor:admin-sam enabled rule "shouting"',
      'supervisor:admin-sam disabled rule "shouting"',
      'supervisor:admin-sam changed rule "shouting"',
      'supervisor:admin-sam created rule "shouting"',
      'system seeded from the embedding application',
    ]);
    const v3 = await s.api('GET', '/api/rules/versions/3', { as: 'viewer' });
    expect(v3.body).toMatchObject({ version: 3, change: 'changed rule "shouting"', rules: [{ id: 'shouting', mode: 'observe' }] });
  });

  it('refuses a bad rule with 400 naming each wrong field, and keeps the running rules', async () => {
    s = await startApiStack({ rules: [] });
    const bad = await s.api('POST', '/api/rules', {
      body: { ...frustration, when: { type: 'frustration', atLeast: 1.5 }, action: { type: 'handoff', to: { queue: '' } } },
    });
    expect(bad.status).toBe(400);
    const paths = bad.body.issues.map((i: { path: string }) => i.path);
    expect(paths).toContain('when.atLeast');
    expect(paths.some((p: string) => p.startsWith('action.to'))).toBe(true);
    expect(bad.body.error).toMatch(/when\.atLeast/);

    const unknownField = await s.api('POST', '/api/rules', { body: { ...frustration, colour: 'red' } });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error).toMatch(/colour/);

    const badRegex = await s.api('POST', '/api/rules', { body: { ...frustration, when: { type: 'phrase', pattern: '([' } } });
    expect(badRegex.body.issues).toEqual([{ path: 'when.pattern', message: expect.stringMatching(/^not a valid regular expression/) }]);

    const noBody = await s.api('POST', '/api/rules');
    expect(noBody.status).toBe(400);
    expect(noBody.body.issues.map((i: { path: string }) => i.path)).toEqual(expect.arrayContaining(['id', 'when', 'action']));

    expect(s.service.rules.rules).toEqual([]);
    expect((await s.api('GET', '/api/rules')).body.version).toBe(1);
  });

  it('answers 409 to a duplicate id, 404 to an unknown one, 400 to a changed id or a reserved one', async () => {
    s = await startApiStack({ rules: [frustration] });
    expect((await s.api('POST', '/api/rules', { body: frustration })).status).toBe(409);
    expect((await s.api('PUT', '/api/rules/nope', { body: frustration })).status).toBe(400);
    expect((await s.api('PUT', '/api/rules/nope', { body: { ...frustration, id: undefined } })).status).toBe(404);
    expect((await s.api('DELETE', '/api/rules/nope')).status).toBe(404);
    expect((await s.api('POST', '/api/rules/nope/enable')).status).toBe(404);
    expect((await s.api('GET', '/api/rules/versions/99', { as: 'viewer' })).status).toBe(404);
    const renamed = await s.api('PUT', '/api/rules/shouting', { body: { ...frustration, id: 'other' } });
    expect(renamed.body.issues).toEqual([{ path: 'id', message: 'must be "shouting"' }]);
    expect((await s.api('POST', '/api/rules', { body: { ...frustration, id: 'versions' } })).status).toBe(400);
  });

  it('rolls back by making a new version equal to the old one', async () => {
    s = await startApiStack({ rules: [frustration] });
    await s.api('DELETE', '/api/rules/shouting');
    expect(s.service.rules.rules).toEqual([]);
    const back = await s.api('POST', '/api/rules/rollback', { body: { version: 1 } });
    expect(back.status).toBe(200);
    expect(back.body.version).toBe(3);
    expect(back.body.rules.map((r: { id: string }) => r.id)).toEqual(['shouting']);
    expect(s.service.rules.rules.map((r) => r.id)).toEqual(['shouting']);
    expect((await s.api('GET', '/api/rules/versions')).body.versions[0]).toMatchObject({ version: 3, change: 'rolled back to version 1' });
    expect((await s.api('POST', '/api/rules/rollback', { body: { version: 42 } })).status).toBe(404);
    expect((await s.api('POST', '/api/rules/rollback', { body: { version: 'one' } })).body.issues[0].path).toBe('version');
  });
});

describe('the store is the source of truth', () => {
  it('keeps API changes across a restart; the rules file only seeded the empty store', async () => {
    const path = join(dir, 'restart.db');
    const first = await createStore({ sqlitePath: path });
    s = await startApiStack({ store: first });
    await s.api('POST', '/api/rules', { body: frustration });
    await s.close();
    s = undefined;

    // Started again on the same file and the same rules file: the stored set (with "shouting") runs.
    const again = await createStore({ sqlitePath: path });
    s = await startApiStack({ store: again });
    expect(s.service.rules.rules.map((r) => r.id)).toContain('shouting');
    expect((await s.api('GET', '/api/rules')).body.version).toBe(2);
  });

  it('picks up a change another instance saved', async () => {
    const store = await createStore({ sqlitePath: join(dir, 'shared.db') });
    s = await startApiStack({ store, rules: [] });
    const current = await store.currentRuleSet();
    // Another instance (same database) adds a rule; this one runs it after its next refresh.
    await store.saveRuleSet({ actor: 'supervisor:elsewhere', change: 'created rule "shouting"', rules: [...current!.rules, { ...frustration, enabled: true, mode: 'enforce', scope: {}, cooldownSeconds: 60 } as never], basedOn: current!.version });
    const { RuleSets } = await import('../../src/store/rule-sets.js');
    expect(await new RuleSets(store, s.service.rules).refresh()).toBe(true);
    expect(s.service.rules.rules.map((r) => r.id)).toEqual(['shouting']);
  });
});

describe('dry run', () => {
  const angry = [
    { track: 'outbound', text: 'How can I help?' },
    { track: 'inbound', text: 'My order never came!' },
    { track: 'inbound', text: 'This is ridiculous!!' },
    { track: 'inbound', text: 'Fix it now!!!' },
  ];

  it('reports which rule would fire, on which turn, when and why, and changes nothing', async () => {
    s = await startApiStack({ rules: [frustration], classifier: scriptedClassifier });
    const r = await s.api('POST', '/api/rules/dry-run', { as: 'viewer', body: { transcript: angry } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      // No atMs posted: turns are 3 s apart, so the fourth was said at 9 s.
      fired: [{ turn: 3, atMs: 9000, ruleId: 'shouting', action: 'handoff', mode: 'enforce', reason: expect.stringMatching(/^frustration ≥ 0.7 over 2 caller turn/), note: 'acts' }],
      turns: 4,
      notHeard: [],
      stoppedAt: 3,
    });
    expect((await s.api('GET', '/api/rules')).body.version).toBe(1);
  });

  it('tries a candidate rule set instead of the running one, and names a wrong field in it', async () => {
    s = await startApiStack({ rules: [frustration], classifier: scriptedClassifier });
    const candidate = [
      { id: 'any-bang', mode: 'observe', when: { type: 'frustration', atLeast: 0.3 }, action: { type: 'alert' } },
      { id: 'person', priority: 5, when: { type: 'wants_human' }, action: { type: 'handoff', to: { queue: 'care' } } },
    ];
    const transcript = [...angry.slice(0, 2), { track: 'inbound', text: 'Get me a real person!' }];
    const r = await s.api('POST', '/api/rules/dry-run', { body: { transcript, rules: candidate } });
    expect(r.body.fired).toEqual([
      { turn: 1, atMs: 3000, ruleId: 'any-bang', action: 'alert', mode: 'observe', reason: expect.any(String), note: 'observe' },
      { turn: 2, atMs: 6000, ruleId: 'person', action: 'handoff', mode: 'enforce', reason: 'caller asked for a person', note: 'acts' },
    ]);
    const bad = await s.api('POST', '/api/rules/dry-run', { body: { transcript, rules: [{ ...candidate[0], when: { type: 'frustration' } }] } });
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0].path).toBe('rules.0.when.atLeast');
  });

  it('keeps turns a pause would not hear out of the replay', async () => {
    s = await startApiStack({ rules: [], classifier: scriptedClassifier });
    const rules = [{ id: 'card', when: { type: 'sensitive', categories: ['payment_card'] }, action: { type: 'pause', resumeAfterSeconds: 10 }, cooldownSeconds: 0 }];
    const transcript = [
      { track: 'inbound', text: 'my card number is coming', atMs: 0 },
      { track: 'inbound', text: 'four one one one', atMs: 2000 },
      { track: 'inbound', text: 'card number again', atMs: 12_000 },
    ];
    const r = await s.api('POST', '/api/rules/dry-run', { body: { transcript, rules } });
    expect(r.body.fired.map((f: { turn: number; atMs: number }) => [f.turn, f.atMs])).toEqual([[0, 0], [2, 12_000]]);
    expect(r.body.notHeard).toEqual([1]);
  });

  it('replays a recorded call from its stored (redacted) transcript', async () => {
    s = await startApiStack({ rules: [frustration], classifier: scriptedClassifier });
    const callSid = 'CA' + 'a'.repeat(32);
    const t0 = Date.now() - 60_000;
    await s.store.saveCall({ callSid, customParameters: {}, startedAt: t0, endedAt: t0 + 9000, status: 'ended' });
    for (const [i, t] of angry.entries()) await s.store.appendTranscript({ callSid, at: t0 + i * 1500, track: t.track as 'inbound', text: t.text });
    const r = await s.api('POST', '/api/rules/dry-run', { as: 'viewer', body: { callSid } });
    // The time of a stored line counts from the call's first one.
    expect(r.body.fired.map((f: { turn: number; atMs: number; ruleId: string }) => [f.turn, f.atMs, f.ruleId])).toEqual([[3, 4500, 'shouting']]);
    expect((await s.api('POST', '/api/rules/dry-run', { body: { callSid: 'CA' + 'b'.repeat(32) } })).status).toBe(404);
  });

  it('wants exactly one of transcript or callSid, and names the field', async () => {
    s = await startApiStack({ rules: [], classifier: scriptedClassifier });
    const neither = await s.api('POST', '/api/rules/dry-run', { body: {} });
    expect(neither.status).toBe(400);
    expect(neither.body.issues[0]).toEqual({ path: 'transcript', message: 'give either transcript or callSid' });
    const badTurn = await s.api('POST', '/api/rules/dry-run', { body: { transcript: [{ track: 'caller', text: 'hi' }] } });
    expect(badTurn.body.issues[0].path).toBe('transcript.0.track');
  });
});

describe('rules cannot stall the service', () => {
  const catastrophic = { ...frustration, when: { type: 'phrase', pattern: '(a+)+$' } };
  /** A rule whose `when` is `all` nested `depth` levels deep, as JSON text (JSON.stringify itself would overflow the stack). */
  const deepRule = (depth: number, id?: string) =>
    `{${id ? `"id":"${id}",` : ''}"action":{"type":"alert"},"when":${'{"type":"all","of":['.repeat(depth - 1)}{"type":"wants_human"}${']}'.repeat(depth - 1)}}`;
  /** Sends a JSON text as it is. */
  const send = async (st: ApiStack, method: string, path: string, json: string) => {
    const res = await fetch(`${st.serviceUrl}${path}`, { method, headers: { authorization: `Bearer ${st.tokens.admin}`, 'content-type': 'application/json' }, body: json });
    return { status: res.status, body: await res.json() };
  };
  const wide = { type: 'any', of: Array.from({ length: 10_000 }, () => ({ type: 'phrase', phrases: ['refund'] })) };

  /** The rule set, its versions and the rule changes in the audit trail: what a refused change must leave as it was. */
  const snapshot = async (st: ApiStack) => ({
    running: JSON.stringify(st.service.rules.rules),
    versions: (await st.api('GET', '/api/rules/versions')).body.versions,
    changes: (await st.api('GET', '/api/audit?callSid=')).body.entries.filter((e: { data: { version?: number } }) => e.data.version !== undefined),
  });

  it('refuses the catastrophic pattern (a+)+$ at save and in a dry run, naming the field; a refused change changes nothing', async () => {
    s = await startApiStack({ rules: [frustration], classifier: scriptedClassifier });
    const before = await snapshot(s);

    const posted = await s.api('POST', '/api/rules', { body: { ...catastrophic, id: 'repeat' } });
    expect(posted.status).toBe(400);
    expect(posted.body.issues).toEqual([{ path: 'when.pattern', message: expect.stringMatching(/^a repeated group that repeats inside/) }]);
    expect(posted.body.error).toMatch(/when\.pattern/);
    const put = await s.api('PUT', '/api/rules/shouting', { body: catastrophic });
    expect(put.status).toBe(400);
    expect(put.body.issues[0].path).toBe('when.pattern');
    const dry = await s.api('POST', '/api/rules/dry-run', { as: 'viewer', body: { transcript: [{ track: 'inbound', text: 'a'.repeat(32) + '!' }], rules: [frustration, { ...catastrophic, id: 'repeat' }] } });
    expect(dry.status).toBe(400);
    expect(dry.body.issues).toEqual([{ path: 'rules.1.when.pattern', message: expect.stringMatching(/^a repeated group/) }]);
    const lookbehind = await s.api('POST', '/api/rules', { body: { ...frustration, id: 'look', when: { type: 'phrase', pattern: '(?<!not )happy' } } });
    expect(lookbehind.body.issues).toEqual([{ path: 'when.pattern', message: expect.stringMatching(/^lookahead and lookbehind are not supported/) }]);

    // Nothing ran, nothing was saved; the refusals are in the audit trail as refusals (status 400, no version).
    expect(await snapshot(s)).toEqual(before);
    const refusals = (await s.api('GET', '/api/audit?callSid=')).body.entries.filter((e: { data: { status: number } }) => e.data.status === 400);
    expect(refusals.map((e: { data: { request: string } }) => e.data.request)).toEqual(['POST /api/rules', 'PUT /api/rules/:id', 'POST /api/rules']);
  });

  it('answers 400, not 500, to a rule nested 3,000 deep or with 10,000 conditions, at save and in a dry run', async () => {
    s = await startApiStack({ rules: [frustration], classifier: scriptedClassifier });
    const before = await snapshot(s);
    const posted = await send(s, 'POST', '/api/rules', deepRule(3000, 'deep'));
    expect(posted.status).toBe(400);
    expect(posted.body.issues).toEqual([{ path: expect.stringMatching(/^when(\.of\.0)+/), message: expect.stringMatching(/nested deeper than 32 levels/) }]);
    const put = await send(s, 'PUT', '/api/rules/shouting', deepRule(3000));
    expect(put.status).toBe(400);
    expect(put.body.issues[0].path).toMatch(/^when\.of\.0/);
    const dryDeep = await send(s, 'POST', '/api/rules/dry-run', `{"transcript":[{"track":"inbound","text":"hi"}],"rules":[${deepRule(3000, 'deep')}]}`);
    expect(dryDeep.status).toBe(400);
    expect(dryDeep.body.issues[0].path).toMatch(/^rules\.0\.when\.of\.0/);

    const manyConditions = await s.api('POST', '/api/rules', { body: { ...frustration, id: 'wide', when: wide } });
    expect(manyConditions.status).toBe(400);
    expect(manyConditions.body.issues).toEqual([{ path: 'when', message: expect.stringMatching(/at most 50 conditions in a rule/) }]);
    const dryWide = await s.api('POST', '/api/rules/dry-run', { body: { transcript: [{ track: 'inbound', text: 'refund' }], rules: [{ ...frustration, when: wide }] } });
    expect(dryWide.status).toBe(400);
    expect(dryWide.body.issues[0].path).toBe('rules.0.when');

    expect(await snapshot(s)).toEqual(before);
  });

  it('stops a dry run over DRY_RUN_TIMEOUT_MS with 422 and says what to do', async () => {
    s = await startApiStack({ rules: [frustration], env: { DRY_RUN_TIMEOUT_MS: '300' } });
    const transcript = Array.from({ length: 300 }, (_, i) => ({ track: 'inbound', text: `turn ${i}: ` + 'why is my bill so high '.repeat(80) }));
    const r = await s.api('POST', '/api/rules/dry-run', { as: 'viewer', body: { transcript } });
    expect(r.status).toBe(422);
    expect(r.body.error).toMatch(/took longer than 300 ms \(DRY_RUN_TIMEOUT_MS\) and was stopped: replay fewer or shorter turns/);
  });

  it('terminates the worker of a dry run over its time limit, or when the service closes', async () => {
    const turns = Array.from({ length: 300 }, (_, i) => ({ track: 'inbound' as const, text: `turn ${i}: ` + 'why is my bill so high '.repeat(80) }));
    const slow = new DryRunThreads({ timeoutMs: 50, classifier: { kind: 'local' } });
    await expect(slow.run({ turns, rules: [] })).rejects.toBeInstanceOf(DryRunTimeoutError);
    expect(slow.running).toBe(0);
    const closing = new DryRunThreads({ timeoutMs: 60_000, classifier: { kind: 'local' } });
    const run = closing.run({ turns, rules: [] });
    closing.close();
    await expect(run).rejects.toBeInstanceOf(DryRunStoppedError);
    expect(closing.running).toBe(0);
  });

  it('runs at most two dry runs at once: a third gets 503 with Retry-After', async () => {
    s = await startApiStack({ rules: [frustration] });
    const transcript = Array.from({ length: 100 }, (_, i) => ({ track: 'inbound', text: `turn ${i}: why is my bill so high` }));
    const answers = await Promise.all([1, 2, 3].map(() => s!.api('POST', '/api/rules/dry-run', { as: 'viewer', body: { transcript } })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 503]);
    const busy = answers.find((a) => a.status === 503)!;
    expect(busy.headers.get('retry-after')).toBe('5');
    expect(busy.body.error).toMatch(/dry runs are running already: try again/);
  });

  it("leaves a live call's handoff on time while a dry run takes seconds of CPU", async () => {
    // The configured (local) classifier: the dry run's worker builds its own and classifies 300 long turns there, and
    // runs ten candidate patterns with the most costly repetitions allowed over text they have never seen.
    // Lines about 0.75 s apart: room for a busy CI machine, while a dry run on the calls' loop would delay it seconds.
    s = await startApiStack({ speed: 4 });
    let seed = 1;
    const letters = () => Array.from({ length: 2000 }, () => 'abcdefghijklmnopqrstuvwxyz '[(seed = (seed * 48271) % 2147483647) % 27]).join('');
    const transcript = Array.from({ length: 300 }, () => ({ track: 'inbound', text: letters() }));
    const costly = ['(a|e|i)[a-z ]{0,5}(x|q)[a-z ]{0,5}(k|z)[a-z ]{0,5}(v|w)', '[aeiou][a-z ]{5}[xqz][a-z ]{5}[aeiou]', '(a|b|c|d)[^x]{0,5}(e|f)[^y]{0,5}(g|h)[^z]{0,5}(i|j)'];
    const rules = Array.from({ length: 10 }, (_, i) => ({ id: `costly-${i}`, when: { type: 'phrase', pattern: `${costly[i % 3]}${i}` }, action: { type: 'alert' } }));
    const asks = (await loadScenarios()).find((sc) => sc.name === 'asks-for-human')!;

    let dryAnsweredAt = Infinity;
    const dry = s.api('POST', '/api/rules/dry-run', { as: 'viewer', body: { transcript, rules } }).then((r) => {
      dryAnsweredAt = Date.now();
      return r;
    });
    const call = s.emulator.placeCall(asks);
    await call.done;
    await s.service.monitor.settle();
    const handedOffAt = call.events.find((e) => e.kind === 'rest' && e.resource === 'Calls')?.at;

    // The caller asked for a person on line 3 and was handed off, from that line's transcript, within the bound…
    const seen = observe(call);
    expect(seen).toMatchObject({ ok: true, observed: ['handoff'], triggerLine: 3 });
    expect(seen.latencyMs).toBeLessThan(1000);
    // The decision's own stage times: from the transcript reaching the service to the decision.
    const decision = (await s.store.audit(call.sid)).find((e) => e.kind === 'decision')!;
    const { transcriptAt, decidedAt } = decision.data.timings as { transcriptAt: number; decidedAt: number };
    expect(decidedAt - transcriptAt).toBeLessThan(250);
    // …while the dry run was still running.
    expect(handedOffAt).toBeLessThan(dryAnsweredAt);
    const r = await dry;
    expect(r.status).toBe(200);
    expect(r.body.turns).toBe(300);
  });
});
