// The yardstick's harness (scripts/replay.ts): whole conversations replayed through a rules file as a live call
// decides, counted as false takeovers, requests for a person and upset callers. Stub classifiers and phrase rules
// keep these independent of how good the local classifier currently is.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Conversation, ConversationTurn } from '../../scripts/conversations.js';
import { DEFAULT_RULES_FILE, falseTakeovers, loadRules, personRequests, replay, upsetCallers } from '../../scripts/replay.js';
import type { Assessment, Classifier, ClassifyInput } from '../../src/types.js';

/** A classifier that finds everything calm, except what `judge` says about a line. */
function stubClassifier(judge: (text: string) => Partial<Assessment> = () => ({})): Classifier {
  return {
    name: 'local',
    classify: (input: ClassifyInput) => Promise.resolve({
      frustration: 0, sentiment: 0, wantsHuman: false, intent: 'other', sensitive: [], triggers: [], confidence: 1,
      source: 'local', rationale: 'stub', latencyMs: 0, ...judge(input.text),
    }),
  };
}

const agent = (text: string): ConversationTurn => ({ track: 'outbound', text });
const caller = (text: string, marks: Partial<ConversationTurn> = {}): ConversationTurn => ({ track: 'inbound', text, ...marks });
const conversation = (id: string, kind: string, turns: ConversationTurn[]): Conversation => ({ id, kind, turns, source: 'test' });

function rulesFile(rules: unknown[]): string {
  const path = join(mkdtempSync(join(tmpdir(), 'takeover-eval-')), 'rules.json');
  writeFileSync(path, JSON.stringify({ rules }));
  return path;
}

const mochaRule = {
  id: 'hand-off-on-mocha',
  description: 'a deliberately bad rule',
  when: { type: 'phrase', phrases: ['mocha'] },
  action: { type: 'handoff', to: { queue: '${HANDOFF_QUEUE}' } },
};

const coffee = conversation('c1', 'coffee', [agent('What can I get you?'), caller('I want a mocha, please.'), agent('Sure.'), caller('Thanks, bye.')]);
const train = conversation('t1', 'train', [agent('Where to?'), caller('Two adults to Boston, please.'), agent('Done.'), caller('Great, thanks.')]);

describe('false takeovers on calm conversations', () => {
  it('counts a calm conversation in which a rule hands off as a false takeover by that rule, with the line that fired', async () => {
    const rules = await loadRules(rulesFile([mochaRule]));
    const report = falseTakeovers(await replay([coffee, train], rules, stubClassifier()), rules);
    expect(report).toMatchObject({ conversations: 2, withTakeover: 1, share: 0.5 });
    expect(report.byRule).toEqual({ 'hand-off-on-mocha': { conversations: 1, share: 0.5 } });
    expect(report.byAction).toEqual({ handoff: { conversations: 1, share: 0.5 } });
    expect(report.byKind).toEqual({
      coffee: { conversations: 1, withTakeover: 1, share: 1 },
      train: { conversations: 1, withTakeover: 0, share: 0 },
    });
    expect(report.worst).toEqual([
      expect.objectContaining({ rule: 'hand-off-on-mocha', action: 'handoff', text: 'I want a mocha, please.', conversations: 1, example: { id: 'c1', turn: 1, kind: 'coffee' } }),
    ]);
  });

  it('substitutes ${HANDOFF_QUEUE} as the service does, so the rules file loads', async () => {
    const [rule] = await loadRules(rulesFile([mochaRule]));
    expect(rule!.action).toMatchObject({ type: 'handoff', to: { queue: process.env.HANDOFF_QUEUE ?? 'support' } });
  });

  it('does not count an observe-mode rule as a takeover: it changes nothing on the call', async () => {
    const rules = await loadRules(rulesFile([{ ...mochaRule, mode: 'observe' }]));
    const report = falseTakeovers(await replay([coffee], rules, stubClassifier()), rules);
    expect(report.withTakeover).toBe(0);
  });

  it('lists every rule of the default set by id, and the ones that acted on a calm call', async () => {
    const rules = await loadRules(DEFAULT_RULES_FILE);
    // "No." scored as frustrated, and a wheelchair taken for health data: the two false takeovers of issue 10.
    const classifier = stubClassifier((text) => (/^no\b/i.test(text) ? { frustration: 0.95 } : /wheelchair/.test(text) ? { sensitive: ['health'] } : {}));
    const calls = [
      conversation('n1', 'restaurant', [agent('Anything else?'), caller('No, not now.'), agent('Dessert?'), caller("No, that's all.")]),
      conversation('w1', 'train', [agent('Anything else?'), caller('Can I bring my wheelchair on the train?'), agent('Yes.'), caller('Thanks.')]),
      train,
    ];
    const report = falseTakeovers(await replay(calls, rules, classifier), rules);
    expect(Object.keys(report.byRule).sort()).toEqual(rules.map((r) => r.id).sort());
    expect(report.byRule['caller-frustrated']).toEqual({ conversations: 1, share: 0.333 });
    expect(report.byRule['sensitive-data']).toEqual({ conversations: 1, share: 0.333 });
    expect(report.byRule['caller-asks-for-a-person']).toEqual({ conversations: 0, share: 0 });
    expect(report.worst.map((e) => [e.rule, e.text])).toEqual(expect.arrayContaining([
      ['caller-frustrated', "No, that's all."],
      ['sensitive-data', 'Can I bring my wheelchair on the train?'],
    ]));
  });
});

