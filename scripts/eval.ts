// Scores the local classifier (npm run eval) on data it was not trained or tuned on, and prints one JSON object:
// frustration on GoEmotions dev, wants-human and sensitive on the held-aside 20% (by text hash).

import { LocalClassifier } from '../src/classification/local.js';
import type { SensitiveCategory, Turn } from '../src/types.js';
import { STRICT_ENTITIES, isFrustrated, isHeldAside, loadBitext, loadGoEmotions, loadPresidio } from './classifier-data.js';
import { sensitiveSamples } from './sensitive-samples.js';

const STRICT: SensitiveCategory[] = ['payment_card', 'government_id', 'bank_account'];

interface Counts {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

const empty = (): Counts => ({ tp: 0, fp: 0, fn: 0, tn: 0 });

function count(c: Counts, predicted: boolean, actual: boolean): void {
  if (predicted && actual) c.tp++;
  else if (predicted) c.fp++;
  else if (actual) c.fn++;
  else c.tn++;
}

function scores(c: Counts): { precision: number; recall: number; f1: number; n: number; positives: number } {
  const precision = c.tp / Math.max(1, c.tp + c.fp);
  const recall = c.tp / Math.max(1, c.tp + c.fn);
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return { precision: r(precision), recall: r(recall), f1: r(f1), n: c.tp + c.fp + c.fn + c.tn, positives: c.tp + c.fn };
}

function main(): void {
  const local = new LocalClassifier();
  const judge = (text: string, context: Turn[] = []) => local.assess({ text, track: 'inbound', context });

  const frustration = empty();
  for (const row of loadGoEmotions('dev')) count(frustration, judge(row.text).frustration >= 0.5, isFrustrated(row));

  const human = empty();
  let closeNegatives = 0;
  let closeNegativesFlagged = 0;
  for (const row of loadBitext().filter((r) => isHeldAside(r.text))) {
    const predicted = judge(row.text).wantsHuman;
    count(human, predicted, row.intent === 'contact_human_agent');
    if (row.intent === 'contact_customer_service') {
      closeNegatives++;
      if (predicted) closeNegativesFlagged++;
    }
  }

  const sensitive = empty();
  const byKind = new Map<string, Counts>();
  const strictHit = (text: string, context: Turn[]): boolean => judge(text, context).sensitive.some((c) => STRICT.includes(c));
  const score = (kind: string, text: string, context: Turn[], actual: boolean): void => {
    const predicted = strictHit(text, context);
    count(sensitive, predicted, actual);
    if (!byKind.has(kind)) byKind.set(kind, empty());
    count(byKind.get(kind)!, predicted, actual);
  };
  for (const row of loadPresidio().filter((r) => isHeldAside(r.text))) {
    score('presidio', row.text, [], row.entities.some((e) => STRICT_ENTITIES.includes(e)));
  }
  const bitextNumbers = loadBitext().filter((r) => isHeldAside(r.text) && /\d{4,}/.test(r.text));
  for (const row of bitextNumbers) score('bitext texts with numbers', row.text, [], false);
  for (const s of sensitiveSamples().filter((s) => isHeldAside(s.text + s.context.map((t) => t.text).join('|')))) {
    score(s.kind, s.text, s.context, s.sensitive);
  }

  const kinds = Object.fromEntries([...byKind].sort().map(([k, c]) => [k, c.tp + c.fn > 0 ? { recall: scores(c).recall, n: c.tp + c.fn } : { falsePositives: c.fp, n: c.fp + c.tn }]));
  const report = {
    classifier: `local (${local.modelVersion})`,
    frustration: { data: 'GoEmotions dev (a separate split, never trained or tuned on; threshold from out-of-fold scores on train)', labels: [2, 3, 9, 10, 11], ...scores(frustration) },
    wantsHuman: {
      data: 'Bitext held-aside 20% (contact_human_agent vs all other intents)',
      ...scores(human),
      closeNegatives: { intent: 'contact_customer_service', n: closeNegatives, flagged: closeNegativesFlagged },
    },
    sensitive: {
      data: 'held-aside 20%: Presidio sample, generated digit and spoken forms (also split over turns), generated look-alikes, Bitext texts with numbers',
      strict: ['CREDIT_CARD', 'US_SSN', 'IBAN_CODE', 'US_DRIVER_LICENSE'],
      ...scores(sensitive),
      byKind: kinds,
    },
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main();
