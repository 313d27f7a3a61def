// One pipeline, two clocks: every scripted call in fixtures/scenarios, played to a CallMonitor on a virtual clock and
// replayed by the dry run over the same lines, gets the same decisions: rule, action, effect and turn, silence and
// time spans included. Played with final transcripts only, the rules on time fire often (a silence of 3 s); played as
// the emulator posts them (a partial half-way through each line of four words or more), a silence rule fires where
// the call is really quiet (a partial is speech too, and a transcript has no partials). The transcript a live call
// stored replays to the decisions in its audit trail.
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ActionExecutor } from '../../src/actions/executor.js';
import type { CallControl } from '../../src/actions/twilio-rest.js';
import { LocalBus } from '../../src/bus/local.js';
import type { LiveEvent } from '../../src/bus/types.js';
import { CallMonitor, WITHHELD } from '../../src/calls/monitor.js';
import { localSummarizer } from '../../src/classification/summary.js';
import { LocalClassifier } from '../../src/classification/local.js';
import { RuleBook } from '../../src/rules/rule-book.js';
import { parseRuleSet, type Rule, type RuleInput } from '../../src/rules/schema.js';
import { loadScenarios, timeline, type Scenario } from '../../src/simulator/scenario.js';
import { MemoryStore } from '../../src/store/memory.js';
import { dryRun, storedTurns } from '../../src/supervisor/dry-run.js';
import { twilioTranscription } from '../../src/transcription/transcriber.js';
import type { Classifier } from '../../src/types.js';

const scenarios = await loadScenarios();
const classifier: Classifier = new LocalClassifier();
const defaults = (await RuleBook.fromFile(new URL('../../rules/default.json', import.meta.url).pathname, { HANDOFF_QUEUE: 'support' })).rules;

/** Rules on time beside the shipped ones: they only record (an alert, an observe-mode handoff), so every call runs to its end. */
const timed = (seconds: number): RuleInput[] => [
  { id: 'caller-quiet', priority: 10, when: { type: 'silence', seconds: seconds * 3, track: 'inbound' }, action: { type: 'alert' }, cooldownSeconds: 20 },
  { id: 'nobody-speaks', priority: 10, when: { type: 'silence', seconds, track: 'any' }, action: { type: 'alert' }, cooldownSeconds: 5 },
  {
    id: 'unhappy-for-a-while',
    mode: 'observe',
    priority: 20,
    when: { type: 'sentiment', atMost: 0, turns: 2, forSeconds: 6 },
    action: { type: 'handoff', to: { queue: 'care' } },
  },
];
const rules = (silenceSeconds: number): readonly Rule[] => [...defaults, ...parseRuleSet(timed(silenceSeconds))];

/** Within a turn, the live call records the decisions that only record before the one that acts, the dry run after. */
const byTurn = <T extends { ruleId: unknown; note: unknown; turn?: number }>(rows: T[]): T[] =>
  [...rows].sort((a, b) => (a.turn ?? 0) - (b.turn ?? 0) || Number(b.note === 'acts') - Number(a.note === 'acts') || String(a.ruleId).localeCompare(String(b.ruleId)));

/** A decision as both ways report it. */
interface Row {
  ruleId: string;
  action: string;
  note: string;
  turn: number;
}

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
let monitor: CallMonitor | undefined;
afterEach(async () => {
  await monitor?.close();
  monitor = undefined;
  vi.useRealTimers();
});

/** Twilio's REST API answering every request at once. */
const control: CallControl = {
  updateTwiml: async () => undefined,
  redirect: async () => undefined,
  end: async () => undefined,
  stopStream: async () => undefined,
  createStream: async () => 'MZ' + '1'.repeat(32),
  setRecording: async () => undefined,
  stopTranscription: async () => undefined,
  createTranscription: async () => 'GT' + '1'.repeat(32),
  status: async () => 'in-progress',
};

const callOf = (sc: Scenario) => ({ from: sc.from, to: sc.to, customParameters: { from: sc.from, to: sc.to, ...sc.parameters } });

