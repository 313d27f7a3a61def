// Generates phone-style test utterances for sensitive data (seeded, so every run makes the same set): cards, SSNs,
// IBANs and licence numbers as digits and as speech, split over turns, and look-alikes that must not count.

import type { Turn } from '../src/types.js';

export interface SensitiveSample {
  text: string;
  context: Turn[];
  /** Strict: a card, SSN, IBAN or driver's licence is in the text (or completed by it). */
  sensitive: boolean;
  kind: string;
}

type Rand = () => number;


const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const digits = (r: Rand, n: number): string => Array.from({ length: n }, () => String(Math.floor(r() * 10))).join('');

function luhnComplete(body: string): string {
  for (let d = 0; d <= 9; d++) {
    const full = body + d;
    let sum = 0;
    let dbl = false;
    for (let i = full.length - 1; i >= 0; i--) {
      let v = full.charCodeAt(i) - 48;
      if (dbl) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
      sum += v;
      dbl = !dbl;
    }
    if (sum % 10 === 0) return full;
  }
  throw new Error('unreachable');
}

function cardNumber(r: Rand): string {
  const [prefix, len] = pick(r, [
    ['4', 16], ['4', 16], ['4', 16], ['51', 16], ['53', 16], ['55', 16], ['2221', 16], ['2720', 16],
    ['34', 15], ['37', 15], ['6011', 16], ['65', 16], ['35', 16], ['36', 14], ['4', 13],
  ] as const);
  return luhnComplete(prefix + digits(r, len - prefix.length - 1));
}

function ssn(r: Rand): string {
  let area: string;
  do area = digits(r, 3); while (area === '000' || area === '666' || area[0] === '9');
  let group: string;
  do group = digits(r, 2); while (group === '00');
  let serial: string;
  do serial = digits(r, 4); while (serial === '0000');
  return area + group + serial;
}

function iban(r: Rand): string {
  const [cc, bban] = pick(r, [
    ['GB', () => `${pick(r, ['WEST', 'NWBK', 'BARC', 'LOYD', 'MIDL'])}${digits(r, 14)}`],
    ['DE', () => digits(r, 18)],
    ['FR', () => digits(r, 23)],
    ['NL', () => `${pick(r, ['ABNA', 'RABO', 'INGB'])}${digits(r, 10)}`],
    ['ES', () => digits(r, 20)],
    ['IT', () => `${pick(r, ['X', 'K', 'A'])}${digits(r, 22)}`],
  ] as const);
  const b = bban();
  const numeric = (b + cc + '00').replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  let rem = 0;
  for (const ch of numeric) rem = (rem * 10 + Number(ch)) % 97;
  return `${cc}${String(98 - rem).padStart(2, '0')}${b}`;
}

const WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
const TEENS = ['ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'];

/** One group of digits the way a caller reads it: digit by digit, "oh", "double", or in pairs ("forty one"). */
function speakGroup(r: Rand, g: string): string {
  if (g.length === 4 && g[0] !== '0' && g[2] !== '0' && r() < 0.15) return [g.slice(0, 2), g.slice(2)].map(pair).join(' ');
  const out: string[] = [];
  for (let i = 0; i < g.length; i++) {
    const d = Number(g[i]);
    if (g[i + 1] === g[i] && r() < 0.4) {
      out.push(`double ${d === 0 && r() < 0.5 ? 'oh' : WORDS[d]}`);
      i++;
      continue;
    }
    out.push(d === 0 && r() < 0.5 ? 'oh' : WORDS[d]!);
  }
  return out.join(' ');
}

function pair(p: string): string {
  const n = Number(p);
  if (n < 10) return `oh ${WORDS[n]}`;
  if (n < 20) return TEENS[n - 10]!;
  return n % 10 === 0 ? TENS[n / 10]! : `${TENS[Math.floor(n / 10)]} ${WORDS[n % 10]}`;
}

function groupsOf(num: string, sizes: number[]): string[] {
  const out: string[] = [];
  let at = 0;
  for (const s of sizes) {
    if (at >= num.length) break;
    out.push(num.slice(at, at + s));
    at += s;
  }
  if (at < num.length) out.push(num.slice(at));
  return out;
}

function cardGroups(num: string): number[] {
  if (num.length === 15) return [4, 6, 5];
  if (num.length === 14) return [4, 6, 4];
  return [4, 4, 4, 4, 3];
}

