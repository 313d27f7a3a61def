// Scores the local classifier and the running rules (npm run eval) on data they were not trained or tuned on, and
// prints one JSON object (or, with --format text, a readable table): per-utterance figures on the public sets, and
// whole conversations replayed through the rules as a live call decides (false takeovers, requests, upset callers).
//
//   npm run eval -- [--split test|dev] [--rules FILE] [--format json|text] [--examples N]
//   npm run eval -- --labels FILE [--split test|dev|all] [--rules FILE] [--examples N]
//
// --labels replays only the conversations in FILE (npm run export-labels: the team's own calls, marked by
// supervisors' verdicts), each in the yardstick its marks put it in, and prints their figures as JSON.

import { parseArgs } from 'node:util';
import { LocalClassifier } from '../src/classification/local.js';
import type { SensitiveCategory, Turn } from '../src/types.js';
import { STRICT_ENTITIES, isFrustrated, isHeldAside, loadBitext, loadGoEmotions, loadPresidio } from './classifier-data.js';
import { loadLabels, loadRasaHandoff, loadSet, loadTaskmaster, setOf, type Split } from './conversations.js';
import { formatText } from './eval-text.js';
import { DEFAULT_RULES_FILE, falseTakeovers, loadRules, personRequests, replay, upsetCallers } from './replay.js';
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