describe('requests for a person', () => {
  const rules = loadRules(rulesFile([{ ...mochaRule, id: 'asks', when: { type: 'phrase', phrases: ['person', 'manager'] } }]));
  it('counts requests handed off on the request, missed ones, and hard negatives wrongly handed off', async () => {
    const calls = [
      conversation('p1', 'billing', [agent('How can I help?'), caller('My bill is wrong.'), agent('Let me check.'), caller('Can I speak to a person?', { asksForPerson: true })]),
      conversation('p2', 'billing', [agent('How can I help?'), caller('gimme a proper human', { asksForPerson: true }), agent('Sure.'), caller('Thanks.')]),
      conversation('n1', 'restaurant', [agent('How many?'), caller('A table for one person.'), agent('Done.'), caller('Thanks.')]),
      conversation('n2', 'delivery', [agent('Anything else?'), caller('My manager will call you back.'), agent('Okay.'), caller('Bye.')]),
      conversation('n3', 'delivery', [agent('Anything else?'), caller('No, bye.')]),
    ];
    const report = personRequests(await replay(calls, await rules, stubClassifier()));
    expect(report.asks).toMatchObject({ conversations: 2, handedOff: 1, share: 0.5, when: { onRequest: 1, later: 0, beforeRequest: 0, never: 1 } });
    expect(report.asks.missed).toEqual([{ id: 'p2', kind: 'billing', text: 'gimme a proper human' }]);
    expect(report.hardNegatives).toMatchObject({ conversations: 3, handedOff: 2, share: 0.667, acted: 2 });
    expect(report.hardNegatives.wrong.map((e) => e.text).sort()).toEqual(['A table for one person.', 'My manager will call you back.']);
  });
});