function sayNumber(r: Rand, num: string, sizes: number[]): string {
  const sep = pick(r, [', ', ' ', ' ... ', ', uh, ', ' - ']);
  return groupsOf(num, sizes).map((g) => speakGroup(r, g)).join(sep);
}

function writeNumber(r: Rand, num: string, sizes: number[]): string {
  const style = r();
  if (style < 0.3) return num;
  return groupsOf(num, sizes).join(style < 0.7 ? ' ' : '-');
}

const CARD_TEMPLATES = [
  'my card number is {}', "it's {}", '{}', 'the card number is {}', 'sure, {}', 'okay the number is {}', 'visa {}',
  'yeah it is {} expiring oh four twenty seven', '{} and the expiration is twelve twenty six', 'charge it to {}',
  'I want to pay with my credit card, {}', 'the long number on the front is {}', 'um {} I think', 'card {} please',
  "it's my debit card, {}", 'number {}',
];
const SSN_TEMPLATES = ['my social is {}', 'social security number {}', "it's {}", 'SSN {}', 'sure, my social security number is {}', 'the last one I have is {}'];
const IBAN_TEMPLATES = ['my IBAN is {}', "it's {}", 'the account is {}', 'send it to {}', 'IBAN {}', '{}'];
const DL_TEMPLATES = ["my driver's license number is {}", 'license number {}', "the driver's license is {}", 'my drivers license {}'];

const fill = (template: string, value: string): string => template.replace('{}', value);

function spellIban(r: Rand, ib: string): string {
  return ib.split('').map((c) => (/\d/.test(c) ? (c === '0' && r() < 0.3 ? 'oh' : WORDS[Number(c)]!) : c)).join(' ');
}

function positives(r: Rand): SensitiveSample[] {
  const out: SensitiveSample[] = [];
  for (let i = 0; i < 300; i++) {
    const num = cardNumber(r);
    const spoken = i % 2 === 0;
    const said = spoken ? sayNumber(r, num, cardGroups(num)) : writeNumber(r, num, cardGroups(num));
    out.push({ text: fill(pick(r, CARD_TEMPLATES), said), context: [], sensitive: true, kind: spoken ? 'card spoken' : 'card digits' });
  }
  for (let i = 0; i < 150; i++) {
    const num = cardNumber(r);
    const cut = pick(r, [4, 6, 8, 8, 10, 12]);
    const head = spoken(r, num.slice(0, cut), i);
    const tailText = spoken(r, num.slice(cut), i + 1);
    const lead = pick(r, ['my card number is ', 'okay ', '', "it's ", 'the number is ']);
    const context: Turn[] = [{ track: 'outbound', text: pick(r, ['What is the card number?', 'Go ahead with the number.', 'Please read me your card number.', 'How would you like to pay?']) }, { track: 'inbound', text: lead + head }];
    if (r() < 0.6) context.push({ track: 'outbound', text: pick(r, ['mm-hmm', 'okay', 'go on', 'got it']) });
    out.push({ text: pick(r, ['', 'and ', 'then ']) + tailText, context, sensitive: true, kind: 'card split over turns' });
  }
  for (let i = 0; i < 150; i++) {
    const s = ssn(r);
    const form = i % 3;
    const said = form === 0 ? `${s.slice(0, 3)}-${s.slice(3, 5)}-${s.slice(5)}` : form === 1 ? sayNumber(r, s, [3, 2, 4]) : s.split('').map((d) => WORDS[Number(d)]).join(' ');
    const text = form === 2 ? fill(pick(r, ['my social is {}', 'social security number {}', 'SSN {}', 'sure, my social security number is {}']), said) : fill(pick(r, SSN_TEMPLATES), said);
    out.push({ text, context: [], sensitive: true, kind: form === 0 ? 'ssn digits' : 'ssn spoken' });
  }
  for (let i = 0; i < 50; i++) {
    const s = ssn(r);
    out.push({ text: `sure, ${s.split('').map((d) => WORDS[Number(d)]).join(' ')}`, context: [{ track: 'outbound', text: 'Can I have your social security number to verify your identity?' }], sensitive: true, kind: 'ssn after question' });
  }
  for (let i = 0; i < 100; i++) {
    const ib = iban(r);
    const form = i % 3;
    const said = form === 0 ? ib : form === 1 ? ib.match(/.{1,4}/g)!.join(' ') : spellIban(r, ib);
    out.push({ text: fill(pick(r, IBAN_TEMPLATES), said), context: [], sensitive: true, kind: form === 2 ? 'iban spoken' : 'iban written' });
  }
  for (let i = 0; i < 50; i++) {
    const dl = pick(r, [digits(r, 9), digits(r, 8), `D${digits(r, 7)}`, `${pick(r, ['A', 'B', 'S'])}${digits(r, 12)}`]);
    const said = r() < 0.4 ? dl.split('').map((c) => (/\d/.test(c) ? WORDS[Number(c)] : c)).join(' ') : dl;
    out.push({ text: fill(pick(r, DL_TEMPLATES), said), context: [], sensitive: true, kind: 'driver license' });
  }
  return out;
}