function options(): { split: Split | 'all'; rules: string; format: 'json' | 'text'; examples: number; labels?: string } {
  const usage = 'usage: npm run eval -- [--split test|dev] [--rules FILE] [--format json|text] [--examples N]\n       npm run eval -- --labels FILE [--split test|dev|all] [--rules FILE] [--examples N]';
  let values;
  try {
    ({ values } = parseArgs({ options: { split: { type: 'string' }, rules: { type: 'string' }, format: { type: 'string' }, examples: { type: 'string' }, labels: { type: 'string' } } }));
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${usage}`);
  }
  const split = values.split ?? 'test';
  const format = values.format ?? 'json';
  if (split !== 'test' && split !== 'dev' && !(split === 'all' && values.labels)) throw new Error(`--split must be test or dev${values.labels ? ' or all' : ''}, not "${split}"\n${usage}`);
  if (values.labels && format !== 'json') throw new Error(`--labels prints JSON only (--format json)\n${usage}`);
  if (format !== 'json' && format !== 'text') throw new Error(`--format must be json or text, not "${format}"\n${usage}`);
  // Examples quote the conversations: on the test split they stay hidden unless asked for, so that reading the
  // figures never means reading the test part.
  const examples = Number(values.examples ?? (split === 'dev' ? 10 : 0));
  if (!Number.isInteger(examples) || examples < 0) throw new Error(`--examples must be a whole number, not "${values.examples}"\n${usage}`);
  return { split, rules: values.rules ?? DEFAULT_RULES_FILE, format, examples, ...(values.labels ? { labels: values.labels } : {}) };
}

/** --labels: the team's labelled conversations, replayed through the rules, each in the yardstick its marks name. */
async function evalLabels(opts: ReturnType<typeof options> & { labels: string }): Promise<void> {
  const local = new LocalClassifier();
  const conversations = loadLabels(opts.labels, opts.split);
  const rules = await loadRules(opts.rules).catch((err: Error) => {
    throw new Error(err.message.replace(/^RULES_FILE=/, '--rules '));
  });
  const of = (set: 'calm' | 'person' | 'upset') => conversations.filter((c) => setOf(c) === set);
  const calm = await replay(of('calm'), rules, local);
  const report = {
    classifier: `local (${local.modelVersion})`,
    split: opts.split,
    rules: opts.rules,
    labels: { file: opts.labels, conversations: conversations.length, calm: calm.length, person: of('person').length, upset: of('upset').length },
    falseTakeovers: { data: 'labelled calm conversations: any enforce rule acting is a false takeover', ...falseTakeovers(calm, rules, opts.examples) },
    personRequests: { data: 'labelled conversations in which the caller asks for a person', ...personRequests(await replay(of('person'), rules, local), opts.examples) },
    upsetCallers: { data: 'labelled conversations with upset caller turns; target: handed off by the third upset turn', ...upsetCallers(await replay(of('upset'), rules, local), opts.examples) },
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

async function main(): Promise<void> {
  const opts = options();
  if (opts.labels) return evalLabels({ ...opts, labels: opts.labels });
  if (opts.split === 'all') throw new Error('--split all goes with --labels only');
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

  const rasa = empty();
  const rasaClose = new Map<string, { n: number; flagged: number }>();
  const rasaMissed: string[] = [];
  const rasaWrong: string[] = [];
  for (const row of loadRasaHandoff()) {
    const predicted = judge(row.text).wantsHuman;
    count(rasa, predicted, row.wantsHuman);
    if (row.wantsHuman && !predicted) rasaMissed.push(row.text);
    if (!row.wantsHuman && predicted) rasaWrong.push(row.text);
    if (['check_human', 'bot_challenge', 'help'].includes(row.intent)) {
      const c = rasaClose.get(row.intent) ?? { n: 0, flagged: 0 };
      c.n++;
      if (predicted) c.flagged++;
      rasaClose.set(row.intent, c);
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

  // Whole conversations, through the rules as the service loads them and the dry run's path.
  const rules = await loadRules(opts.rules).catch((err: Error) => {
    throw new Error(err.message.replace(/^RULES_FILE=/, '--rules '));
  });
  const split: Split = opts.split;
  const taskmaster = loadTaskmaster(split);
  const written = loadSet('calm', split);
  const calm = await replay([...taskmaster, ...written], rules, local);
  // Taskmaster's many short typed orders would drown the written calls in one overall share: each is shown apart too.
  const part = (rs: typeof calm) => {
    const { conversations, withTakeover, share } = falseTakeovers(rs, rules, 0);
    return { conversations, withTakeover, share };
  };
  const bySet = { taskmaster: part(calm.slice(0, taskmaster.length)), written: part(calm.slice(taskmaster.length)) };
  const person = await replay(loadSet('person', split), rules, local);
  const upset = await replay(loadSet('upset', split), rules, local);

  const kinds = Object.fromEntries([...byKind].sort().map(([k, c]) => [k, c.tp + c.fn > 0 ? { recall: scores(c).recall, n: c.tp + c.fn } : { falsePositives: c.fp, n: c.fp + c.tn }]));
  const report = {
    classifier: `local (${local.modelVersion})`,
    split: opts.split,
    // The public sets' held-aside parts are the same in both splits: only the conversations change with --split.
    note: 'frustration, wantsHuman, wantsHumanRasa and sensitive are held-aside public data in both splits: never tune on them; tune on the dev split of the conversations only',
    rules: opts.rules,
    frustration: { data: 'GoEmotions dev (a separate split, never trained or tuned on; threshold from out-of-fold scores on train)', labels: [2, 3, 9, 10, 11], ...scores(frustration) },
    wantsHuman: {
      data: 'Bitext held-aside 20% (contact_human_agent vs all other intents)',
      ...scores(human),
      closeNegatives: { intent: 'contact_customer_service', n: closeNegatives, flagged: closeNegativesFlagged },
    },
    wantsHumanRasa: {
      data: 'Rasa financial-demo + helpdesk NLU, all of it (human_handoff vs every other intent; evaluation only, the same in both splits)',
      ...scores(rasa),
      closeNegatives: Object.fromEntries([...rasaClose].sort()),
      missed: rasaMissed.slice(0, opts.examples),
      wronglyFlagged: rasaWrong.slice(0, opts.examples),
    },
    sensitive: {
      data: 'held-aside 20%: Presidio sample, generated digit and spoken forms (also split over turns), generated look-alikes, Bitext texts with numbers',
      strict: ['CREDIT_CARD', 'US_SSN', 'IBAN_CODE', 'US_DRIVER_LICENSE'],
      ...scores(sensitive),
      byKind: kinds,
    },
    falseTakeovers: {
      data: `calm conversations, ${opts.split} part: Taskmaster coffee orders (${taskmaster.length}) and hand-written calls (${written.length}, fixtures/conversations/calm-*); any enforce rule acting is a false takeover`,
      ...falseTakeovers(calm, rules, opts.examples),
      bySet,
    },
    personRequests: {
      data: `hand-written calls, ${opts.split} part (fixtures/conversations/person-*): the caller asks for a person mid-call, or a hard negative`,
      ...personRequests(person, opts.examples),
    },
    upsetCallers: {
      data: `hand-written calls, ${opts.split} part (fixtures/conversations/upset-*): the caller grows upset; target: handed off by the third upset turn`,
      ...upsetCallers(upset, opts.examples),
    },
  };
  process.stdout.write(opts.format === 'text' ? formatText(report, opts.examples) : `${JSON.stringify(report)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message ?? err}\n`);
  process.exit(1);
});
