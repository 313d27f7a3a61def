// The local classifier as a supervisor would notice it: what a caller says, and what the assessment makes of it.

import { describe, expect, it } from 'vitest';
import { extractFeatures } from '../../src/classification/features.js';
import { LocalClassifier } from '../../src/classification/local.js';
import type { Turn } from '../../src/types.js';

const local = new LocalClassifier();
const say = (text: string, context: Turn[] = []) => local.assess({ text, track: 'inbound', context, final: true });
const caller = (text: string): Turn => ({ track: 'inbound', text });
const agent = (text: string): Turn => ({ track: 'outbound', text });

describe('a caller asking for a person', () => {
  it.each([
    'agent',
    'Representative!',
    'operator, please',
    'let me talk to a real person',
    'stop, let me talk to someone',
    'can you transfer me to a human',
    'I want to speak to your supervisor',
    'put me through to somebody who can actually help',
    'I do not want to talk to a machine',
    'is there a human I can speak to?',
  ])('"%s" wants a human', (text) => {
    const a = say(text);
    expect(a.wantsHuman).toBe(true);
    expect(a.intent).toBe('request_human');
    expect(a.triggers.some((t) => t.startsWith('said '))).toBe(true);
  });

  it.each([
    'are you a bot?',
    'Am I talking to a real person?',
    'is this a recording',
    "I don't need to talk to an agent, I just want my balance",
    'the agent told me my refund was on the way',
    'what are the opening hours of customer service',
  ])('"%s" does not want a human', (text) => {
    expect(say(text).wantsHuman).toBe(false);
  });

  it('names the phrase it heard in triggers', () => {
    expect(say('CAN I SPEAK TO A REAL PERSON?!?!').triggers).toContain("said 'a real person'");
  });
});

describe('frustration', () => {
  it('is low for a calm question and high for an angry caller', () => {
    const calm = say('hi, could you tell me when my package will arrive?');
    const angry = say('This is ridiculous, you people are useless and I am so fed up with this!');
    expect(calm.frustration).toBeLessThan(0.5);
    expect(angry.frustration).toBeGreaterThan(0.7);
    expect(angry.sentiment).toBeLessThan(0);
    expect(angry.intent).toBe('complaint');
  });

  it('hears annoyance and disgust in everyday words, and not in warm ones', () => {
    for (const text of [
      'Honestly this is so annoying, why would they even do that',
      'That is disgusting, I hate people like this',
      'This is the worst idea I have ever heard',
    ]) {
      expect(say(text).frustration, text).toBeGreaterThan(0.5);
    }
    for (const text of ['I love this so much, thanks for sharing!', 'Congrats on the new job, well deserved']) {
      expect(say(text).frustration, text).toBeLessThan(0.3);
    }
  });

  it('counts a word said again once: the features are present or not', () => {
    const once = extractFeatures('useless', 18);
    const many = extractFeatures('useless useless useless useless', 18);
    expect(new Set(many.indices).size).toBe(many.indices.length);
    expect(many.indices.length).toBeLessThan(once.indices.length * 2);
    expect(extractFeatures('useless useless useless useless', 18)).toEqual(many);
  });

  it('counts "this is the third time I call" and says so', () => {
    const a = say('this is the third time I call about my bill');
    expect(a.frustration).toBeGreaterThanOrEqual(0.5);
    expect(a.triggers).toContain("said 'third time'");
  });

  it('understands negation: "not happy" is not happy', () => {
    expect(say('I am not happy with this at all').frustration).toBeGreaterThan(say('I am happy with this').frustration);
  });

  it('rises with the conversation: the same words weigh more after repeated complaints and agent failures', () => {
    const text = 'I already gave you my account number';
    const fresh = say(text);
    const context = [
      caller('my internet has been down for three days'),
      agent("I'm sorry, I didn't catch that."),
      caller('this is the second time I call, it is still not working'),
      agent('Could you please repeat that?'),
      caller('are you even listening? this is ridiculous'),
    ];
    const later = say(text, context);
    expect(later.frustration).toBeGreaterThan(fresh.frustration + 0.2);
    expect(later.triggers.some((t) => t.includes('tense turn'))).toBe(true);
    expect(later.triggers.some((t) => t.startsWith('agent failed to understand'))).toBe(true);
  });

  it('notices a caller saying the same thing again', () => {
    const a = say('I want to cancel my subscription', [caller('I want to cancel my subscription'), agent('Sure, what is your plan?')]);
    expect(a.triggers).toContain('repeats an earlier request');
  });
});

