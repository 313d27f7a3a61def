// The rules' pure step on its own: what a call's rule state becomes after an utterance or a tick, given a caller
// who says X at time T. No clock, no I/O: the times are the ones passed in.
import { describe, expect, it } from 'vitest';
import { hear, initialState, resumed, tick, WITHHELD, type CallFrame, type CallRulesState } from '../../src/calls/pipeline.js';
import { parseRuleSet, type RuleInput } from '../../src/rules/schema.js';
import type { Assessment } from '../../src/types.js';

const frame = (rules: RuleInput[]): CallFrame => ({ callSid: 'CA1', call: { customParameters: {} }, rules: parseRuleSet(rules) });
const calm: Assessment = { frustration: 0.1, sentiment: 0.2, wantsHuman: false, intent: 'other', sensitive: [], triggers: [], confidence: 0.9, source: 'local', rationale: '', latencyMs: 0 };
const card: Assessment = { ...calm, sensitive: ['payment_card'], triggers: ['card number'] };
const say = (f: CallFrame, s: CallRulesState, at: number, text: string, assessment = calm, final = true) =>
  hear(f, s, { track: 'inbound', text, final, at, assessment }, at, { transcriptAt: at, assessedAt: at });

describe('the pipeline step', () => {
  it('pauses on the words that decide it: they stand as the withheld marker, and nothing is heard until the pause ends', () => {
    const f = frame([{ id: 'card', when: { type: 'sensitive', categories: ['payment_card'] }, action: { type: 'pause', resumeAfterSeconds: 10 }, cooldownSeconds: 0 }]);
    const paused = say(f, initialState(0), 1000, 'my card is four one one one', card);
    expect(paused).toMatchObject({ heard: true, withheld: true, decided: { act: { ruleId: 'card', action: { type: 'pause' } } } });
    expect(paused.state.turns.map((t) => t.text)).toEqual([WITHHELD]);
    expect(paused.state.pausedUntil).toBe(11_000);

    const during = say(f, paused.state, 5000, 'the expiry is twelve twenty eight', card);
    expect(during).toMatchObject({ heard: false, decided: { recorded: [] } });
    expect(during.state).toBe(paused.state);
    expect(tick(f, paused.state, 6000).decided).toEqual({ recorded: [] });

    const after = say(f, paused.state, 11_000, 'thanks, that is all');
    expect(after.heard).toBe(true);
    expect(after.state.pausedUntil).toBeUndefined();
    expect(after.state.turns.map((t) => t.text)).toEqual([WITHHELD, 'thanks, that is all']);
  });

  it('a pause with no timer lasts until resumed', () => {
    const f = frame([{ id: 'card', when: { type: 'sensitive', categories: ['payment_card'] }, action: { type: 'pause', resumeAfterSeconds: 0 } }]);
    const { state } = say(f, initialState(0), 1000, 'my card is four one one one', card);
    expect(say(f, state, 3_600_000, 'hello?').heard).toBe(false);
    expect(say(f, resumed(state), 3_600_000, 'hello?').heard).toBe(true);
  });

  it('judges a partial as the latest turn without adding it to the history; a short one only counts as speech', () => {
    const f = frame([{ id: 'person', mode: 'observe', when: { type: 'phrase', phrases: ['real person'] }, action: { type: 'alert' } }]);
    const short = say(f, initialState(0), 500, 'a real', calm, false);
    expect(short).toMatchObject({ heard: false, state: { turns: [], lastSpokeAt: { inbound: 500 } } });
    const partial = say(f, short.state, 900, 'I want a real person', calm, false);
    expect(partial.heard).toBe(true);
    expect(partial.decided.recorded.map((r) => r.decision.ruleId)).toEqual(['person']);
    expect(partial.state.turns).toEqual([]);
  });

  it('a tick fires a silence rule once the side has said nothing for long enough, then its cooldown holds it', () => {
    const f = frame([{ id: 'quiet', when: { type: 'silence', seconds: 5, track: 'inbound' }, action: { type: 'alert' }, cooldownSeconds: 10 }]);
    const { state } = say(f, initialState(0), 1000, 'hello');
    expect(tick(f, state, 5999).decided.recorded).toEqual([]);
    const fired = tick(f, state, 6000);
    expect(fired.decided.recorded.map((r) => r.decision.reason)).toEqual(['the caller has said nothing for 5 s']);
    expect(tick(f, fired.state, 15_999).decided.recorded).toEqual([]);
    expect(tick(f, fired.state, 16_000).decided.recorded).toHaveLength(1);
    // Never changed in place: the state before the firing still has no firing.
    expect(state.firing.size).toBe(0);
  });
});
