// A caller's turn in its conversation, as the local classifier reads it: plain answers are neutral, requests for a
// person are heard in their many forms (and look-alikes are not), and each cue of frustration counts.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LocalClassifier } from '../../src/classification/local.js';
import type { Turn } from '../../src/types.js';

const local = new LocalClassifier();
/** Where the default frustration rule starts a streak (rules/default.json). */
const RULES = JSON.parse(readFileSync(new URL('../../rules/default.json', import.meta.url), 'utf8')) as { rules: { id: string; when: { atLeast?: number } }[] };
const STREAK_STARTS = RULES.rules.find((r) => r.id === 'caller-frustrated')!.when.atLeast!;
const agent = (text: string): Turn => ({ track: 'outbound', text });
const caller = (text: string): Turn => ({ track: 'inbound', text });
/** The caller answers what the agent just asked. */
const answer = (question: string, text: string) => local.assess({ text, track: 'inbound', context: [agent(question)], final: true });
const say = (text: string, context: Turn[] = [agent('How can I help you today?')]) => local.assess({ text, track: 'inbound', context, final: true });

describe('neutral turns: answers, orders, quantities, places and thanks', () => {
  it.each([
    ['Anything else?', 'No.'],
    ['Would you like a pastry with that?', 'No, not now.'],
    ['Can I help with anything else?', "No, that's all."],
    ['Anything else for you today?', "Nope, that's all"],
    ['Do you have any allergies?', "I don't think so"],
    ['Two lattes, is that right?', 'No, make it three'],
    ['What can I get you?', 'I want a latte please'],
    ['What would you like?', 'I want a mocha, please'],
    ['How many people?', '1 person, please'],
    ['How many in your party?', 'just one person'],
    ['Where are you travelling to?', 'SF please'],
    ['Your table is booked.', 'thanks'],
  ])('after "%s", "%s" is calm and asks for no one', (question, text) => {
    const a = answer(question, text);
    expect(a.frustration).toBeLessThan(0.3);
    expect(a.wantsHuman).toBe(false);
    expect(a.sensitive).toEqual([]);
  });

  it.each([
    'I have a disability, does the restaurant offer access?',
    'can I bring my wheelchair on the train?',
    'Do you have gluten free options? My daughter is celiac.',
  ])('"%s" asks about access, it discloses no health data', (text) => {
    expect(say(text).sensitive).toEqual([]);
  });

  it.each([
    'I was diagnosed with diabetes last year',
    'I have diabetes and I take metformin twice a day',
    "I'm on 20 mg of lisinopril",
    'my member ID is 4 4 8 2 9 1 7',
  ])('"%s" discloses health details, and the cue does not repeat them', (text) => {
    const a = say(text);
    expect(a.sensitive).toEqual(['health']);
    expect(a.triggers.join(' ')).not.toMatch(/diabetes|metformin|lisinopril|4 4 8/i);
  });
});

describe('a request for a person', () => {
  it.each([
    'can you put me in touch with a human?',
    'gimme a proper human',
    'can you forward me to your team',
    'i want to speak to customer service',
    'human handoff',
    'put me through to someone',
    'can I speak with the manager',
    'transfer me please',
    'connect me with a real employee',
    'I need to talk to a supervisor',
    'lemme talk to a person',
    'I wanna speak to an agent',
    "I don't know how to talk to a person, can you help",
    'can I talkk to someone?',
    'i need assistance speakign to a human agent',
    'Representative!',
  ])('"%s" asks for a person', (text) => {
    const a = say(text);
    expect(a.wantsHuman).toBe(true);
    expect(a.intent).toBe('request_human');
  });

  it.each([
    'please',
    'help please',
    'talk to me!',
    'are you a bot?',
    "I don't need a person",
    'I need a doctor',
    'a table for one person',
    'can someone help her get on the train?',
    'my travel agent booked it',
  ])('"%s" does not', (text) => {
    expect(say(text).wantsHuman).toBe(false);
  });

  it("never takes the agent's own line for a request", () => {
    expect(local.assess({ text: 'Would you like me to transfer you to a person?', track: 'outbound', context: [] }).wantsHuman).toBe(false);
  });
});

