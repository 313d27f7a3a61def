// End to end on the Twilio emulator: scripted callers, the service on its defaults (local classifier,
// Twilio transcription callbacks), and what the emulator records of the service's REST requests.
import { afterEach, describe, expect, it } from 'vitest';
import { WITHHELD } from '../../src/calls/monitor.js';
import { RuleBook } from '../../src/rules/rule-book.js';
import { parseRuleSet, type RuleInput } from '../../src/rules/schema.js';
import type { EmulatedCall } from '../../src/simulator/call.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { observe } from '../../src/simulator/observe.js';
import { loadScenarios, type Scenario } from '../../src/simulator/scenario.js';
import type { MemoryStore } from '../../src/store/memory.js';
import { eventually, postCallback, sid } from '../support/twilio-client.js';

const scenarios = new Map((await loadScenarios()).map((s) => [s.name, s]));
const scenario = (name: string): Scenario => scenarios.get(name)!;

let stack: LocalStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function start(rules?: RuleInput[], speed = 10): Promise<LocalStack> {
  stack = await startLocalStack({
    speed,
    env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' },
    parts: rules ? { rules: new RuleBook(parseRuleSet(rules)) } : {},
  });
  return stack;
}

async function play(s: LocalStack, sc: Scenario): Promise<EmulatedCall> {
  const call = s.emulator.placeCall(sc);
  await call.done;
  await s.service.monitor.settle();
  return call;
}

const callUpdates = (call: EmulatedCall) =>
  call.events.filter((e): e is Extract<typeof e, { kind: 'rest' }> => e.kind === 'rest' && e.resource === 'Calls');
const store = (s: LocalStack) => s.service.store as MemoryStore;