describe('upset callers', () => {
  // Hands off wherever the caller says "ENOUGH": the tiny set puts it on different upset turns.
  const rules = loadRules(rulesFile([{ ...mochaRule, id: 'enough', when: { type: 'phrase', phrases: ['enough'] } }]));
  const u = (text: string) => caller(text, { upset: true });
  const calls = [
    conversation('first', 'hotel', [agent('Hi'), u('ENOUGH already'), agent('Sorry'), u('still wrong')]),
    conversation('third', 'hotel', [agent('Hi'), u('wrong'), caller('fine'), u('wrong again'), agent('Sorry'), u('that is ENOUGH')]),
    conversation('later', 'train', [u('no'), u('no!'), u('NO!'), u('I said no'), u('ENOUGH')]),
    conversation('early', 'train', [caller('enough about that, hi'), u('this is bad')]),
    conversation('never', 'train', [u('bad'), u('worse'), u('awful'), agent('Sorry')]),
  ];

  it('says at which upset turn each caller was handed off, and who was not by the third', async () => {
    const report = upsetCallers(await replay(calls, await rules, stubClassifier()));
    expect(report.atUpsetTurn).toEqual({ beforeFirst: 1, first: 1, second: 0, third: 1, later: 1, never: 1 });
    expect(report).toMatchObject({ conversations: 5, handedOff: 4, byThirdUpsetTurn: 2, byThirdUpsetTurnShare: 0.4 });
    expect(report.byKind).toEqual({
      hotel: { conversations: 2, byThirdUpsetTurn: 2, share: 1 },
      train: { conversations: 3, byThirdUpsetTurn: 0, share: 0 },
    });
    expect(report.missed.map((m) => [m.id, m.handedOffAt, m.text])).toEqual([
      ['later', 'later', 'NO!'],
      ['early', 'beforeFirst', 'this is bad'],
      ['never', 'never', 'awful'],
    ]);
  });

  it('says when a privacy pause kept the upset turns from being heard, so the caller never reached a person', async () => {
    const pauseRule = { id: 'pause-on-insulin', description: 'x', when: { type: 'phrase', phrases: ['insulin'] }, action: { type: 'pause', resumeAfterSeconds: 120 } };
    const both = await loadRules(rulesFile([{ ...mochaRule, id: 'enough', when: { type: 'phrase', phrases: ['enough'] } }, pauseRule]));
    const call = conversation('paused', 'flight', [agent('Hi'), u('My insulin is in that bag!'), agent('Sorry'), u('ENOUGH, get me help'), u('ENOUGH')]);
    const report = upsetCallers(await replay([call], both, stubClassifier()));
    expect(report).toMatchObject({ handedOff: 0, upsetTurnsNotHeard: 1, atUpsetTurn: { never: 1 } });
    expect(report.missed).toEqual([expect.objectContaining({ id: 'paused', upsetTurnsNotHeard: 2 })]);
  });

  it('counts a frustration streak of the default rules from the turn the rule hands off', async () => {
    const classifier = stubClassifier((text) => ({ frustration: /wrong|said/i.test(text) ? 0.9 : 0.1 }));
    const call = conversation('streak', 'restaurant', [agent('For Tuesday?'), u('No, wrong day.'), agent('Tuesday then?'), u('No, I SAID Thursday.'), u('wrong AGAIN')]);
    const report = upsetCallers(await replay([call], await loadRules(DEFAULT_RULES_FILE), classifier));
    // Two frustrated caller turns in a row: the second upset turn.
    expect(report.atUpsetTurn.second).toBe(1);
  });
});

describe('the readable report (--format text)', () => {
  it('shows the false-takeover share, each rule, and the line that set a rule off', async () => {
    const { formatText } = await import('../../scripts/eval-text.js');
    const rules = await loadRules(rulesFile([mochaRule]));
    const calm = await replay([coffee, train], rules, stubClassifier(() => ({ triggers: ['said mocha'] })));
    const prf = { precision: 1, recall: 0.5, f1: 0.667, n: 10, positives: 2 };
    const part = { conversations: 1, withTakeover: 1, share: 1 };
    const report = {
      classifier: 'stub', split: 'dev', note: '', rules: 'rules.json', frustration: prf, wantsHuman: prf, sensitive: prf,
      wantsHumanRasa: { ...prf, missed: ['handoff'], wronglyFlagged: [] },
      falseTakeovers: { ...falseTakeovers(calm, rules), bySet: { taskmaster: part, written: part } },
      personRequests: personRequests([]),
      upsetCallers: upsetCallers([]),
    };
    const text = formatText(report);
    expect(text).toMatch(/calm: false takeovers \(lower is better\)\s+2\s+1\s+50\.0%/);
    expect(text).toMatch(/hand-off-on-mocha\s+1\s+50\.0%/);
    expect(text).toContain('hand-off-on-mocha (handoff) ×1: "I want a mocha, please."  [coffee c1 turn 1]');
    expect(text).toContain('cues: said mocha');
  });

  it('quotes no conversation when examples are off (the test split), only the figures', async () => {
    const { formatText } = await import('../../scripts/eval-text.js');
    const rules = await loadRules(rulesFile([mochaRule]));
    const calm = await replay([coffee], rules, stubClassifier());
    const prf = { precision: 1, recall: 1, f1: 1, n: 1, positives: 1 };
    const part = { conversations: 1, withTakeover: 1, share: 1 };
    const text = formatText({
      classifier: 'stub', split: 'test', note: '', rules: 'rules.json', frustration: prf, wantsHuman: prf, sensitive: prf,
      wantsHumanRasa: { ...prf, missed: [], wronglyFlagged: [] },
      falseTakeovers: { ...falseTakeovers(calm, rules, 0), bySet: { taskmaster: part, written: part } },
      personRequests: personRequests([], 0),
      upsetCallers: upsetCallers([], 0),
    }, 0);
    expect(text).toMatch(/hand-off-on-mocha\s+1\s+100\.0%/);
    expect(text).not.toContain('mocha, please');
    expect(text).toContain('--examples N');
  });
});
