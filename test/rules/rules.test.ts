// Supervisors' rules: what a valid rule looks like, how a bad one is refused, and when rules fire.
import { describe, expect, it } from 'vitest';
import { decide, type RuleFiring } from '../../src/rules/decide.js';
import { evaluateRules, type AssessedTurn } from '../../src/rules/evaluate.js';
import { RuleBook } from '../../src/rules/rule-book.js';
import { parseRule, RuleValidationError, type RuleInput } from '../../src/rules/schema.js';
import type { Assessment } from '../../src/types.js';

const assessment = (over: Partial<Assessment> = {}): Assessment => ({
  frustration: 0,
  sentiment: 0,
  wantsHuman: false,
  intent: 'other',
  sensitive: [],
  triggers: [],
  confidence: 0.9,
  source: 'local',
  rationale: '',
  latencyMs: 0.1,
  ...over,
});

let clock = 0;
const caller = (a: Partial<Assessment>, text = 'words'): AssessedTurn => ({ at: (clock += 5000), track: 'inbound', text, assessment: assessment(a) });
const agent = (text: string): AssessedTurn => ({ at: (clock += 5000), track: 'outbound', text });

const handoff = { type: 'handoff', to: { queue: 'support' } } as const;
const rule = (r: Partial<RuleInput> & Pick<RuleInput, 'when'>) => parseRule({ id: 'r1', action: handoff, ...r });
const ctx = (turns: AssessedTurn[], extra: { degraded?: boolean; customParameters?: Record<string, string>; to?: string } = {}) => ({
  call: { customParameters: extra.customParameters ?? {}, to: extra.to },
  turns,
  degraded: extra.degraded ?? false,
  now: turns.at(-1)?.at ?? 0,
});

describe('rule validation', () => {
  it('fills defaults for a minimal rule', () => {
    const r = rule({ when: { type: 'wants_human' } });
    expect(r).toMatchObject({ enabled: true, mode: 'enforce', priority: 0, cooldownSeconds: 60, when: { type: 'wants_human', times: 1 } });
  });

  it('refuses a bad rule and names the field', () => {
    const bad = (input: unknown) => {
      try {
        parseRule(input);
      } catch (err) {
        expect(err).toBeInstanceOf(RuleValidationError);
        return (err as RuleValidationError).issues.map((i) => i.path);
      }
      throw new Error('accepted');
    };
    expect(bad({ id: 'x', when: { type: 'frustration', atLeast: 1.5 }, action: handoff })).toContain('when.atLeast');
    expect(bad({ id: 'x', when: { type: 'sensitive', categories: ['shoe_size'] }, action: handoff })).toContain('when.categories.0');
    expect(bad({ id: 'x', when: { type: 'phrase', pattern: '([' }, action: handoff })).toContain('when.pattern');
    expect(bad({ id: 'x', when: { type: 'phrase' }, action: handoff })).toContain('when.phrases');
    expect(bad({ id: 'Bad Id', when: { type: 'wants_human' }, action: handoff })).toContain('id');
    expect(bad({ id: 'x', when: { type: 'wants_human' }, action: { type: 'handoff', to: { dial: { number: '+1555', client: 'bob' } } } })).toContain('action.to.dial');
    expect(bad({ id: 'x', when: { type: 'wants_human' }, action: handoff, colour: 'red' })).toContain('');
    expect(bad({ id: 'x', when: { type: 'all', of: [{ type: 'frustration', atLeast: 0.8, releaseBelow: 0.9 }] }, action: handoff })).toContain('when.of.0.releaseBelow');
  });

  it('keeps the running rule set when a replacement is invalid', () => {
    const book = new RuleBook([rule({ when: { type: 'wants_human' } })]);
    expect(() => book.replace([{ id: 'a', when: { type: 'wants_human' }, action: handoff }, { id: 'a', when: { type: 'degraded' }, action: handoff }])).toThrow(
      /duplicate rule id/,
    );
    expect(book.rules.map((r) => r.id)).toEqual(['r1']);
  });
});