function spoken(r: Rand, part: string, i: number): string {
  return i % 2 === 0 ? sayNumber(r, part, [4, 4, 4, 4]) : part.match(/.{1,4}/g)!.join(' ');
}

function phone(r: Rand): string {
  return `${pick(r, ['2', '3', '4', '5', '6', '7', '8', '9'])}${digits(r, 2)}${pick(r, ['2', '3', '4', '5', '6', '7', '8', '9'])}${digits(r, 6)}`;
}

function negatives(r: Rand): SensitiveSample[] {
  const out: SensitiveSample[] = [];
  const add = (text: string, kind: string, context: Turn[] = []): void => {
    out.push({ text, context, sensitive: false, kind });
  };
  for (let i = 0; i < 150; i++) {
    const p = phone(r);
    const form = i % 4;
    const said = form === 0 ? `(${p.slice(0, 3)}) ${p.slice(3, 6)}-${p.slice(6)}` : form === 1 ? `${p.slice(0, 3)}-${p.slice(3, 6)}-${p.slice(6)}` : form === 2 ? sayNumber(r, p, [3, 3, 4]) : `+1 ${p.slice(0, 3)} ${p.slice(3, 6)} ${p.slice(6)}`;
    add(fill(pick(r, ['call me at {}', 'my number is {}', 'you can reach me on {}', "it's {}", 'my cell is {}', 'the best number is {}']), said), 'phone number');
  }
  for (let i = 0; i < 200; i++) {
    const n = digits(r, pick(r, [8, 10, 12, 14, 15, 15, 16, 16]));
    const said = i % 3 === 0 ? sayNumber(r, n, [4, 4, 4, 4]) : n;
    add(fill(pick(r, ['my order number is {}', 'tracking number {}', 'the confirmation number is {}', 'reference {}', 'invoice {} is wrong', 'I am calling about order {}', 'my ticket number is {}', 'the case number is {}', 'policy number {}', 'my booking reference is {}']), said), 'order/reference number');
  }
  const plain = [
    'I have two kids and one dog', 'I called three times in two days', "it's been forty five minutes", 'my flight is at seven thirty',
    'I paid 1,250 dollars on March 3rd 2024', 'the invoice was $45.99', 'born on 12/27/1986', 'my zip code is 90210',
    'I live at 1600 Pennsylvania Avenue', 'it was delivered on the 15th', 'room four one two please', 'I need 2 to 3 days',
    'the total was two hundred and fifty dollars', 'extension four five six seven', 'my card ending in 4242 was declined',
    'the last four digits are one two three four', 'it expires oh four twenty seven', 'How do I check my balance on my credit card?',
    'I lost my credit card yesterday', 'what is my card limit', 'I want to order 3 items', 'my account is 3 months overdue',
    'version 2.4.1 of the app crashes', 'we have 24 hours', 'it costs 19.99 a month', 'in 2023 I moved to 55 Main Street',
    'between 9 and 5', 'my pin is not working', 'can I pay by card', 'I have had this card for 10 years',
  ];
  for (const t of plain) add(t, 'ordinary numbers');
  for (let i = 0; i < 60; i++) {
    const d = `${pick(r, ['January', 'March', 'June', 'October'])} ${1 + Math.floor(r() * 28)}, ${1950 + Math.floor(r() * 70)}`;
    add(fill(pick(r, ['my date of birth is {}', 'it happened on {}', 'I ordered it on {}']), d), 'dates');
    add(`I paid ${Math.floor(r() * 5000)} dollars and ${Math.floor(r() * 99)} cents`, 'amounts');
  }
  return out;
}

/** The whole generated set, the same on every run. */
/** A small seeded PRNG (mulberry32): the same seed gives the same samples on every machine. */
export function mulberry32(seed: number): Rand {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sensitiveSamples(seed = 31337): SensitiveSample[] {
  const r = mulberry32(seed);
  return [...positives(r), ...negatives(r)];
}