describe('frustration cues', () => {
  // Each cue alone gets a turn to where the default rule starts a streak.
  const frustrated = (text: string, context?: Turn[]) => expect(say(text, context).frustration, text).toBeGreaterThanOrEqual(STREAK_STARTS);

  it.each([
    ['a repeated correction', 'No, I SAID Thursday'],
    ['repeating themselves', 'how many times do I have to tell you'],
    ['repeated failure', "you got it wrong again, it's still not fixed"],
    ['an insult', "you're an idiot"],
    ['swearing', 'this is bullshit, fix the damn thing'],
    ['sarcasm', 'oh great, thanks for nothing'],
    ['a threat to hang up', "forget it, I'll just hang up"],
    ['a threat to cancel', "I'm going to cancel my account over this"],
    ['the third time', 'this is the third time I call about this bill'],
  ])('%s: "%s"', (_cue, text) => frustrated(text));

  it('waiting on hold makes a turn frustrated, short of a handoff on its own', () => {
    const a = say('I have been on hold for an hour');
    expect(a.frustration).toBeGreaterThanOrEqual(0.5);
    expect(a.triggers).toContain("said 'been on hold'");
  });

  it('the agent going round in circles lifts the caller\'s next words', () => {
    const text = 'I need it today. I ran out this morning.';
    const context = [
      agent('How can I help?'),
      caller('I need my package today'),
      agent('Your package will arrive tomorrow.'),
      caller('but I need it today'),
      agent('Your package will arrive tomorrow.'),
    ];
    const a = say(text, context);
    expect(a.triggers.some((t) => t.startsWith('agent repeated itself'))).toBe(true);
    expect(a.frustration).toBeGreaterThan(say(text).frustration + 0.2);
  });

  it('rising negativity across turns lifts the same words', () => {
    const text = 'I just want my refund';
    const context = [
      agent('How can I help?'),
      caller('my refund still has not arrived'),
      agent("Sorry, I didn't catch that."),
      caller('my REFUND, it has not arrived, this is ridiculous'),
      agent('Could you repeat that?'),
    ];
    expect(say(text, context).frustration).toBeGreaterThan(say(text).frustration + 0.2);
    expect(say(text, context).frustration).toBeGreaterThanOrEqual(STREAK_STARTS);
  });
});

describe('conversation cues', () => {
  // Each row: the call so far, the caller's next words, and the cue the conversation must add to them.
  it.each<[string, Turn[], string, string]>([
    ['the agent says its line again with an apology in front', [
      agent('Your technician will call you back.'),
      caller('nobody has called me'),
      agent("I'm so sorry about that. Your technician will call you back."),
    ], 'when though', 'agent repeated itself'],
    ['tension the call added to an earlier turn carries on', [
      agent('Your refund has been issued.'),
      caller('I still have not got it'),
      agent('Your refund has been issued.'),
      caller('when was it issued'),
      agent('Refunds take five days.'),
    ], 'five days from when', '2 tense turns before'],
    ['the agent turns the caller away', [
      agent('Harbor Gas, how can I help?'),
      caller('my meter was read wrong'),
      agent("I'm unable to change a reading over the phone."),
    ], 'so who can then', 'agent turned the caller away'],
    ['the agent apologises', [
      agent('Harbor Gas, how can I help?'),
      caller('the engineer never came'),
      agent("I'm very sorry about that."),
    ], 'I took the whole day off', 'agent apologised'],
    ['the caller says again what they said before', [
      agent('Harbor Gas, how can I help?'),
      caller('I posted the meter photos on Friday'),
      agent('Please send us a photo of your meter.'),
    ], 'the photos went on Friday', 'says again what they said before'],
  ])('%s', (_cue, context, text, trigger) => {
    expect(say(text, context).triggers.some((t) => t.startsWith(trigger))).toBe(true);
  });
});

describe('call cues name what they heard', () => {
  // Each row: a caller's words and the cue they must carry (frustration rises by the cue's weight).
  it.each([
    ["that's what the last two agents told me", "said 'that's what the last two agents told me'"],
    ["honestly you keep losing my paperwork", "said 'you keep losing'"],
    ["fine, I'm contacting the consumer protection board", "said 'i'm contacting the consumer protection board'"],
    ["I'll just do a chargeback then", "said 'do a chargeback'"],
    ['I DID reset it, twice', 'stressed word (capitals)'],
    ['Six weeks? For a passport?', 'a wait thrown back in disbelief'],
    ['are you even hearing me', "said 'are you even hearing me'"],
    ["it's been nine days", "said 'it's been nine days'"],
    ["a working heater would be nice", "said 'would be nice'"],
    ["why should I pay a fee I never agreed to", "said 'why should i pay'"],
  ])('"%s" carries %s', (text, trigger) => {
    expect(say(text).triggers).toContain(trigger);
  });

  it.each([
    ["Sorry, I didn't understand.", 'agent failed to understand 1 time'],
  ])('after the agent says "%s", the next turn carries %s', (line, trigger) => {
    expect(say('the router, the router is broken', [agent('How can I help?'), caller('my router is broken'), agent(line)]).triggers).toContain(trigger);
  });
});