describe('rule evaluation', () => {
  it('fires on a request for a human, and on the n-th one when asked to', () => {
    const once = rule({ when: { type: 'wants_human' } });
    const twice = rule({ id: 'r2', when: { type: 'wants_human', times: 2 } });
    const t1 = [caller({ wantsHuman: true })];
    expect(evaluateRules([once, twice], ctx(t1)).map((m) => m.rule.id)).toEqual(['r1']);
    const t2 = [...t1, agent('let me help'), caller({ wantsHuman: true })];
    expect(evaluateRules([once, twice], ctx(t2)).map((m) => m.rule.id)).toEqual(['r1', 'r2']);
  });

  it('needs frustration sustained over N caller turns, and hysteresis keeps a streak alive', () => {
    const r = rule({ when: { type: 'frustration', atLeast: 0.7, releaseBelow: 0.5, turns: 3 } });
    const turns = [caller({ frustration: 0.8 }), agent('sorry'), caller({ frustration: 0.6 }), caller({ frustration: 0.75 })];
    const m = evaluateRules([r], ctx(turns));
    expect(m).toHaveLength(1);
    expect(m[0]!.reason).toContain('3 caller turn(s)');
    const broken = [caller({ frustration: 0.8 }), caller({ frustration: 0.4 }), caller({ frustration: 0.75 })];
    expect(evaluateRules([r], ctx(broken))).toHaveLength(0);
    // Without hysteresis, 0.6 breaks the streak.
    const strict = rule({ when: { type: 'frustration', atLeast: 0.7, turns: 3 } });
    expect(evaluateRules([strict], ctx(turns))).toHaveLength(0);
  });

  it('needs the streak to span forSeconds when given', () => {
    const r = rule({ when: { type: 'frustration', atLeast: 0.7, turns: 1, forSeconds: 8 } });
    const one = [caller({ frustration: 0.9 })];
    expect(evaluateRules([r], { ...ctx(one), now: one[0]!.at + 1000 })).toHaveLength(0);
    expect(evaluateRules([r], { ...ctx(one), now: one[0]!.at + 9000 })).toHaveLength(1);
  });

  it('matches sensitive categories, phrases on the right side, patterns, and degraded transcription', () => {
    const sens = rule({ id: 's', when: { type: 'sensitive', categories: ['payment_card'] } });
    expect(evaluateRules([sens], ctx([caller({ sensitive: ['payment_card'] })]))[0]!.reason).toBe('sensitive: payment_card');
    expect(evaluateRules([sens], ctx([caller({ sensitive: ['health'] })]))).toHaveLength(0);

    const agentPhrase = rule({ id: 'p', when: { type: 'phrase', phrases: ['I cannot help'], track: 'outbound' } });
    expect(evaluateRules([agentPhrase], ctx([agent('Sorry, I cannot help with that')]))).toHaveLength(1);
    expect(evaluateRules([agentPhrase], ctx([caller({}, 'I cannot help it')]))).toHaveLength(0);

    const pattern = rule({ id: 'q', when: { type: 'phrase', pattern: 'cancel\\s+my\\s+(account|plan)' } });
    expect(evaluateRules([pattern], ctx([caller({}, 'I want to CANCEL my plan')]))).toHaveLength(1);

    const degraded = rule({ id: 'd', when: { type: 'degraded' } });
    expect(evaluateRules([degraded], ctx([], { degraded: true }))).toHaveLength(1);
    expect(evaluateRules([degraded], ctx([]))).toHaveLength(0);
  });

  it('holds low sentiment over turns and seconds, with hysteresis', () => {
    const low = rule({ when: { type: 'sentiment', atMost: -0.5, releaseAbove: -0.2, turns: 3, forSeconds: 10 } });
    clock = 0;
    // The third turn is only -0.3: above atMost, but the streak is running and it is not above releaseAbove.
    const turns = [caller({ sentiment: -0.6 }), caller({ sentiment: -0.7 }), caller({ sentiment: -0.3 })];
    expect(evaluateRules([low], ctx(turns))[0]!.reason).toBe('sentiment ≤ -0.5 over 3 caller turn(s) (-0.60, -0.70, -0.30)');
    // A turn above releaseAbove breaks the streak.
    expect(evaluateRules([low], ctx([caller({ sentiment: -0.6 }), caller({ sentiment: -0.1 }), caller({ sentiment: -0.6 })]))).toHaveLength(0);
    // Three turns in quick succession do not span 10 s.
    const quick = turns.map((t, i) => ({ ...t, at: 100_000 + i * 1000 }));
    expect(evaluateRules([low], ctx(quick))).toHaveLength(0);
    // releaseAbove below atMost is refused, naming the field.
    expect(() => parseRule({ id: 'x', action: handoff, when: { type: 'sentiment', atMost: -0.2, releaseAbove: -0.5 } })).toThrow(/when\.releaseAbove/);
  });

  it('matches a phrase as whole words, whatever the case and spacing', () => {
    const hi = rule({ id: 'hi', when: { type: 'phrase', phrases: ['hi', 'real person'] } });
    expect(evaluateRules([hi], ctx([caller({}, 'this is about my bill')]))).toHaveLength(0);
    expect(evaluateRules([hi], ctx([caller({}, 'Hi, quick question')]))[0]!.reason).toBe('caller said "hi"');
    expect(evaluateRules([hi], ctx([caller({}, 'put me through to a REAL   person, now')]))[0]!.reason).toBe('caller said "real person"');
    expect(evaluateRules([hi], ctx([caller({}, 'a surreal personality')]))).toHaveLength(0);
    // Regular-expression characters in a phrase are only characters.
    const plus = rule({ id: 'plus', when: { type: 'phrase', phrases: ['plan (b)'] } });
    expect(evaluateRules([plus], ctx([caller({}, 'I want plan (b) instead')]))).toHaveLength(1);
    expect(evaluateRules([plus], ctx([caller({}, 'I want plan b instead')]))).toHaveLength(0);
  });

  it('fires on silence: a side that has said nothing for the set time, on a tick', () => {
    const silent = rule({ id: 'silent', when: { type: 'silence', seconds: 20, track: 'inbound' } });
    const at = (now: number, lastSpokeAt: { inbound?: number; outbound?: number }) => ({
      call: { customParameters: {} },
      turns: [],
      event: 'tick' as const,
      degraded: false,
      now,
      startedAt: 0,
      lastSpokeAt,
    });
    expect(evaluateRules([silent], at(30_000, { inbound: 15_000 }))).toHaveLength(0);
    expect(evaluateRules([silent], at(36_000, { inbound: 15_000, outbound: 35_000 }))[0]!.reason).toBe('the caller has said nothing for 21 s');
    // Never spoke at all: counted from the start of the call.
    expect(evaluateRules([silent], at(25_000, {}))[0]!.reason).toBe('the caller has said nothing for 25 s');
    const anyone = rule({ id: 'any', when: { type: 'silence', seconds: 20, track: 'any' } });
    expect(evaluateRules([anyone], at(36_000, { inbound: 15_000, outbound: 35_000 }))).toHaveLength(0);
  });

  it('combines conditions with all and any', () => {
    const r = rule({
      when: {
        type: 'all',
        of: [
          { type: 'any', of: [{ type: 'wants_human' }, { type: 'phrase', phrases: ['manager'] }] },
          { type: 'sentiment', atMost: -0.3 },
        ],
      },
    });
    expect(evaluateRules([r], ctx([caller({ sentiment: -0.6 }, 'get me your manager')]))).toHaveLength(1);
    expect(evaluateRules([r], ctx([caller({ sentiment: 0.2 }, 'get me your manager')]))).toHaveLength(0);
    expect(evaluateRules([r], ctx([caller({ sentiment: -0.6 }, 'this is slow')]))).toHaveLength(0);
  });

  it('respects scope, enabled and priority', () => {
    const scoped = rule({ id: 'vip', priority: 10, scope: { customParameters: { tier: 'vip' } }, when: { type: 'wants_human' } });
    const off = rule({ id: 'off', enabled: false, when: { type: 'wants_human' } });
    const low = rule({ id: 'low', priority: -1, when: { type: 'wants_human' } });
    const t = [caller({ wantsHuman: true })];
    expect(evaluateRules([low, off, scoped], ctx(t, { customParameters: { tier: 'vip' } })).map((m) => m.rule.id)).toEqual(['vip', 'low']);
    expect(evaluateRules([low, off, scoped], ctx(t, { customParameters: { tier: 'basic' } })).map((m) => m.rule.id)).toEqual(['low']);
    const byNumber = rule({ id: 'to', scope: { to: ['+15550100099'] }, when: { type: 'wants_human' } });
    expect(evaluateRules([byNumber], ctx(t, { to: '+15550100099' }))).toHaveLength(1);
    expect(evaluateRules([byNumber], ctx(t, { to: '+15550100000' }))).toHaveLength(0);
  });
});