describe('walking skeleton', () => {
  it('hands the frustrated caller to the queue with exactly one call update', async () => {
    const s = await start();
    const call = await play(s, scenario('frustrated-caller'));
    const updates = callUpdates(call);
    expect(updates).toHaveLength(1);
    expect(updates[0]!.status).toBe(200);
    expect(updates[0]!.form.Twiml).toMatch(/^<\?xml[^>]*\?><Response><Say>[^<]+<\/Say><Enqueue>support<\/Enqueue><\/Response>$/);
    expect(observe(call)).toMatchObject({ ok: true, observed: ['handoff'], triggerLine: 5 });
    // The monitoring fork is stopped after the handoff.
    expect(call.events.some((e) => e.kind === 'rest' && e.resource === 'Streams/{Sid}' && e.form.Status === 'stopped')).toBe(true);
    expect(s.service.monitor.session(call.sid)?.state).toBe('handed_off');
  });

  it('leaves the calm caller alone: no REST request at all', async () => {
    const s = await start();
    const call = await play(s, scenario('calm-caller'));
    expect(call.events.filter((e) => e.kind === 'rest')).toEqual([]);
    expect(observe(call).ok).toBe(true);
    // Its turns were stored (redacted), and the call ended normally.
    expect((await s.service.store.transcript(call.sid)).length).toBe(scenario('calm-caller').lines.length);
    expect((await s.service.store.getCall(call.sid))?.status).toBe('ended');
  });

  it('keeps listening after a handoff when configured to', async () => {
    stack = await startLocalStack({ speed: 10, env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local', KEEP_LISTENING_AFTER_HANDOFF: '1' } });
    const call = await play(stack, scenario('asks-for-human'));
    expect(callUpdates(call)).toHaveLength(1);
    expect(call.events.filter((e) => e.kind === 'rest' && e.resource !== 'Calls')).toEqual([]);
  });
});

describe('rules and actions', () => {
  const workflowSid = 'WW' + 'c'.repeat(32);

  it('puts the reason, rule, frustration trend and redacted transcript in the TaskRouter task', async () => {
    const s = await start([
      { id: 'frustrated', when: { type: 'frustration', atLeast: 0.7, releaseBelow: 0.5, turns: 2 }, action: { type: 'handoff', to: { queue: 'care', workflowSid } } },
    ]);
    const call = await play(s, scenario('frustrated-caller'));
    const [update] = callUpdates(call);
    const taskXml = /<Task>(.*)<\/Task>/.exec(update!.form.Twiml!)![1]!;
    const task = JSON.parse(taskXml.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
    expect(task).toMatchObject({ type: 'takeover', callSid: call.sid, rule: 'frustrated', reason: expect.stringContaining('frustration ≥ 0.7') });
    expect(task.frustrationTrend.length).toBeGreaterThanOrEqual(2);
    expect(task.frustrationTrend.at(-1)).toBeGreaterThanOrEqual(0.5);
    expect(task.transcript.some((t: { text: string }) => t.text.includes('refund'))).toBe(true);
    expect(update!.form.Twiml).toContain(`workflowSid="${workflowSid}"`);
  });

  it('pauses on a card number: gate closed at once, stream and transcription stopped, recording paused; resumes after the set time', async () => {
    // 6x speed, resume after 1.5 s: about 9 s of the caller's audio go unheard, the expiry and security code included.
    const s = await start(
      [{ id: 'card', when: { type: 'sensitive', categories: ['payment_card'] }, action: { type: 'pause', resumeAfterSeconds: 1.5 }, cooldownSeconds: 0 }],
      6,
    );
    const sc: Scenario = {
      ...scenario('reads-card-number'),
      lines: [
        ...scenario('reads-card-number').lines,
        { speaker: 'agent', text: 'Is there anything else I can help you with today?', gapMs: 4000 },
        { speaker: 'caller', text: 'No thanks, that is everything for today.', gapMs: 400 },
      ],
    };
    const call = s.emulator.placeCall(sc);
    const session = await eventually(() => {
      const x = s.service.monitor.session(call.sid);
      return x?.state === 'paused' ? x : undefined;
    });
    expect(session.gate.isOpen).toBe(false);
    await eventually(() => call.recording?.status === 'paused', 3000, 'recording paused');
    await eventually(() => session.state === 'monitoring', 5000, 'resume after 1.5 s');
    await call.done;
    await s.service.monitor.settle();

    const rest = call.events.flatMap((e) => (e.kind === 'rest' ? [`${e.resource} ${e.form.Status ?? ''}`.trim()] : []));
    expect(rest).toEqual(['Recordings/{Sid} paused', 'Streams/{Sid} stopped', 'Transcriptions/{Sid} stopped', 'Streams', 'Transcriptions', 'Recordings/{Sid} in-progress']);
    expect(call.events.filter((e) => e.kind === 'stream-open')).toHaveLength(2);
    // Nothing the caller said while paused was stored: the expiry and security code never reached the service.
    const text = (await s.service.store.transcript(call.sid)).map((l) => l.text).join('\n');
    expect(text).not.toMatch(/twelve twenty eight|three four five/);
    expect(text).not.toMatch(/four one one one/);
    expect(text).toContain('everything for today');
    const gate = store(s).entries.filter((e) => e.callSid === call.sid && e.kind === 'gate').map((e) => [e.data.open, e.actor]);
    expect(gate).toEqual([
      [false, 'rule:card'],
      [true, 'timer'],
    ]);
  });

  it('re-creates a paused stream on the same URL, query string included', async () => {
    const s = await start([{ id: 'card', when: { type: 'sensitive', categories: ['payment_card'] }, action: { type: 'pause', resumeAfterSeconds: 1 } }], 6);
    const sc = scenario('reads-card-number');
    const twiml = s.emulator.initialTwiml(sc).replace('/media-stream"', '/media-stream?tenant=acme&amp;region=eu"');
    expect(twiml).toContain('media-stream?tenant=acme&amp;region=eu');
    const call = s.emulator.placeCall(sc, twiml);
    await call.done;
    await s.service.monitor.settle();
    const created = call.events.find((e) => e.kind === 'rest' && e.resource === 'Streams');
    expect(created).toMatchObject({ status: 200, form: { Url: 'wss://takeover.demo.invalid/media-stream?tenant=acme&region=eu', Name: 'takeover' } });
    // Twilio connected again there, with a valid signature over that URL.
    expect(call.events.filter((e) => e.kind === 'stream-open').map((e) => (e as { url: string }).url)).toEqual([
      'wss://takeover.demo.invalid/media-stream?tenant=acme&region=eu',
      'wss://takeover.demo.invalid/media-stream?tenant=acme&region=eu',
    ]);
  });

  it('forgets the words that paused the call: after the resume they are in no handoff summary or task', async () => {
    const s = await start(
      [
        { id: 'health', when: { type: 'sensitive', categories: ['health'] }, action: { type: 'pause', resumeAfterSeconds: 1 }, cooldownSeconds: 0 },
        { id: 'human', when: { type: 'phrase', phrases: ['real person'] }, action: { type: 'handoff', to: { queue: 'care', workflowSid } } },
      ],
      6,
    );
    const base = scenario('health-condition');
    const sc: Scenario = {
      ...base,
      lines: [
        ...base.lines.slice(0, 3),
        // The health words come late in the line: the final transcript closes the gate, not a partial.
        { speaker: 'caller', text: 'It has to be the morning slot please, my insulin for diabetes must stay cold.', gapMs: 400 },
        { speaker: 'agent', text: 'Understood. Is there anything else?', gapMs: 9000 },
        { speaker: 'caller', text: 'Yes, can I speak to a real person about the delivery please?', gapMs: 400 },
      ],
    };
    const call = await play(s, sc);
    const gate = store(s).entries.filter((e) => e.callSid === call.sid && e.kind === 'gate').map((e) => [e.data.open, e.actor]);
    expect(gate).toEqual([
      [false, 'rule:health'],
      [true, 'timer'],
    ]);
    const update = callUpdates(call).find((u) => u.form.Twiml?.includes('<Enqueue'));
    expect(update, 'the handoff after the resume').toBeDefined();
    const taskXml = /<Task>(.*)<\/Task>/.exec(update!.form.Twiml!)![1]!;
    const task = JSON.parse(taskXml.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
    // The task still has the conversation around it, the words about the caller's health are gone.
    expect(task.transcript.some((t: { text: string }) => t.text.includes('real person'))).toBe(true);
    expect(task.transcript.some((t: { text: string }) => t.text === WITHHELD)).toBe(true);
    expect(JSON.stringify(task)).not.toMatch(/diabetes|insulin|diagnosed/i);
  });

  it('sends the caller to a secure capture flow and listens again when it returns them to the agent', async () => {
    const s = await start(undefined, 8);
    const sc = scenario('pays-securely');
    const call = await play(s, sc);
    const rest = call.events.flatMap((e) => (e.kind === 'rest' ? [e] : []));
    // The recording first, then the caller to <Pay> (the agent stops hearing them), then our listening.
    expect(rest.map((e) => `${e.resource} ${e.form.Status ?? ''}`.trim())).toEqual([
      'Recordings/{Sid} paused',
      'Calls',
      'Streams/{Sid} stopped',
      'Transcriptions/{Sid} stopped',
      'Recordings/{Sid} in-progress',
    ]);
    const payTwiml = rest[1]!.form.Twiml!;
    expect(payTwiml).toContain('<Pay action="https://takeover.demo.invalid/twilio/secure-capture?return=https%3A%2F%2Fagent.example.com%2Fvoice"');
    // Twilio came back to the action URL and got the stream (same name and parameters) and the transcription again.
    const pay = call.events.find((e) => e.kind === 'pay');
    expect(pay).toMatchObject({ status: 200 });
    expect(call.twiml).toContain('<Parameter name="flow" value="secure-pay"/>');
    expect(call.twiml).toContain('<Redirect method="POST">https://agent.example.com/voice</Redirect>');
    expect(call.events.filter((e) => e.kind === 'stream-open')).toHaveLength(2);
    const text = (await s.service.store.transcript(call.sid)).map((l) => l.text).join('\n');
    expect(text).toContain('that is all, thanks');
    expect(text).not.toMatch(/five five five five|twelve twenty seven|nine nine one/);
    expect(observe(call)).toMatchObject({ ok: true, observed: ['pause'], resumed: true });
  });

  it('ends a paused call whose caller hangs up, found out by asking Twilio', async () => {
    const s = await start([{ id: 'card', when: { type: 'sensitive', categories: ['payment_card'] }, action: { type: 'pause', resumeAfterSeconds: 0 } }]);
    const call = s.emulator.placeCall(scenario('reads-card-number'));
    await call.done;
    await s.service.monitor.settle();
    const session = s.service.monitor.session(call.sid)!;
    expect(session.state).toBe('paused');
    s.service.monitor.tick(Date.now() + 60_000);
    await s.service.monitor.settle();
    expect(session.state).toBe('ended');
    expect((await s.service.store.getCall(call.sid))?.status).toBe('ended');
  });

  it('reports a handed-off call as handed off, never as ended first', async () => {
    const s = await start();
    const states: string[] = [];
    s.service.bus.subscribe((e) => e.type === 'call' && states.push(e.state));
    const call = await play(s, scenario('frustrated-caller'));
    expect(states).toContain('handed_off');
    expect(states).not.toContain('ended');
    expect((await s.service.store.getCall(call.sid))?.status).toBe('handed_off');
  });

  it('drops a transcript that arrives right behind the one that closed the gate', async () => {
    const s = await start([{ id: 'card', when: { type: 'sensitive', categories: ['payment_card'] }, action: { type: 'pause', resumeAfterSeconds: 0 } }]);
    const seen: string[] = [];
    const inner = s.service;
    const unsubscribe = inner.bus.subscribe((e) => e.type === 'utterance' && seen.push(e.text));
    const callSid = sid('CA');
    const base = { AccountSid: sid('AC'), CallSid: callSid, TranscriptionSid: sid('GT'), TranscriptionEvent: 'transcription-content', Final: 'true', Track: 'inbound_track' };
    const line = (n: number, transcript: string) => ({ ...base, SequenceId: String(n), TranscriptionData: JSON.stringify({ transcript }) });
    const [a, b] = await Promise.all([
      postCallback(s, '/twilio/transcription', line(1, 'my card number is 4111 1111 1111 1111')),
      postCallback(s, '/twilio/transcription', line(2, 'expiry twelve twenty eight and the code is 345')),
    ]);
    expect([a.status, b.status]).toEqual([204, 204]);
    await s.service.monitor.settle();
    unsubscribe();
    expect(s.service.monitor.session(callSid)?.state).toBe('paused');
    expect(seen.join(' ')).not.toMatch(/expiry|345|4111/);
    const stored = (await s.service.store.transcript(callSid)).map((l) => l.text);
    // The utterance that paused the call is withheld too, not only redacted.
    expect(stored).toEqual([WITHHELD]);
    expect(seen).toEqual([WITHHELD]);
    expect(s.service.monitor.session(callSid)?.counters.utterancesDropped).toBeGreaterThanOrEqual(1);
  });

  it('records an observe-mode rule as "would have handed off" and makes no REST call', async () => {
    const s = await start([{ id: 'shadow', mode: 'observe', when: { type: 'wants_human' }, action: { type: 'handoff', to: { queue: 'support' } } }]);
    const call = await play(s, scenario('asks-for-human'));
    expect(call.events.filter((e) => e.kind === 'rest')).toEqual([]);
    const audit = await s.service.store.audit(call.sid);
    expect(audit.find((e) => e.kind === 'decision')?.data).toMatchObject({ ruleId: 'shadow', mode: 'observe', note: 'observe' });
    expect(audit.find((e) => e.kind === 'outcome')?.data).toMatchObject({ result: 'observed', detail: 'would have run handoff (queue support)' });
  });

  it('retries 429 twice and makes exactly one effective update', async () => {
    const s = await start();
    s.emulator.inject('calls.update', 2, 429);
    const call = await play(s, scenario('asks-for-human'));
    expect(callUpdates(call).map((u) => u.status)).toEqual([429, 429, 200]);
    const attempts = (await s.service.store.audit(call.sid)).filter((e) => e.kind === 'attempt' && e.data.step === 'update call TwiML');
    expect(attempts.map((a) => a.data.ok)).toEqual([false, false, true]);
  });

  it('does not retry 21220 and records that the call had ended', async () => {
    const s = await start();
    s.emulator.inject('calls.update', 1, 400, 21220);
    const call = await play(s, scenario('asks-for-human'));
    expect(callUpdates(call)).toHaveLength(1);
    const audit = await s.service.store.audit(call.sid);
    expect(audit.find((e) => e.kind === 'outcome')?.data).toMatchObject({ result: 'gone' });
    expect(s.service.monitor.session(call.sid)?.state).toBe('ended');
  });

  it('changes a live call once when two rules fire on the same turn: the handoff, and no pause after it', async () => {
    const s = await start([
      { id: 'human', priority: 10, when: { type: 'wants_human' }, action: { type: 'handoff', to: { queue: 'support' } } },
      { id: 'quiet', priority: 10, when: { type: 'wants_human' }, action: { type: 'pause', resumeAfterSeconds: 0 } },
    ]);
    const call = await play(s, scenario('asks-for-human'));
    const updates = callUpdates(call);
    expect(updates.map((u) => u.status)).toEqual([200]);
    expect(updates[0]!.form.Twiml).toContain('<Enqueue>support</Enqueue>');
    // No pause: the recording was never touched, and the stream was stopped once, after the handoff.
    const rest = call.events.flatMap((e) => (e.kind === 'rest' ? [`${e.resource} ${e.form.Status ?? ''}`.trim()] : []));
    expect(rest).toEqual(['Calls', 'Streams/{Sid} stopped', 'Transcriptions/{Sid} stopped']);
    const decisions = (await s.service.store.audit(call.sid)).filter((e) => e.kind === 'decision').map((e) => [e.data.ruleId, e.data.note ?? 'acted']);
    expect(decisions).toEqual([
      ['quiet', 'outranked'],
      ['human', 'acted'],
    ]);
    expect(s.service.monitor.session(call.sid)?.state).toBe('handed_off');
  });

  it('gives one action when two rules fire on the same turn, and records the other as outranked', async () => {
    const s = await start([
      { id: 'human', priority: 10, when: { type: 'wants_human' }, action: { type: 'handoff', to: { queue: 'support' } } },
      { id: 'phrase', priority: 10, when: { type: 'phrase', phrases: ['real person'] }, action: { type: 'pause' } },
    ]);
    const callSid = sid('CA');
    const res = await postCallback(s, '/twilio/transcription', {
      AccountSid: sid('AC'),
      CallSid: callSid,
      TranscriptionSid: sid('GT'),
      TranscriptionEvent: 'transcription-content',
      TranscriptionData: JSON.stringify({ transcript: 'Can I please talk to a real person?' }),
      Final: 'true',
      Track: 'inbound_track',
      SequenceId: '1',
    });
    expect(res.status).toBe(204);
    await s.service.monitor.settle();
    const audit = await s.service.store.audit(callSid);
    const decisions = audit.filter((e) => e.kind === 'decision').map((e) => [e.data.ruleId, e.data.note ?? 'acted']);
    expect(decisions).toEqual([
      ['phrase', 'outranked'],
      ['human', 'acted'],
    ]);
    // One REST request: the handoff (the emulator has no such call, so it answers 20404 and the call counts as gone).
    expect(audit.filter((e) => e.kind === 'attempt').map((e) => e.data.step)).toEqual(['update call TwiML']);
  });

  it('writes every stage time of a decision to the audit trail and no sensitive value anywhere in it', async () => {
    const s = await start();
    const call = await play(s, scenario('reads-card-number'));
    const audit = await s.service.store.audit(call.sid);
    const decision = audit.find((e) => e.kind === 'decision')!;
    expect(decision.data.timings).toMatchObject({ transcriptAt: expect.any(Number), assessedAt: expect.any(Number), decidedAt: expect.any(Number) });
    const outcome = audit.find((e) => e.kind === 'outcome')!;
    expect(outcome.data).toMatchObject({ result: 'done' });
    // Not inside a longer number: the entries' timestamps may well contain 4111.
    expect(JSON.stringify(audit)).not.toMatch(/(?<![\d.])4111(?:[ -]?1111|(?!\d))|four one one one|one one one one/);
  });
});
