// Calls through the API against the Twilio emulator: a supervisor watches a live call, takes it over,
// pauses and resumes transcription, ends it; the emulator records each REST request the service made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedCall } from '../../src/simulator/call.js';
import { loadScenarios, type Scenario } from '../../src/simulator/scenario.js';
import { eventually } from '../support/twilio-client.js';
import { LONG_CALL, startApiStack, type ApiStack } from './api-stack.js';


const rest = (call: EmulatedCall) =>
  call.events.filter((e): e is Extract<typeof e, { kind: 'rest' }> => e.kind === 'rest').map((e) => ({ resource: e.resource, form: e.form, status: e.status }));

let s: ApiStack;
let scenarios: Map<string, Scenario>;
beforeAll(async () => {
  // A short action deadline: a handoff that Twilio keeps refusing fails in a second, not ten.
  s = await startApiStack({ speed: 16, env: { ACTION_DEADLINE_MS: '1000' } });
  scenarios = new Map((await loadScenarios()).map((sc) => [sc.name, sc]));
});
afterAll(async () => {
  await s.close();
});

/** Places the long call and waits until the service monitors it and has heard the caller once. */
async function liveCall(): Promise<EmulatedCall> {
  const call = s.emulator.placeCall(LONG_CALL);
  await eventually(() => (s.service.monitor.session(call.sid)?.turns.length ?? 0) >= 2, 5000, 'the caller to be heard');
  return call;
}

