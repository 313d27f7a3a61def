// Rules at start and on change: the rules file seeds an empty store, after which the store's set runs;
// a change is validated, saved as a version made from the current one, and only then run.
import { describe, expect, it } from 'vitest';
import { RuleBook } from '../../src/rules/rule-book.js';
import { parseRuleSet, RuleValidationError, type Rule } from '../../src/rules/schema.js';
import { MemoryStore } from '../../src/store/memory.js';
import { loadRuleSet, RuleSets } from '../../src/store/rule-sets.js';
import { RuleSetConflictError } from '../../src/store/types.js';

const rules = (...ids: string[]): Rule[] =>
  parseRuleSet(ids.map((id) => ({ id, when: { type: 'wants_human' }, action: { type: 'handoff', to: { queue: 'support' } } })));

const log = () => {
  const lines: string[] = [];
  const at = (level: string) => (_o: object, msg: string) => lines.push(`${level}: ${msg}`);
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
};

describe('loading the rule set at start', () => {
  it('seeds an empty store from the rules file', async () => {
    const store = new MemoryStore();
    const book = new RuleBook(rules('a'));
    const v = await loadRuleSet(store, book, { source: 'file', origin: 'rules/default.json' });
    expect(v).toMatchObject({ version: 1, actor: 'system', change: 'seeded from rules/default.json' });
    expect(book.rules.map((r) => r.id)).toEqual(['a']);
  });

  it('seeds once when several instances start on the same empty store', async () => {
    const store = new MemoryStore();
    const books = [new RuleBook(rules('a')), new RuleBook(rules('a'))];
    const loaded = await Promise.all(books.map((b) => loadRuleSet(store, b, { source: 'file', origin: 'rules/default.json' })));
    expect(loaded.map((v) => v.version)).toEqual([1, 1]);
    expect(store.ruleSets).toHaveLength(1);
  });

  it('runs the stored set, not the file, once the store has one, and says so', async () => {
    const store = new MemoryStore();
    await store.saveRuleSet({ actor: 'supervisor:alice', change: 'created rule "b"', rules: rules('b') });
    const book = new RuleBook(rules('a'));
    const l = log();
    const v = await loadRuleSet(store, book, { source: 'file', origin: 'rules/default.json', log: l });
    expect(v.version).toBe(1);
    expect(book.rules.map((r) => r.id)).toEqual(['b']);
    expect(l.lines.join('\n')).toMatch(/rules\/default.json differs from the stored rule set/);
  });

  it('keeps the file\'s rules running when the stored set is not valid any more', async () => {
    const store = new MemoryStore();
    await store.saveRuleSet({ actor: 'system', change: 'old schema', rules: [{ id: 'x', when: { type: 'gone' } } as unknown as Rule] });
    const book = new RuleBook(rules('a'));
    const l = log();
    await loadRuleSet(store, book, { source: 'file', origin: 'rules/default.json', log: l });
    expect(book.rules.map((r) => r.id)).toEqual(['a']);
    expect(l.lines[0]).toMatch(/^error: stored rule set version 1 is not valid/);
  });

  it('saves rules an embedding application supplies as a new version when they differ', async () => {
    const store = new MemoryStore();
    await store.saveRuleSet({ actor: 'system', change: 'seed', rules: rules('a') });
    const book = new RuleBook(rules('z'));
    const v = await loadRuleSet(store, book, { source: 'given', origin: 'the embedding application' });
    expect(v).toMatchObject({ version: 2, change: 'rules supplied at start (the embedding application)' });
    expect(book.rules.map((r) => r.id)).toEqual(['z']);
    expect((await loadRuleSet(store, book, { source: 'given', origin: 'again' })).version).toBe(2);
  });
});

describe('changing the rule set', () => {
  it('validates before saving: a bad edit changes neither the store nor the running rules', async () => {
    const store = new MemoryStore();
    const book = new RuleBook(rules('a'));
    const sets = new RuleSets(store, book);
    await expect(sets.change('supervisor:alice', 'break it', (r) => [...r, { ...r[0]! }])).rejects.toBeInstanceOf(RuleValidationError);
    expect(store.ruleSets).toHaveLength(1);
    expect(book.rules.map((r) => r.id)).toEqual(['a']);
  });

  it('refuses a change made from a version another instance replaced meanwhile', async () => {
    const store = new MemoryStore();
    const book = new RuleBook(rules('a'));
    const sets = new RuleSets(store, book);
    await sets.current();
    const original = store.saveRuleSet.bind(store);
    // Another instance saves between this one's read and its write.
    store.saveRuleSet = async (input) => {
      store.saveRuleSet = original;
      await original({ actor: 'supervisor:elsewhere', change: 'sneaked in', rules: rules('c') });
      return original(input);
    };
    await expect(sets.change('supervisor:alice', 'add b', (r) => [...r, ...rules('b')])).rejects.toBeInstanceOf(RuleSetConflictError);
    expect(book.rules.map((r) => r.id)).toEqual(['a']);
    expect(await sets.refresh()).toBe(true);
    expect(book.rules.map((r) => r.id)).toEqual(['c']);
  });

  it('runs concurrent changes in this process one after the other, each on top of the last', async () => {
    const store = new MemoryStore();
    const sets = new RuleSets(store, new RuleBook([]));
    await Promise.all(['a', 'b', 'c'].map((id) => sets.change('supervisor:alice', `add ${id}`, (r) => [...r, ...rules(id)])));
    expect((await store.currentRuleSet())?.rules.map((r) => r.id).sort()).toEqual(['a', 'b', 'c']);
    expect((await store.currentRuleSet())?.version).toBe(4);
  });
});