/** Plays the scenario's lines to a CallMonitor on a virtual clock that starts with the call; its decisions, by line. */
async function live(sc: Scenario, ruleSet: readonly Rule[], partials = true): Promise<{ rows: Row[]; store: MemoryStore; callSid: string }> {
  vi.useFakeTimers({ now: T0, toFake: ['Date', 'performance', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  const store = new MemoryStore();
  const bus = new LocalBus();
  const executor = new ActionExecutor(control, (e) => void store.appendAudit({ at: Date.now(), callSid: e.callSid ?? '', ...e }), {
    deadlineMs: 10_000,
    keepListeningAfterHandoff: false,
    secureCaptureActionUrl: 'https://takeover.test.invalid/twilio/secure-capture',
  });
  monitor = new CallMonitor(
    { classifier, rules: new RuleBook([...ruleSet]), executor, store, bus, log: pino({ level: 'silent' }), transcribers: twilioTranscription, summarizer: localSummarizer },
    { mediaStreamUrl: 'wss://takeover.test.invalid/media-stream', transcriptionCallbackUrl: 'https://takeover.test.invalid/twilio/transcription', streamName: 'takeover' },
  );
  const callSid = 'CA' + 'a'.repeat(32);
  const { customParameters } = callOf(sc);
  monitor.streamStarted({ callSid, streamSid: 'MZ' + 'a'.repeat(32), tracks: ['inbound', 'outbound'], customParameters, path: '/media-stream' });

  const rows: Row[] = [];
  let line: number | undefined;
  let lastFinal = 0;
  bus.subscribe((e: LiveEvent) => {
    if (e.type === 'decision' && e.callSid === callSid) rows.push({ ruleId: e.ruleId, action: e.action, note: e.note ?? 'acts', turn: line ?? lastFinal });
  });
  const said = timeline(sc).flatMap((l) => {
    const words = l.text.split(/\s+/);
    const track = l.speaker === 'caller' ? ('inbound' as const) : ('outbound' as const);
    const partial = { index: l.index, track, at: (l.startMs + l.endMs) / 2, text: words.slice(0, Math.ceil(words.length / 2)).join(' '), final: false };
    return [...(partials && words.length >= 4 ? [partial] : []), { index: l.index, track, at: l.endMs, text: l.text, final: true }];
  });
  for (const u of said) {
    await vi.advanceTimersByTimeAsync(T0 + u.at - Date.now());
    // Handed off, the caller talks to a person: takeover's stream and transcription were stopped.
    if (monitor.session(callSid)?.state === 'handed_off') break;
    line = u.index;
    await monitor.utterance({ callSid, track: u.track, text: u.text, final: u.final, receivedAt: Date.now(), provider: 'twilio' });
    line = undefined;
    if (u.final) lastFinal = u.index;
  }
  await monitor.settle();
  return { rows, store, callSid };
}

/** The same lines through the dry run: each at the time its final transcript came. */
async function replayed(sc: Scenario, ruleSet: readonly Rule[]): Promise<Row[]> {
  const turns = timeline(sc).map((l) => ({ track: l.speaker === 'caller' ? ('inbound' as const) : ('outbound' as const), text: l.text, atMs: l.endMs }));
  const result = await dryRun({ turns, rules: ruleSet, classifier, call: callOf(sc) });
  return result.fired.map((f) => ({ ruleId: f.ruleId, action: f.action, note: f.note, turn: f.turn }));
}

describe('a dry run decides exactly as the live call', () => {
  it.each(scenarios.map((s) => [s.name, s] as const))('%s, final transcripts only', async (_name, sc) => {
    const { rows } = await live(sc, rules(3), false);
    vi.useRealTimers();
    expect(byTurn(await replayed(sc, rules(3)))).toEqual(byTurn(rows));
  });

  it.each(scenarios.map((s) => [s.name, s] as const))('%s, with partial transcripts', async (_name, sc) => {
    const { rows } = await live(sc, rules(10));
    vi.useRealTimers();
    expect(byTurn(await replayed(sc, rules(10)))).toEqual(byTurn(rows));
    // The shipped rules act where the scenario says they must.
    const acts = rows.filter((r) => r.note === 'acts');
    if (sc.expect.outcome === 'none') expect(acts).toEqual([]);
    else expect(acts[0]).toMatchObject({ action: sc.expect.outcome, turn: sc.expect.triggerLine });
  });

  it('covers silence and time spans: each rule on time fires in some scenario', async () => {
    const fired = new Set<string>();
    for (const sc of scenarios) for (const r of await replayed(sc, rules(3))) fired.add(r.ruleId);
    expect([...fired]).toEqual(expect.arrayContaining(['caller-quiet', 'nobody-speaks', 'unhappy-for-a-while']));
  });

  it('hears a caller who goes quiet, after the agent asked, on the tick the silence is long enough', async () => {
    const quiet: Scenario = {
      ...scenarios.find((s) => s.name === 'calm-caller')!,
      lines: [
        { speaker: 'agent', text: 'Thanks for calling Acme Home. How can I help you today?', gapMs: 400 },
        { speaker: 'caller', text: 'Hi, I have a question about my order.', gapMs: 400 },
        { speaker: 'agent', text: 'Sure, what is the order number?', gapMs: 400 },
        { speaker: 'caller', text: 'Hello? Are you still there?', gapMs: 12_000 },
      ],
    };
    const silence = parseRuleSet([{ id: 'caller-gone-quiet', when: { type: 'silence', seconds: 8, track: 'inbound' }, action: { type: 'handoff', to: { queue: 'care' } } }]);
    const { rows } = await live(quiet, silence);
    vi.useRealTimers();
    expect(rows).toEqual([{ ruleId: 'caller-gone-quiet', action: 'handoff', note: 'acts', turn: 2 }]);
    const dry = await dryRun({ turns: timeline(quiet).map((l) => ({ track: l.speaker === 'caller' ? 'inbound' : 'outbound', text: l.text, atMs: l.endMs })), rules: silence, classifier });
    expect(dry.fired).toMatchObject([{ ruleId: 'caller-gone-quiet', action: 'handoff', note: 'acts', turn: 2, reason: expect.stringMatching(/^the caller has said nothing for [89] s$/) }]);
    // 8 s after the caller's last words, on the whole second the live ticker would have run.
    const callerDone = timeline(quiet)[1]!.endMs;
    expect(dry.fired[0]!.atMs).toBe(Math.ceil((callerDone + 8000) / 1000) * 1000);
    expect(dry.stoppedAt).toBe(2);
  });
});

describe('a stored call replays to the decisions it took', () => {
  it.each(scenarios.map((s) => [s.name, s] as const))('%s', async (_name, sc) => {
    const { store, callSid } = await live(sc, defaults);
    vi.useRealTimers();
    const decisions = (await store.audit(callSid))
      .filter((e) => e.kind === 'decision' && e.data.ruleId !== undefined)
      .map((e) => ({ ruleId: e.data.ruleId, action: (e.data.action as { type: string }).type, note: (e.data.note as string | undefined) ?? 'acts' }));
    const lines = await store.transcript(callSid);
    const result = await dryRun({ turns: storedTurns(lines, await store.audit(callSid), T0), rules: defaults, classifier, call: callOf(sc) });
    expect(byTurn(result.fired.map((f) => ({ ruleId: f.ruleId, action: f.action, note: f.note })))).toEqual(byTurn(decisions));
    if (sc.expect.outcome !== 'none') expect(decisions.length).toBeGreaterThan(0);
    // The words that decided are on record: the pausing ones as the withheld marker, the others redacted, once each.
    if (sc.expect.outcome === 'pause') expect(lines.map((l) => l.text)).toContain(WITHHELD);
    const texts = lines.map((l) => l.text);
    expect(new Set(texts).size).toBe(texts.length);
  });
});

describe('the words that decided are stored', () => {
  it('a partial transcript that fired a rule is stored, and its final version replaces it: one line, at the time it decided', async () => {
    const sc: Scenario = {
      ...scenarios.find((s) => s.name === 'calm-caller')!,
      lines: [
        { speaker: 'agent', text: 'Thanks for calling Acme Home. How can I help you today?', gapMs: 400 },
        { speaker: 'caller', text: 'Could I talk to someone about the bill I got in May?', gapMs: 400 },
        { speaker: 'agent', text: 'Of course, one moment.', gapMs: 400 },
      ],
    };
    const watch = parseRuleSet([{ id: 'talk-to', mode: 'observe', when: { type: 'phrase', phrases: ['talk to'] }, action: { type: 'handoff', to: { queue: 'care' } } }]);
    const { rows, store, callSid } = await live(sc, watch);
    expect(rows).toEqual([{ ruleId: 'talk-to', action: 'handoff', note: 'observe', turn: 1 }]);
    const [, caller] = timeline(sc);
    expect(await store.transcript(callSid)).toEqual([
      { callSid, at: T0 + timeline(sc)[0]!.endMs, track: 'outbound', text: 'Thanks for calling Acme Home. How can I help you today?' },
      // Heard half-way through the line, when the rule fired on "Could I talk to someone about the".
      { callSid, at: T0 + (caller!.startMs + caller!.endMs) / 2, track: 'inbound', text: 'Could I talk to someone about the bill I got in May?' },
      { callSid, at: T0 + timeline(sc)[2]!.endMs, track: 'outbound', text: 'Of course, one moment.' },
    ]);
  });

  it('when the final version pauses the call, the withheld marker replaces the partial line that decided before it', async () => {
    const sc: Scenario = {
      ...scenarios.find((s) => s.name === 'calm-caller')!,
      lines: [
        { speaker: 'agent', text: 'Thanks for calling Acme Home. How can I help you today?', gapMs: 400 },
        { speaker: 'caller', text: 'I want to pay now, my card number is four one one one one one one one one one one one one one one one', gapMs: 400 },
      ],
    };
    const watch = parseRuleSet([
      { id: 'pay-now', mode: 'observe', when: { type: 'phrase', phrases: ['pay now'] }, action: { type: 'handoff', to: { queue: 'care' } } },
      { id: 'card', when: { type: 'sensitive', categories: ['payment_card'] }, action: { type: 'pause', resumeAfterSeconds: 60 } },
    ]);
    const { rows, store, callSid } = await live(sc, watch);
    expect(rows).toEqual([
      { ruleId: 'pay-now', action: 'handoff', note: 'observe', turn: 1 },
      { ruleId: 'card', action: 'pause', note: 'acts', turn: 1 },
    ]);
    const [, caller] = timeline(sc);
    expect((await store.transcript(callSid)).map(({ at, text }) => ({ at, text }))).toEqual([
      { at: T0 + timeline(sc)[0]!.endMs, text: 'Thanks for calling Acme Home. How can I help you today?' },
      { at: T0 + (caller!.startMs + caller!.endMs) / 2, text: WITHHELD },
    ]);
  });
});