describe('watching calls', () => {
  it('lists a live call with masked numbers, and shows it in detail with its redacted transcript', async () => {
    const call = await liveCall();
    const list = await s.api('GET', '/api/calls?state=live', { as: 'viewer' });
    expect(list.status).toBe(200);
    const mine = list.body.calls.find((c: { callSid: string }) => c.callSid === call.sid);
    expect(mine).toMatchObject({ state: 'monitoring', live: true, from: '+1555•••0001', to: '+1555•••0099', degraded: null, endedAt: null });
    expect(JSON.stringify(list.body)).not.toContain('+15550100001');

    const detail = await s.api('GET', `/api/calls/${call.sid}`, { as: 'viewer' });
    expect(detail.status).toBe(200);
    expect(detail.body.call.callSid).toBe(call.sid);
    expect(detail.body.transcript.map((t: { track: string; text: string }) => `${t.track}: ${t.text}`)).toEqual([
      'outbound: Thanks for calling Acme Home. How can I help you today?',
      'inbound: I have a question about my last bill.',
    ]);
    expect(detail.body.assessments).toHaveLength(1);
    expect(detail.body.assessments[0]).toMatchObject({ wantsHuman: false, sensitive: [], source: 'local' });
    expect(detail.body.audit.some((e: { kind: string }) => e.kind === 'call')).toBe(true);
    await s.api('POST', `/api/calls/${call.sid}/end`, { as: 'supervisor' });
  });

  it("lists a call's custom parameters (for the board's filter, phone numbers masked) and the rules that fired on it", async () => {
    const call = s.emulator.placeCall({ ...LONG_CALL, parameters: { tenant: 'acme', callbackNumber: '+15550100777' } });
    await eventually(() => (s.service.monitor.session(call.sid)?.turns.length ?? 0) >= 2, 5000, 'the caller to be heard');
    const listed = async (sid: string) => (await s.api('GET', '/api/calls', { as: 'viewer' })).body.calls.find((c: { callSid: string }) => c.callSid === sid);
    const mine = await listed(call.sid);
    expect(mine.customParameters).toEqual({ tenant: 'acme', callbackNumber: '+1555•••0777' });
    expect(mine.ruleHits).toEqual([]);
    await s.api('POST', `/api/calls/${call.sid}/end`, { as: 'supervisor' });

    // A frustrated caller is handed off by a rule: the call names it, with when it fired.
    const frustrated = s.emulator.placeCall(scenarios.get('frustrated-caller')!);
    await frustrated.done;
    await s.service.monitor.settle();
    const hits = (await listed(frustrated.sid)).ruleHits;
    expect(hits.length).toBeGreaterThan(0);
    expect(hits[0]).toEqual({ ruleId: expect.any(String), at: expect.any(Number) });
    const decided = (await s.api('GET', `/api/calls/${frustrated.sid}`, { as: 'viewer' })).body.decisions.map((d: { ruleId: string }) => d.ruleId);
    expect(decided).toContain(hits[0].ruleId);
  });

  it('lists ended calls from the store', async () => {
    const call = s.emulator.placeCall(scenarios.get('calm-caller')!);
    await call.done;
    await s.service.monitor.settle();
    const recent = await s.api('GET', '/api/calls?state=recent&limit=10', { as: 'viewer' });
    expect(recent.body.calls.find((c: { callSid: string }) => c.callSid === call.sid)).toMatchObject({ state: 'ended', live: false, endedAt: expect.any(Number) });
    const live = await s.api('GET', '/api/calls?state=live', { as: 'viewer' });
    expect(live.body.calls.some((c: { callSid: string }) => c.callSid === call.sid)).toBe(false);
  });

  it('gives a finished call its last assessed frustration, in the list and in detail, once the service has let it go', async () => {
    const call = s.emulator.placeCall(scenarios.get('frustrated-caller')!);
    await call.done;
    await s.service.monitor.settle();
    // After a restart (or a minute after its end) the call is only in the store.
    const restarted = await startApiStack({ store: s.store });
    try {
      const detail = await restarted.api('GET', `/api/calls/${call.sid}`, { token: s.tokens.viewer });
      const last = detail.body.assessments.at(-1).frustration;
      expect(last).toBeGreaterThan(0);
      expect(detail.body.call.lastFrustration).toBe(last);
      const recent = await restarted.api('GET', '/api/calls?state=recent&limit=10', { token: s.tokens.viewer });
      expect(recent.body.calls.find((c: { callSid: string }) => c.callSid === call.sid)).toMatchObject({ live: false, lastFrustration: last });
    } finally {
      await restarted.close();
    }
  });

  it('carries a failed handoff in the call list and the call detail, in words, so a reload still shows it', async () => {
    const call = await liveCall();
    s.emulator.inject('calls.update', 1000, 500);
    try {
      const r = await s.api('POST', `/api/calls/${call.sid}/takeover`, { as: 'supervisor' });
      expect(r.body.result).toBe('failed');
      await s.service.monitor.settle();
      const failure = { kind: 'action', action: 'handoff', reason: expect.stringMatching(/^handoff failed: Twilio answered 500 .*times/), at: expect.any(Number) };
      const list = await s.api('GET', '/api/calls', { as: 'viewer' });
      expect(list.body.calls.find((c: { callSid: string }) => c.callSid === call.sid)).toMatchObject({ state: 'monitoring', lastFailure: failure });
      const detail = await s.api('GET', `/api/calls/${call.sid}`, { as: 'viewer' });
      expect(detail.body.call.lastFailure).toEqual(failure);
    } finally {
      s.emulator.faults.splice(0);
    }
    // A takeover that then succeeds clears it.
    expect((await s.api('POST', `/api/calls/${call.sid}/takeover`, { as: 'supervisor' })).body.result).toBe('done');
    await s.service.monitor.settle();
    expect((await s.api('GET', `/api/calls/${call.sid}`, { as: 'viewer' })).body.call.lastFailure).toBeNull();
    await s.api('POST', `/api/calls/${call.sid}/end`, { as: 'supervisor' });
  });

  it('keeps a card number out of everything it shows of a call', async () => {
    const call = s.emulator.placeCall(scenarios.get('reads-card-number')!);
    await call.done;
    await s.service.monitor.settle();
    const detail = await s.api('GET', `/api/calls/${call.sid}`, { as: 'viewer' });
    const text = JSON.stringify(detail.body);
    expect(text).not.toMatch(/four one one one/i);
    expect(text).not.toContain('4111');
    expect(detail.body.transcript.length).toBeGreaterThan(2);
    for (const line of detail.body.transcript) expect(line.text).not.toMatch(/\d{4,}/);
    expect(detail.body.decisions).toContainEqual(
      expect.objectContaining({ ruleId: 'sensitive-data', action: 'pause', mode: 'enforce', outcome: expect.objectContaining({ result: 'done' }) }),
    );
  });

  it('answers 404 to an unknown call and 400 naming callSid to a malformed one', async () => {
    expect((await s.api('GET', `/api/calls/CA${'f'.repeat(32)}`, { as: 'viewer' })).status).toBe(404);
    const bad = await s.api('GET', '/api/calls/not-a-sid', { as: 'viewer' });
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0].path).toBe('callSid');
    expect((await s.api('GET', '/api/calls?limit=0', { as: 'viewer' })).body.issues[0].path).toBe('limit');
  });
});

