// The default rules (rules/default.json) with the local classifier, through the dry run: a calm call is left alone,
// an upset caller and a caller asking for a person are handed off.

import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalClassifier } from '../../src/classification/local.js';
import { RuleBook } from '../../src/rules/rule-book.js';
import type { Rule } from '../../src/rules/schema.js';
import { dryRun, type DryRunTurn } from '../../src/supervisor/dry-run.js';

const RULES = fileURLToPath(new URL('../../rules/default.json', import.meta.url));
const classifier = new LocalClassifier();
let rules: readonly Rule[];
beforeAll(async () => {
  rules = (await RuleBook.fromFile(RULES, { HANDOFF_QUEUE: 'support' })).rules;
});

const agent = (text: string): DryRunTurn => ({ track: 'outbound', text });
const caller = (text: string): DryRunTurn => ({ track: 'inbound', text });
const acts = async (turns: DryRunTurn[]) => (await dryRun({ turns, rules, classifier })).fired.filter((f) => f.note === 'acts');

describe('the default rules on a calm call', () => {
  it.each([
    ['a coffee order that ends with two noes', [agent('What can I get you?'), caller('I want a latte please'), agent('Anything else?'), caller('No, not now.'), agent('Would you like a pastry?'), caller("No, that's all."), agent('That will be four fifty.'), caller('thanks')]],
    ['a correction of the quantity', [agent('Two mochas, is that right?'), caller('No, make it three'), agent('Three mochas. Anything else?'), caller("Nope, that's all")]],
    ['a table for one', [agent('How many people?'), caller('1 person, please'), agent('Any allergies?'), caller("I don't think so"), agent('Booked. Anything else?'), caller('No.')]],
    ['a train ticket with a wheelchair', [agent('Where to?'), caller('SF please'), agent('Anything we should know?'), caller('can I bring my wheelchair on the train?'), agent('Yes, there is room.'), caller('great, thank you')]],
    ['an accessibility question', [agent('How can I help?'), caller('I have a disability, does the restaurant offer access?'), agent('Yes, step-free.'), caller('just one person then, at seven')]],
  ])('%s changes nothing', async (_name, turns) => {
    expect(await acts(turns)).toEqual([]);
  });
});

describe('the default rules on a call that needs a person', () => {
  it('hands an upset caller off by the third upset turn', async () => {
    const fired = await acts([
      agent('What date would you like?'),
      caller('Thursday the twelfth'),
      agent('I have booked Tuesday the twelfth.'),
      caller('No, I SAID Thursday'),
      agent('Okay, Tuesday it is.'),
      caller('No! Thursday! Are you even listening?'),
      agent('I have Tuesday the twelfth.'),
      caller("unbelievable. forget it, I'll just cancel"),
    ]);
    expect(fired.map((f) => [f.ruleId, f.action])).toEqual([['caller-frustrated', 'handoff']]);
    expect(fired[0]!.turn).toBeLessThanOrEqual(7);
  });

  it.each([
    'can you put me in touch with a human?',
    'gimme a proper human',
    'can you forward me to your team',
    'i want to speak to customer service',
    'human handoff',
  ])('hands off a caller who says "%s"', async (text) => {
    const fired = await acts([agent('How can I help?'), caller('I have a question about my bill'), agent('Sure, what is it?'), caller(text)]);
    expect(fired.map((f) => [f.turn, f.ruleId, f.action])).toEqual([[3, 'caller-asks-for-a-person', 'handoff']]);
  });
});
