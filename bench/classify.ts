// Measures the local classifier per utterance (p50/p99 over a realistic mix, with context) next to references taken
// in the same run: a JSON parse+stringify round trip of the same input and a single regex pass. Prints JSON.

import { performance } from 'node:perf_hooks';
import { LocalClassifier } from '../src/classification/local.js';
import type { ClassifyInput, Turn } from '../src/types.js';

const agent = (text: string): Turn => ({ track: 'outbound', text });
const caller = (text: string): Turn => ({ track: 'inbound', text });

const CONVERSATION: Turn[] = [
  agent('Thanks for calling Acme, how can I help you today?'),
  caller('hi yeah I am calling about my internet bill, it went up again this month'),
  agent('I can help with that. Can you confirm the account holder name?'),
  caller('it is Jordan Smith'),
  agent('Thank you. I see a charge of forty nine dollars for the premium plan.'),
  caller('I never asked for the premium plan, this is the third time I call about it'),
  agent("I'm sorry, I didn't catch that. Could you repeat?"),
  caller('I said I never signed up for premium'),
];

const UTTERANCES: [string, number][] = [
  ['yes that is right', 2],
  ['okay', 0],
  ['can you tell me when my package will arrive, I ordered it last week and it still has not shipped', 4],
  ['this is ridiculous, I have been on hold for forty five minutes', 6],
  ['let me talk to a real person', 8],
  ['are you a bot?', 3],
  ['agent', 8],
  ['my card number is four one one one one one one one one one one one one one one one', 2],
  ['one one one one one one one one', 8],
  ['sure, my social is one two three, four five, six seven eight nine', 4],
  ['my pin is four three two one', 2],
  ['I am so fed up with this company, you people are useless and nobody ever calls me back', 8],
  ['I want to update the address on my account to 55 Main Street apartment 4', 4],
  ['my order number is 113542617735902', 2],
  ['call me back at four one five five five five oh one three four', 6],
  ['thank you so much, that was really helpful', 8],
  ['I was diagnosed with diabetes and I need to change my delivery time', 4],
  ['no no no that is not what I said, are you even listening to me', 8],
  ['I would like to pay my bill with my visa please', 2],
  ['what are your opening hours on Saturday', 0],
];

const FILLERS = ['', 'um', 'uh', 'so', 'well', 'okay', 'please', 'now', 'actually', 'right', 'yeah', 'like', 'basically', 'honestly'];

/** A different text each time (as on a real call), so the per-text cache only helps with context turns. */
function input(k: number): ClassifyInput {
  const [text, turns] = UTTERANCES[k % UTTERANCES.length]!;
  const a = FILLERS[Math.floor(k / UTTERANCES.length) % FILLERS.length]!;
  const b = FILLERS[Math.floor(k / (UTTERANCES.length * FILLERS.length)) % FILLERS.length]!;
  const last = turns > 0 && turns % 2 === 0 ? [agent('mm-hmm')] : [];
  return { callSid: 'CA-bench', text: `${a} ${text} ${b}`.trim(), track: 'inbound', context: [...CONVERSATION.slice(-turns), ...last], final: true };
}

function percentiles(samples: number[]): { p50Us: number; p90Us: number; p99Us: number; maxUs: number; meanUs: number } {
  const s = [...samples].sort((x, y) => x - y);
  const at = (q: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 1000 * 10) / 10;
  const mean = s.reduce((x, y) => x + y, 0) / s.length;
  return { p50Us: at(0.5), p90Us: at(0.9), p99Us: at(0.99), maxUs: at(1), meanUs: Math.round(mean * 10000) / 10 };
}

function measure(n: number, fn: (k: number) => void): number[] {
  const samples: number[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const t0 = performance.now();
    fn(k);
    samples[k] = performance.now() - t0;
  }
  return samples;
}

function main(): void {
  const n = Number(process.env.BENCH_N ?? 20_000);
  const loadStart = performance.now();
  const local = new LocalClassifier();
  const loadMs = performance.now() - loadStart;
  const inputs = Array.from({ length: n }, (_, k) => input(k));
  let sink = 0;
  measure(2000, (k) => {
    sink += local.assess(inputs[k % n]!).frustration;
  });
  const classify = measure(n, (k) => {
    sink += local.assess(inputs[k]!).frustration;
  });
  const json = measure(n, (k) => {
    sink += JSON.stringify(JSON.parse(JSON.stringify(inputs[k]!))).length;
  });
  const digits = /\b(?:\d[\s-]?){13,19}\b/;
  const regex = measure(n, (k) => {
    sink += digits.test(inputs[k]!.text) ? 1 : 0;
  });
  process.stdout.write(
    `${JSON.stringify({
      benchmark: 'local classifier, one utterance with 0-8 context turns',
      n,
      utterances: UTTERANCES.length,
      modelLoadMs: Math.round(loadMs),
      local: percentiles(classify),
      reference: { jsonParseStringify: percentiles(json), singleRegexPass: percentiles(regex) },
      node: process.version,
      sink: sink > 0,
    })}\n`,
  );
}

main();