describe('decisions', () => {
  const times = { transcriptAt: 1, assessedAt: 2 };

  it('gives one action when two rules fire at once: the higher priority, then a handoff over a pause', () => {
    const pause = rule({ id: 'pause', priority: 5, when: { type: 'sensitive', categories: ['payment_card'] }, action: { type: 'pause' } });
    const hand = rule({ id: 'hand', priority: 5, when: { type: 'wants_human' } });
    const turns = [caller({ wantsHuman: true, sensitive: ['payment_card'] })];
    const d = decide('CA1', evaluateRules([pause, hand], ctx(turns)), new Map(), times, 100);
    expect(d.act?.ruleId).toBe('hand');
    expect(d.recorded.map((r) => [r.decision.ruleId, r.note])).toEqual([['pause', 'outranked']]);
  });

  it('leaves an outranked rule free to act on the next turn: it did nothing, so no cooldown starts', () => {
    const pause = rule({ id: 'pause', priority: 5, cooldownSeconds: 60, when: { type: 'sensitive', categories: ['payment_card'] }, action: { type: 'pause' } });
    const hand = rule({ id: 'hand', priority: 5, cooldownSeconds: 60, when: { type: 'wants_human' } });
    const firing: RuleFiring = new Map();
    const first = decide('CA1', evaluateRules([pause, hand], ctx([caller({ wantsHuman: true, sensitive: ['payment_card'] })])), firing, times, 1000);
    expect(first.act?.ruleId).toBe('hand');
    // Say the handoff failed and the caller goes on reading the card: the pause acts now, as its first episode.
    const next = decide('CA1', evaluateRules([pause, hand], ctx([caller({ sensitive: ['payment_card'] })])), firing, times, 3000);
    expect(next.act).toMatchObject({ ruleId: 'pause', id: 'CA1:pause:1' });
    // The handoff that acted is in its cooldown.
    expect(decide('CA1', evaluateRules([hand], ctx([caller({ wantsHuman: true })])), firing, times, 5000).act).toBeUndefined();
  });

  it('records observe-mode rules without acting, and honours cooldowns with a new episode after', () => {
    const obs = rule({ id: 'obs', mode: 'observe', when: { type: 'wants_human' }, cooldownSeconds: 10 });
    const firing: RuleFiring = new Map();
    const m = evaluateRules([obs], ctx([caller({ wantsHuman: true })]));
    const first = decide('CA1', m, firing, times, 1000);
    expect(first.act).toBeUndefined();
    expect(first.recorded[0]).toMatchObject({ note: 'observe', decision: { id: 'CA1:obs:1' } });
    expect(decide('CA1', m, firing, times, 5000).recorded).toHaveLength(0);
    expect(decide('CA1', m, firing, times, 12_000).recorded[0]!.decision.id).toBe('CA1:obs:2');
  });
});
