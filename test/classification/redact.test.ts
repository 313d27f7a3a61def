// What reaches logs and stores: redact() must never let a card or phone number through, in digits or in words.

import { describe, expect, it } from 'vitest';
import { redact, redactTurns } from '../../src/classification/redact.js';

/** Every digit a text still carries, written or spoken, in order: what an attacker could read back. */
function digitsLeft(text: string): string {
  const words: Record<string, string> = { zero: '0', oh: '0', one: '1', two: '2', three: '3', four: '4', five: '5', six: '6', seven: '7', eight: '8', nine: '9' };
  return (text.toLowerCase().match(/\d|[a-z]+/g) ?? []).map((t) => (/\d/.test(t) ? t : words[t] ?? '')).join('');
}

describe('redact', () => {
  it.each([
    ['my card is 4111 1111 1111 1111', 'my card is [card]'],
    ['card 4111-1111-1111-1111 please', 'card [card] please'],
    ['it is four one one one one one one one one one one one one one one one', 'it is [card]'],
    ['call me at (415) 555-0134', 'call me at [phone]'],
    ['my number is +1 415 555 0134', 'my number is [phone]'],
    ['His social security number is 531-21-7351', 'His social security number is [ssn]'],
    ['my IBAN is GB82 WEST 1234 5698 7654 32.', 'my IBAN is [iban].'],
    ['write to jane.doe@example.com', 'write to [email]'],
    ['my pin is 4321 and my password is hunter2', 'my pin is [pin] and my password is [password]'],
  ])('%s -> %s', (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  it('never lets a card number through, whatever the form', () => {
    const forms = [
      '4111111111111111',
      '4111 1111 1111 1111',
      'four one one one, one one one one, one one one one, one one one one',
      'four double one one, one one one one, uh, one one one one, one one one one',
      'forty one eleven eleven eleven eleven eleven eleven eleven',
      '3782 822463 10005',
      'five five five five five five five five five five five five four four four four', // Luhn fails: still a long number
    ];
    for (const form of forms) {
      const out = redact(`sure, the number is ${form}, expiring soon`);
      expect(digitsLeft(out), out).toBe('');
    }
  });

  it('never lets a phone number through, whatever the form', () => {
    for (const form of ['415-555-0134', '(415) 555 0134', '4155550134', 'four one five, five five five, oh one three four', 'one eight hundred five five five one two one two', '+44 20 7946 0958']) {
      const out = redact(`you can reach me on ${form} after six`);
      expect(digitsLeft(out).replace(/^6$|6$/, ''), out).toBe('');
    }
  });

  it('leaves ordinary words and short numbers alone', () => {
    expect(redact('I have two kids and ordered 3 items for $45.99')).toBe('I have two kids and ordered 3 items for $45.99');
    expect(redact('my password is not working')).toBe('my password is not working');
  });
});

describe('redactTurns', () => {
  it('redacts a card read four digits at a time over several turns, which no single turn gives away', () => {
    const turns = redactTurns([
      { track: 'outbound', text: 'What is the card number?' },
      { track: 'inbound', text: 'it is 4111' },
      { track: 'outbound', text: 'okay' },
      { track: 'inbound', text: '1111' },
      { track: 'inbound', text: 'one one one one' },
      { track: 'inbound', text: '1111' },
    ]);
    expect(turns.map((t) => t.text)).toEqual(['What is the card number?', 'it is [card]', 'okay', '[card]', '[card]', '[card]']);
  });

  it('redacts the answer to "what is your PIN?"', () => {
    const turns = redactTurns([{ track: 'outbound', text: 'Can you tell me your PIN?' }, { track: 'inbound', text: 'four three two one' }]);
    expect(turns[1]!.text).toBe('[pin]');
  });
});
