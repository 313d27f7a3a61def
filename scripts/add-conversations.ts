// Adds hand-written conversations to fixtures/conversations/, each to its dev or test file by the id hash
// (splitOf), so whoever writes them never has to decide, and the classifier's author never sees the test part.
//
//   npx tsx scripts/add-conversations.ts --set calm|person|upset FILE...
//
// FILE is plain text, one conversation per paragraph (blank line between), one turn per line:
//   = restaurant            the kind of the conversations that follow (restaurant, train, billing, …)
//   A: How can I help?      the agent (outbound)
//   C: A table for two.     the caller (inbound)
//   C!: No, I SAID Thursday the caller, upset on this turn (upset sets)
//   C?: Put me through to someone.   the caller, asking for a person on this turn (person sets)
// Ids are made up as <set>-<kind>-<n>, numbered on from the conversations already there.

import { appendFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CONVERSATIONS_DIR, SETS, parseConversations, splitOf, type ConversationTurn, type SetName } from './conversations.js';

interface Draft {
  kind: string;
  turns: ConversationTurn[];
}

function parseDrafts(text: string, source: string): Draft[] {
  const drafts: Draft[] = [];
  let kind = '';
  let current: Draft | undefined;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) {
      current = undefined;
      continue;
    }
    const kindLine = /^=\s*([a-z][a-z0-9-]*)$/.exec(line);
    if (kindLine) {
      kind = kindLine[1]!;
      current = undefined;
      continue;
    }
    const m = /^(A|C|C!|C\?):\s*(.+)$/.exec(line);
    if (!m) throw new Error(`${source}:${i + 1}: expected "= kind", "A: …", "C: …", "C!: …" or "C?: …", got "${line}"`);
    if (!kind) throw new Error(`${source}:${i + 1}: no "= kind" line before the first conversation`);
    if (!current) drafts.push((current = { kind, turns: [] }));
    const turn: ConversationTurn = { track: m[1] === 'A' ? 'outbound' : 'inbound', text: m[2]! };
    if (m[1] === 'C!') turn.upset = true;
    if (m[1] === 'C?') turn.asksForPerson = true;
    current.turns.push(turn);
  }
  return drafts;
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { set: { type: 'string' } }, allowPositionals: true });
  const set = values.set as SetName;
  if (!(set in SETS) || positionals.length === 0) throw new Error('usage: npx tsx scripts/add-conversations.ts --set calm|person|upset FILE...');
  mkdirSync(CONVERSATIONS_DIR, { recursive: true });
  const existing = readdirSync(CONVERSATIONS_DIR).filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => parseConversations(readFileSync(join(CONVERSATIONS_DIR, f), 'utf8'), f));
  const ids = new Set(existing.map((c) => c.id));
  const next = new Map<string, number>();
  const counts = { dev: 0, test: 0 };
  for (const file of positionals) {
    for (const d of parseDrafts(readFileSync(file, 'utf8'), file)) {
      const prefix = `${set}-${d.kind}-`;
      let n = next.get(prefix) ?? 1 + Math.max(0, ...[...ids].filter((id) => id.startsWith(prefix)).map((id) => Number(id.slice(prefix.length)) || 0));
      const id = `${prefix}${String(n).padStart(3, '0')}`;
      next.set(prefix, ++n);
      ids.add(id);
      const split = splitOf(id);
      const target = join(CONVERSATIONS_DIR, `${SETS[set]}${d.kind}.${split}.jsonl`);
      appendFileSync(target, `${JSON.stringify({ id, kind: d.kind, turns: d.turns })}\n`);
      counts[split]++;
    }
  }
  process.stdout.write(`${JSON.stringify({ set, added: counts })}\n`);
}

main();
