// The service on the emulator while Twilio's API misbehaves: actions keep trying until their deadline, a failed
// one is re-armed for the caller's next request, and a failed pause is a privacy alert with the gate kept closed.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { LiveEvent } from '../../src/bus/types.js';
import type { EmulatedCall } from '../../src/simulator/call.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { loadScenarios, type Scenario } from '../../src/simulator/scenario.js';
import { RuleBook } from '../../src/rules/rule-book.js';
import { parseRuleSet, type RuleInput } from '../../src/rules/schema.js';

const scenarios = new Map((await loadScenarios()).map((s) => [s.name, s]));

let stack: LocalStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** The service on its default rules (or `rules`), with every log line kept in `logs`. */
async function start(env: Record<string, string>, speed: number, rules?: RuleInput[]): Promise<{ s: LocalStack; logs: string[] }> {
  const logs: string[] = [];
  const logDestination = new Writable({
    write(chunk, _enc, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  stack = await startLocalStack({
    speed,
    env: { LOG_LEVEL: 'warn', CLASSIFIER: 'local', ...env },
    parts: { logDestination, ...(rules ? { rules: new RuleBook(parseRuleSet(rules)) } : {}) },
  });
  return { s: stack, logs };
}

/** The first live event that matches, from now on. */
function next<T extends LiveEvent['type']>(s: LocalStack, type: T, match: (e: Extract<LiveEvent, { type: T }>) => boolean = () => true) {
  return new Promise<Extract<LiveEvent, { type: T }>>((resolve) => {
    const off = s.service.bus.subscribe((e) => {
      if (e.type === type && match(e as Extract<LiveEvent, { type: T }>)) {
        off();
        resolve(e as Extract<LiveEvent, { type: T }>);
      }
    });
  });
}

const callUpdates = (call: EmulatedCall) => call.events.filter((e): e is Extract<typeof e, { kind: 'rest' }> => e.kind === 'rest' && e.resource === 'Calls');

/** A caller who asks for a person (and, with `askAgainAfterMs`, asks again that much later), then stays on the line. */
function asksForAPerson(askAgainAfterMs?: number): Scenario {
  const base = scenarios.get('asks-for-human')!;
  return {
    ...base,
    lines: [
      ...base.lines.slice(0, 4),
      ...(askAgainAfterMs ? [{ speaker: 'caller' as const, text: 'Hello? I said I want to speak to a real person please.', gapMs: askAgainAfterMs }] : []),
      { speaker: 'caller', text: 'Okay.', gapMs: 120_000 },
    ],
  };
}

describe('actions while Twilio is unreachable or failing', () => {
  it('hands off exactly once, within the deadline, when Twilio refuses connections for 3 s', async () => {
    const { s } = await start({}, 10);
    const call = s.emulator.placeCall(asksForAPerson());
    // The outage starts as the decision is made, before its first request leaves.
    const decided = next(s, 'decision', (e) => e.callSid === call.sid && e.action === 'handoff').then((e) => {
      void s.emulator.refuseConnections(3000);
      return { at: Date.now(), id: e.decisionId };
    });
    const outcome = await next(s, 'outcome', (e) => e.callSid === call.sid);
    const { at, id } = await decided;
    expect(outcome).toMatchObject({ decisionId: id, result: 'done' });
    const tookMs = outcome.at - at;
    expect(tookMs).toBeGreaterThanOrEqual(2900);
    expect(tookMs).toBeLessThan(Number(s.config.actions.deadlineMs));
    // One update reached Twilio, and it is the handoff.
    const updates = callUpdates(call);
    expect(updates.map((u) => u.status)).toEqual([200]);
    expect(updates[0]!.form.Twiml).toContain('<Enqueue>support</Enqueue>');
    await s.service.monitor.settle();
    const attempts = (await s.service.store.audit(call.sid)).filter((e) => e.kind === 'attempt' && e.data.step === 'update call TwiML');
    expect(attempts.length).toBeGreaterThan(2);
    expect(attempts.at(-1)!.data.ok).toBe(true);
    expect(attempts.slice(0, -1).every((a) => ['ECONNREFUSED', 'ECONNRESET'].includes(a.data.network as string))).toBe(true);
    expect(s.service.monitor.session(call.sid)?.state).toBe('handed_off');
  });

  it("re-arms a handoff that failed past its deadline: the caller's next request for a person hands off", async () => {
    const { s, logs } = await start({ ACTION_DEADLINE_MS: '1000' }, 8);
    s.emulator.inject('calls.update', 1000, 500);
    const call = s.emulator.placeCall(asksForAPerson(24_000));
    const alert = await next(s, 'alert', (e) => e.callSid === call.sid);
    // Twilio is back before the caller asks again.
    s.emulator.faults.length = 0;
    expect(alert).toMatchObject({ kind: 'action', action: 'handoff', reason: expect.stringMatching(/^handoff failed: Twilio answered 500 \S+ times \(update call TwiML\)/) });
    const done = await next(s, 'outcome', (e) => e.callSid === call.sid && e.result === 'done');
    expect(done.decisionId).toBe(`${call.sid}:caller-asks-for-a-person:2`);
    const updates = callUpdates(call);
    expect(updates.filter((u) => u.status === 200)).toHaveLength(1);
    expect(updates.filter((u) => u.status === 500).length).toBeGreaterThan(2);
    expect(s.service.monitor.session(call.sid)?.state).toBe('handed_off');
    const error = logs.map((l) => JSON.parse(l)).find((l) => l.level === 50 && l.callSid === call.sid);
    expect(error).toMatchObject({ action: 'handoff', alert: 'action', status: 500, code: 20500 });
  });

  it('raises a privacy alert when a pause fails, and keeps the gate closed', async () => {
    const { s, logs } = await start({ ACTION_DEADLINE_MS: '1000' }, 6, [
      { id: 'card', when: { type: 'sensitive', categories: ['payment_card'] }, action: { type: 'pause', resumeAfterSeconds: 1 }, cooldownSeconds: 0 },
    ]);
    // Twilio will not pause the recording.
    s.emulator.inject('recordings.update', 1000, 500);
    const call = s.emulator.placeCall(scenarios.get('reads-card-number')!);
    const alert = await next(s, 'alert', (e) => e.callSid === call.sid);
    expect(alert).toMatchObject({ kind: 'privacy', action: 'pause' });
    expect(alert.reason).toMatch(/^pause failed: Twilio's recording and transcription may still be running; Twilio answered 500 \S+ times \(pause recording\)/);
    await call.done;
    await s.service.monitor.settle();
    // Past the rule's second: no timer reopened a pause that did not happen, and nothing the caller said got through.
    const session = s.service.monitor.session(call.sid)!;
    expect(session.gate.isOpen).toBe(false);
    expect(session.state).toBe('paused');
    expect(call.recording?.status).not.toBe('paused');
    // Our stream and Twilio's transcription were still stopped: less of the caller reaches anyone.
    const rest = call.events.flatMap((e) => (e.kind === 'rest' && e.status === 200 ? [`${e.resource} ${e.form.Status ?? ''}`.trim()] : []));
    expect(rest).toEqual(['Streams/{Sid} stopped', 'Transcriptions/{Sid} stopped']);
    const stored = (await s.service.store.transcript(call.sid)).map((l) => l.text).join('\n');
    expect(stored).not.toMatch(/twelve twenty eight|three four five|four one one one|goodbye/);
    // Loud: an error log with the call SID and Twilio's answer (and nothing the caller said), and a metric.
    const errors = logs.map((l) => JSON.parse(l)).filter((l) => l.level === 50 && l.callSid === call.sid);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ action: 'pause', alert: 'privacy', status: 500, code: 20500, step: 'pause recording' });
    expect(logs.join('\n')).not.toMatch(/four one one one|twelve twenty|\+1555/);
    const metrics = await (await fetch(`${s.serviceUrl}/metrics`)).text();
    expect(metrics).toMatch(/^takeover_action_failures_total\{action="pause",code="20500"\} 1$/m);
  });
});
