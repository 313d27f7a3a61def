// Replays the hand-written tuning calls (fixtures/training/conversations.jsonl) through the default rules, as the
// eval does, and prints what acted where: a quick check while tuning, never a reported figure.
//
//   npx tsx scripts/training/check-conversations.ts [--verbose]

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalClassifier } from '../../src/classification/local.js';
import { REPO_ROOT } from '../classifier-data.js';
import { parseConversations } from '../conversations.js';
import { falseTakeovers, loadRules, personRequests, replay, upsetCallers } from '../replay.js';

const file = join(REPO_ROOT, 'fixtures/training/conversations.jsonl');
const all = parseConversations(readFileSync(file, 'utf8'), 'fixtures/training/conversations.jsonl');
const verbose = process.argv.includes('--verbose');
const local = new LocalClassifier();
const rules = await loadRules();
const of = (prefix: string) => all.filter((c) => c.id.startsWith(prefix));

const calm = await replay(of('tune-calm-'), rules, local);
const person = await replay([...of('tune-person-'), ...of('tune-notperson-')], rules, local);
const upset = await replay(of('tune-upset-'), rules, local);
const { worst, ...calmFigures } = falseTakeovers(calm, rules);
process.stdout.write(`${JSON.stringify({ calm: calmFigures, worst, person: personRequests(person), upset: upsetCallers(upset) }, null, 1)}\n`);
if (verbose) {
  for (const c of all) {
    const context: { track: 'inbound' | 'outbound'; text: string }[] = [];
    process.stdout.write(`\n${c.id}\n`);
    for (const t of c.turns) {
      if (t.track === 'inbound') {
        const a = local.assess({ text: t.text, track: 'inbound', context: context.slice(-8) });
        process.stdout.write(`  ${a.frustration.toFixed(2)} ${a.wantsHuman ? 'H' : ' '} ${t.upset ? 'U' : ' '} ${t.text}  [${a.triggers.join('; ')}]\n`);
      }
      context.push({ track: t.track, text: t.text });
    }
  }
}