describe('sensitive data', () => {
  it('catches a card number spoken as words and never repeats it', () => {
    const a = say('my card number is four one one one, one one one one, one one one one, one one one one');
    expect(a.sensitive).toEqual(['payment_card']);
    expect(a.intent).toBe('payment');
    expect(a.triggers.join(' ')).toMatch(/card number \(visa, 16 digits, Luhn ok, spoken\)/);
    expect(JSON.stringify(a)).not.toMatch(/four one one one|(?<![\d.])4111(?:[ -]?1111|(?!\d))/);
  });

  it('reads "double", "oh" and pairs like "forty one"', () => {
    expect(say('it is five five double five, four four four four, three three three three, two two two two').sensitive).toEqual([]); // Luhn fails
    expect(say('forty one eleven, eleven eleven, eleven eleven, eleven eleven').sensitive).toEqual(['payment_card']);
    expect(say('three seven eight two, eight two two four six three, one oh double oh five').sensitive).toEqual(['payment_card']);
  });

  it('catches a spoken card split over two caller turns', () => {
    const context = [agent('Please read me the card number.'), caller('four one one one one one one one'), agent('mm-hmm')];
    const a = say('one one one one one one one one', context);
    expect(a.sensitive).toEqual(['payment_card']);
    expect(a.triggers.join(' ')).toMatch(/over 2 turns/);
  });

  it('flags the digits a caller reads right after the agent asks for the card', () => {
    expect(say('four one one one, one one one one', [agent('What is the long number on your card?')]).sensitive).toEqual(['payment_card']);
  });

  it('does not take order numbers, phone numbers, dates or a card\'s last four for card data', () => {
    for (const text of [
      'my order number is 113542617735902',
      'call me at (415) 555-0134',
      'four one five, five five five, oh one three four',
      'I was born on 12/27/1986',
      'my card ending in 4242 was declined',
      'I have called three times in two days',
    ]) {
      expect(say(text).sensitive, text).toEqual([]);
    }
  });

  it('catches SSNs in digits and in words, IBANs, PINs, passwords and health details', () => {
    expect(say('my SSN is 531-21-7351').sensitive).toEqual(['government_id']);
    expect(say('five three one, two one, seven three five one').sensitive).toEqual(['government_id']);
    expect(say('my IBAN is GB82 WEST 1234 5698 7654 32').sensitive).toEqual(['bank_account']);
    expect(say('my pin is four three two one').sensitive).toEqual(['credentials']);
    expect(say('the password is hunter2').sensitive).toEqual(['credentials']);
    expect(say('one two three four', [agent('Can you tell me your four digit PIN?')]).sensitive).toEqual(['credentials']);
    expect(say('I was diagnosed with diabetes last year').sensitive).toEqual(['health']);
    expect(say('my password is not working').sensitive).toEqual([]);
  });
});

describe('the assessment itself', () => {
  it('is deterministic, local and fast', () => {
    const a = say('I need to change my delivery address');
    const b = say('I need to change my delivery address');
    expect({ ...a, latencyMs: 0 }).toEqual({ ...b, latencyMs: 0 });
    expect(a.source).toBe('local');
    expect(a.frustration).toBeGreaterThanOrEqual(0);
    expect(a.frustration).toBeLessThanOrEqual(1);
    expect(a.confidence).toBeGreaterThan(0);
    expect(a.rationale.length).toBeGreaterThan(0);
  });

  it('does not call the agent frustrated, but still sees sensitive data it reads back', () => {
    const a = local.assess({ text: 'I have your card as 4111 1111 1111 1111', track: 'outbound', context: [] });
    expect(a.wantsHuman).toBe(false);
    expect(a.frustration).toBe(0);
    expect(a.sensitive).toEqual(['payment_card']);
  });
});
