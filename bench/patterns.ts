// What matching rule patterns costs a caller turn since they run on RE2 (re2-wasm) instead of JavaScript's RegExp:
// typical patterns on typical and long turns, the worst patterns the limits allow on new text, and a whole rule set at
// the limits (its first turn compiles it). Run: npx tsx bench/patterns.ts. Prints one JSON object (times in ms).
import { performance } from 'node:perf_hooks';
import { evaluateRules, type RuleContext } from '../src/rules/evaluate.js';
import { compilePattern, PATTERN_LIMITS } from '../src/rules/pattern.js';
import { parseRuleSet, RULE_LIMITS } from '../src/rules/schema.js';
import { percentiles, round } from './stats.js';

const TYPICAL = [
  'cancel (my|the) (account|subscription|plan)',
  '\\b(lawyer|attorney|sue|court)\\b',
  'refund|money back|charge ?back',
  'speak (to|with) (a|your) (manager|supervisor)',
  'third time (i|I)(\'m| am)? call',
];
const TURNS = [
  'yes that is right',
  'can you tell me when my package will arrive, I ordered it last week and it still has not shipped',
  'this is ridiculous, I have been on hold for forty five minutes',
  'I want to cancel my subscription, this is the third time I call about it',
  'I am so fed up with this company, you people are useless and nobody ever calls me back',
  'thank you so much, that was really helpful',
];
// The most a pattern may cost: counted repetitions of classes at the limits (each is what makes RE2 build new states).
const WORST = [
  '(a|e|i)[a-z ]{0,5}(x|q)[a-z ]{0,5}(k|z)[a-z ]{0,5}(v|w)',
  '[aeiou][a-z ]{5}[xqz][a-z ]{5}[aeiou]',
  '\\w{5}\\s\\w{5}\\s\\w{5}\\s\\w{5}',
  '(a|b|c|d)[^x]{0,5}(e|f)[^y]{0,5}(g|h)[^z]{0,5}(i|j)',
  'a.*b.*c.*d.*e.*f.*g.*h.*q',
];
const LETTERS = 'abcdefghijklmnopqrstuvwxyz ';
let seed = 7;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const noise = (n: number) => Array.from({ length: n }, () => LETTERS[Math.floor(random() * LETTERS.length)]).join('');

/** Time per turn of running every matcher on it, over `rounds` passes. */
function perTurn(matchers: { test(t: string): boolean }[], turns: string[], rounds: number): Record<string, number> {
  for (const t of turns.slice(0, 20)) for (const m of matchers) m.test(t); // warm-up
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const t of turns) {
      const start = performance.now();
      for (const m of matchers) m.test(t);
      times.push(performance.now() - start);
    }
  }
  return percentiles(times);
}

const re2 = (ps: string[]) => ps.map((p) => compilePattern(p));
const js = (ps: string[]) => ps.map((p) => new RegExp(p, 'i'));
const long = TURNS.join(' ').repeat(6).slice(0, 2000);

const worstPatterns = Array.from({ length: RULE_LIMITS.patternsTotal }, (_, i) => `${WORST[i % WORST.length]}${i}`);
const freshNoise = Array.from({ length: 100 }, () => noise(2000));

// A rule set at the limits: 100 rules, 500 conditions (any + 4 in each), 780 phrases of 3 words, 10 patterns.
const words = (i: number) => `word${i} other${i} thing${i}`;
const atLimits = parseRuleSet(
  Array.from({ length: RULE_LIMITS.rules }, (_, r) => ({
    id: `r${r}`,
    action: { type: 'alert' },
    when: {
      type: 'any',
      of: Array.from({ length: RULE_LIMITS.conditionsTotal / RULE_LIMITS.rules - 1 }, (_, c) =>
        r < RULE_LIMITS.patternsTotal && c === 0
          ? { type: 'phrase', pattern: worstPatterns[r] }
          : { type: 'phrase', phrases: Array.from({ length: 2 }, (_, k) => words(r * 10 + c * 2 + k)) },
      ),
    },
  })),
);
const ctx = (text: string): RuleContext => ({ call: { customParameters: {} }, turns: [{ at: 0, track: 'inbound', text }], degraded: false, now: 0 });
let start = performance.now();
evaluateRules(atLimits, ctx(TURNS[1]!));
const firstTurnMs = performance.now() - start;
const setTimes = (texts: string[]) => {
  const times = texts.map((t) => {
    const s = performance.now();
    evaluateRules(atLimits, ctx(t));
    return performance.now() - s;
  });
  return percentiles(times);
};

// What RE2 prevents: JavaScript's RegExp on a pattern the checks allow but that backtracks exponentially there.
start = performance.now();
/(a|aa)+$/i.test('a'.repeat(30) + '!');
const jsBacktrackMs = performance.now() - start;
const linear = compilePattern('(a|aa)+$');
start = performance.now();
linear.test('a'.repeat(2000) + '!');
const re2SameMs = performance.now() - start;

console.log(
  JSON.stringify({
    limits: { ...PATTERN_LIMITS, patternsPerSet: RULE_LIMITS.patternsTotal },
    typical: {
      patterns: TYPICAL.length,
      shortTurns: { re2: perTurn(re2(TYPICAL), TURNS, 500), jsRegExp: perTurn(js(TYPICAL), TURNS, 500) },
      turnOf2000Chars: { re2: perTurn(re2(TYPICAL), [long], 300), jsRegExp: perTurn(js(TYPICAL), [long], 300) },
    },
    worstAllowed: {
      patterns: worstPatterns.length,
      // No JavaScript reference: a.*b.*c.*… backtracks polynomially (to the 8th power of the length) there.
      newTextOf2000Chars: { re2: perTurn(re2(worstPatterns), freshNoise, 1) },
      newTextOf200Chars: { re2: perTurn(re2(worstPatterns), freshNoise.map((t) => t.slice(0, 200)), 1) },
    },
    ruleSetAtLimits: {
      rules: atLimits.length,
      firstTurnMs: round(firstTurnMs),
      shortTurns: setTimes(Array.from({ length: 50 }, (_, i) => TURNS[i % TURNS.length]!)),
      newTextOf2000Chars: setTimes(freshNoise.slice(0, 50)),
    },
    catastrophic: { pattern: '(a|aa)+$', jsRegExpOn31CharsMs: round(jsBacktrackMs), re2On2001CharsMs: round(re2SameMs) },
  }),
);