describe('acting on a live call', () => {
  it('takes a call over: the emulator records one TwiML update to the named queue, and the audit names the supervisor', async () => {
    const call = await liveCall();
    const r = await s.api('POST', `/api/calls/${call.sid}/takeover`, { as: 'supervisor', body: { queue: 'billing', reason: 'caller sounded confused' } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ result: 'done', detail: expect.stringMatching(/handed off/) });

    const updates = rest(call).filter((e) => e.resource === 'Calls');
    expect(updates).toHaveLength(1);
    expect(updates[0]!.status).toBe(200);
    expect(updates[0]!.form.Twiml).toMatch(/<Enqueue>billing<\/Enqueue>/);
    expect(s.service.monitor.session(call.sid)?.state).toBe('handed_off');

    // A second takeover changes nothing.
    const again = await s.api('POST', `/api/calls/${call.sid}/takeover`, { as: 'supervisor' });
    expect(again.body.result).toBe('skipped');
    expect(rest(call).filter((e) => e.resource === 'Calls')).toHaveLength(1);

    const detail = await s.api('GET', `/api/calls/${call.sid}`, { as: 'viewer' });
    expect(detail.body.decisions[0]).toMatchObject({ ruleId: 'manual', actor: 'supervisor:supervisor-sam', action: 'handoff', reason: 'caller sounded confused', outcome: { result: 'done' } });
    const audit = detail.body.audit.filter((e: { kind: string }) => e.kind === 'supervisor');
    expect(audit[0]).toMatchObject({ callSid: call.sid, actor: 'supervisor:supervisor-sam', data: { request: 'POST /api/calls/:callSid/takeover', status: 200 } });
    await s.api('POST', `/api/calls/${call.sid}/end`, { as: 'supervisor' });
  });

  it('pauses transcription until a supervisor resumes it, then ends the call', async () => {
    const call = await liveCall();
    const paused = await s.api('POST', `/api/calls/${call.sid}/pause`, { as: 'supervisor', body: { resumeAfterSeconds: 0 } });
    expect(paused.body.result).toBe('done');
    expect(s.service.monitor.session(call.sid)?.state).toBe('paused');
    expect(rest(call).some((e) => e.resource === 'Streams/{Sid}' && e.form.Status === 'stopped')).toBe(true);
    expect(rest(call).some((e) => e.resource === 'Recordings/{Sid}' && e.form.Status === 'paused')).toBe(true);

    const resumed = await s.api('POST', `/api/calls/${call.sid}/resume`, { as: 'supervisor' });
    expect(resumed.body).toEqual({ result: 'done', detail: 'resumed' });
    expect(rest(call).some((e) => e.resource === 'Streams' && e.status < 300)).toBe(true);
    expect(s.service.monitor.session(call.sid)?.state).toBe('monitoring');
    expect((await s.api('POST', `/api/calls/${call.sid}/resume`, { as: 'supervisor' })).body.result).toBe('skipped');

    const ended = await s.api('POST', `/api/calls/${call.sid}/end`, { as: 'supervisor' });
    expect(ended.body.result).toBe('done');
    expect(rest(call).some((e) => e.resource === 'Calls' && e.form.Status === 'completed')).toBe(true);
    await call.done;
  });

  it('refuses a bad body with the field named, and a call that is not live with 404', async () => {
    const call = await liveCall();
    const bad = await s.api('POST', `/api/calls/${call.sid}/pause`, { as: 'supervisor', body: { resumeAfterSeconds: -1 } });
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0].path).toBe('resumeAfterSeconds');
    expect((await s.api('POST', `/api/calls/${call.sid}/takeover`, { as: 'supervisor', body: { queue: 'x'.repeat(65) } })).body.issues[0].path).toBe('queue');
    expect(rest(call)).toEqual([]);
    await s.api('POST', `/api/calls/${call.sid}/end`, { as: 'supervisor' });
    expect((await s.api('POST', `/api/calls/CA${'e'.repeat(32)}/end`, { as: 'supervisor' })).status).toBe(404);
  });
});
