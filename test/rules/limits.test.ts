// Rules cannot stall the service: a pattern runs on RE2 (linear time) and is refused when RE2 cannot run it or it is
// too big; a rule set is refused, with the field named, when it is bigger or deeper than RULE_LIMITS, before anything
// recursive reads it.
import { describe, expect, it } from 'vitest';
import { evaluateRules, type AssessedTurn } from '../../src/rules/evaluate.js';
import { PATTERN_LIMITS } from '../../src/rules/pattern.js';
import { parseRule, parseRuleSet, RULE_LIMITS, RuleValidationError, type RuleInput } from '../../src/rules/schema.js';

const handoff = { type: 'handoff', to: { queue: 'support' } } as const;
const phrase = (pattern: string): RuleInput => ({ id: 'p', when: { type: 'phrase', pattern }, action: handoff });

/** The issues a refused input gets (fails the test when it is accepted). */
function refused(parse: () => unknown): { path: string; message: string }[] {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(RuleValidationError);
    return (err as RuleValidationError).issues;
  }
  throw new Error('accepted');
}

/** `all` nested `depth` levels deep around one condition. */
function nested(depth: number): unknown {
  let when: unknown = { type: 'wants_human' };
  for (let i = 1; i < depth; i++) when = { type: 'all', of: [when] };
  return when;
}

describe('rule patterns', () => {
  it('refuses the catastrophic (a+)+$, naming the field and why', () => {
    expect(refused(() => parseRule(phrase('(a+)+$')))).toEqual([{ path: 'when.pattern', message: expect.stringMatching(/^a repeated group that repeats inside .*\(write a\+ for \(a\+\)\+\)/) }]);
    expect(refused(() => parseRule(phrase('(\\w+\\s?)*!')))[0]!.path).toBe('when.pattern');
  });

  it('runs a pattern that backtracks catastrophically in JavaScript in linear time', () => {
    // Under JavaScript's RegExp, (a|aa)+$ over 32 a's and a "!" tries every way to split the a's (millions).
    const r = parseRule(phrase('(a|aa)+$'));
    const ctx = (text: string) => ({ call: { customParameters: {} }, turns: [{ at: 0, track: 'inbound' as const, text }], degraded: false, now: 0 });
    expect(evaluateRules([r], ctx('aaa'))).toHaveLength(1); // compiles the matcher
    const start = performance.now();
    expect(evaluateRules([r], ctx('a'.repeat(32) + '!'))).toEqual([]);
    expect(evaluateRules([r], ctx('a'.repeat(2000) + '!'))).toEqual([]);
    expect(performance.now() - start).toBeLessThan(100);
  });

  it('refuses what RE2 cannot run, naming the field and why', () => {
    expect(refused(() => parseRule(phrase('(a)\\1')))).toEqual([{ path: 'when.pattern', message: expect.stringMatching(/^backreferences are not supported/) }]);
    expect(refused(() => parseRule(phrase('(?<!not )happy')))).toEqual([{ path: 'when.pattern', message: expect.stringMatching(/^lookahead and lookbehind are not supported/) }]);
    expect(refused(() => parseRule(phrase('(?=a)b')))[0]!.message).toMatch(/lookahead/);
    expect(refused(() => parseRule(phrase('([')))[0]!.message).toMatch(/^not a valid regular expression/);
  });

  it('refuses a pattern too big for the engine before the engine sees it', () => {
    // This one exhausts re2-wasm's 16 MB heap while compiling.
    expect(refused(() => parseRule(phrase('[\\p{L}]{1000}')))[0]).toEqual({ path: 'when.pattern', message: expect.stringMatching(/repetition of at most 5/) });
    expect(refused(() => parseRule(phrase('\\pL{5}x\\pL{5}')))[0]!.message).toMatch(/too complex/);
    expect(refused(() => parseRule(phrase('x'.repeat(PATTERN_LIMITS.chars + 1))))[0]!.path).toBe('when.pattern');
  });

  it('matches case-insensitively, as before, on the text of the turn', () => {
    const r = parseRule(phrase('cancel (my|the) (account|subscription)'));
    const turn = (text: string): AssessedTurn => ({ at: 0, track: 'inbound', text });
    const ctx = (text: string) => ({ call: { customParameters: {} }, turns: [turn(text)], degraded: false, now: 0 });
    expect(evaluateRules([r], ctx('I want to CANCEL my Account today'))[0]?.reason).toBe('matched /cancel (my|the) (account|subscription)/');
    expect(evaluateRules([r], ctx('cancel the order'))).toEqual([]);
  });
});

