// The yardstick's hand-written conversations (fixtures/conversations/): well formed, and split so that nothing of
// the test part can reach the dev files the classifier may be tuned on.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONVERSATIONS_DIR, loadSet, parseConversations, splitOf, type Conversation } from '../../scripts/conversations.js';

const FILE = /^(calm|person|upset)-([a-z][a-z0-9-]*)\.(dev|test)\.jsonl$/;
const files = readdirSync(CONVERSATIONS_DIR).filter((f) => f.endsWith('.jsonl'));
const all = files.map((f) => ({ f, m: FILE.exec(f), rows: parseConversations(readFileSync(join(CONVERSATIONS_DIR, f), 'utf8'), f) }));
const both = (set: 'calm' | 'person' | 'upset'): Conversation[] => [...loadSet(set, 'dev'), ...loadSet(set, 'test')];

describe('the hand-written conversations', () => {
  it('live in files named <set>-<kind>.<dev|test>.jsonl, each conversation of that kind', () => {
    expect(all.filter(({ m }) => !m).map(({ f }) => f)).toEqual([]);
    const wrongKind = all.flatMap(({ m, rows }) => rows.filter((c) => c.kind !== m![2]).map((c) => c.id));
    expect(wrongKind).toEqual([]);
  });

  it('sit in the dev or test file their id hashes to, and no id is used twice', () => {
    const misplaced = all.flatMap(({ m, rows }) => rows.filter((c) => splitOf(c.id) !== m![3]).map((c) => c.id));
    expect(misplaced).toEqual([]);
    const ids = all.flatMap(({ rows }) => rows.map((c) => c.id));
    expect(ids.length - new Set(ids).size).toBe(0);
  });

  it('hold at least 400 calm calls of 4 to 14 turns across 8 or more kinds, none marked upset or asking for a person', () => {
    const calm = both('calm');
    expect(calm.length).toBeGreaterThanOrEqual(400);
    expect(new Set(calm.map((c) => c.kind)).size).toBeGreaterThanOrEqual(8);
    expect(calm.filter((c) => c.turns.length < 4 || c.turns.length > 14).map((c) => c.id)).toEqual([]);
    expect(calm.filter((c) => c.turns.some((t) => t.upset || t.asksForPerson)).map((c) => c.id)).toEqual([]);
  });

  it('hold at least 150 upset callers, each upset on two or more of their own turns', () => {
    const upset = both('upset');
    expect(upset.length).toBeGreaterThanOrEqual(150);
    expect(upset.filter((c) => c.turns.filter((t) => t.upset && t.track === 'inbound').length < 2).map((c) => c.id)).toEqual([]);
    expect(upset.filter((c) => c.turns.some((t) => t.upset && t.track !== 'inbound')).map((c) => c.id)).toEqual([]);
  });

  it('mark requests for a person on caller turns only, with hard negatives beside them', () => {
    const person = both('person');
    const asks = person.filter((c) => c.turns.some((t) => t.asksForPerson));
    expect(asks.length).toBeGreaterThanOrEqual(60);
    expect(person.length - asks.length).toBeGreaterThanOrEqual(40);
    expect(person.filter((c) => c.turns.some((t) => t.asksForPerson && t.track !== 'inbound')).map((c) => c.id)).toEqual([]);
  });

  it('split about 40/60 between dev and test', () => {
    const dev = files.filter((f) => f.includes('.dev.')).flatMap((f) => all.find((a) => a.f === f)!.rows).length;
    const total = all.reduce((n, a) => n + a.rows.length, 0);
    expect(dev / total).toBeGreaterThan(0.3);
    expect(dev / total).toBeLessThan(0.5);
  });
});

describe('parseConversations', () => {
  it('names the file and line of a malformed conversation', () => {
    expect(() => parseConversations('{"id":"a","kind":"x","turns":[{"track":"inbound","text":"hi"}]}\n{"id":"b","turns":[{"track":"caller","text":"hi"}]}', 'calm-x.dev.jsonl'))
      .toThrow(/calm-x\.dev\.jsonl:2: "b" turn 0: needs track "inbound" or "outbound"/);
  });
});