describe('phrases', () => {
  it('match whole words in any case and spacing, with nothing to compile', () => {
    const r = parseRule({ id: 'ph', when: { type: 'phrase', phrases: ['real person', 'hi', 'café', 'señor'] }, action: handoff });
    const said = (text: string) => evaluateRules([r], { call: { customParameters: {} }, turns: [{ at: 0, track: 'inbound', text }], degraded: false, now: 0 })[0]?.reason ?? null;
    expect(said('a Real \t person, please')).toBe('caller said "real person"');
    expect(said('this is it')).toBeNull();
    expect(said('oh, HI!')).toBe('caller said "hi"');
    expect(said('un CAFÉ, merci')).toBe('caller said "café"');
    expect(said('cafés')).toBeNull();
    expect(said('señores')).toBeNull();
    expect(said('hi2u')).toBeNull();
  });
});

describe('rule set limits', () => {
  it('refuses a rule nested 3,000 deep with the field named, without overflowing the stack', () => {
    const issues = refused(() => parseRule({ id: 'deep', when: nested(3000), action: handoff }));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toMatch(/^when(\.of\.0)*(\.of)?$/);
    expect(issues[0]!.message).toMatch(/nested deeper than/);
    // Just over the all/any limit: the level that is too deep is named.
    const over = refused(() => parseRule({ id: 'deep', when: nested(RULE_LIMITS.depth + 1), action: handoff }));
    expect(over).toEqual([{ path: `when${'.of.0'.repeat(RULE_LIMITS.depth - 1)}.of`, message: expect.stringMatching(/nested at most 6 levels/) }]);
    expect(parseRule({ id: 'ok', when: nested(RULE_LIMITS.depth), action: handoff }).id).toBe('ok');
  });

  it('refuses a rule with 10,000 conditions, and a set over its totals, naming where', () => {
    const many = { type: 'any', of: Array.from({ length: 10_000 }, () => ({ type: 'wants_human' })) };
    expect(refused(() => parseRule({ id: 'wide', when: many, action: handoff }))).toEqual([
      { path: 'when', message: expect.stringMatching(/at most 50 conditions in a rule/) },
    ]);
    const set = (n: number, when: unknown) => Array.from({ length: n }, (_, i) => ({ id: `r${i}`, when, action: handoff }));
    expect(refused(() => parseRuleSet(set(RULE_LIMITS.rules + 1, { type: 'wants_human' })))[0]!.message).toMatch(/at most 100 rules/);
    const forty = { type: 'any', of: Array.from({ length: 40 }, () => ({ type: 'wants_human' })) };
    expect(refused(() => parseRuleSet(set(13, forty)))).toEqual([{ path: '', message: expect.stringMatching(/at most 500 conditions in the whole rule set/) }]);
    const patterns = set(RULE_LIMITS.patternsTotal + 1, { type: 'phrase', pattern: 'refund' });
    expect(refused(() => parseRuleSet(patterns))[0]!.message).toMatch(/at most 10 patterns/);
  });

  it('refuses too many phrases in a condition and too long a description, naming the field', () => {
    const phrases = Array.from({ length: RULE_LIMITS.phrasesPerCondition + 1 }, (_, i) => `word${i}`);
    expect(refused(() => parseRuleSet([{ id: 'x', when: { type: 'all', of: [{ type: 'phrase', phrases }] }, action: handoff }]))[0]!.path).toBe('0.when.of.0.phrases');
    expect(refused(() => parseRule({ id: 'x', description: 'd'.repeat(501), when: { type: 'wants_human' }, action: handoff }))[0]!.path).toBe('description');
  });
});
