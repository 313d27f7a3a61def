// The supervisors' rule set, kept in the store and run by the RuleBook. The store is the source of truth:
// the rules file only seeds an empty store. Every change is validated, saved as a new version, then run.
import type { RuleBook } from '../rules/rule-book.js';
import { parseRuleSet, RuleValidationError, type Rule } from '../rules/schema.js';
import { RuleSetConflictError, type RuleSetVersion, type Store } from './types.js';

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LoadRuleSetOptions {
  /**
   * `file`: the book was read from RULES_FILE and only seeds an empty store; the stored set runs.
   * `given`: an embedding application supplied the book; it runs, and is saved as a new version if it differs.
   */
  source: 'file' | 'given';
  /** Where the book came from, for the version's description (e.g. `rules/default.json`). */
  origin: string;
  log?: Log;
}

/**
 * The start-up step: seeds the store from the book when it has no rule set yet, otherwise puts the stored
 * set in the book (see LoadRuleSetOptions.source). Returns the version now running.
 */
export async function loadRuleSet(store: Store, book: RuleBook, opts: LoadRuleSetOptions): Promise<RuleSetVersion> {
  const current = await store.currentRuleSet();
  if (!current) {
    try {
      // basedOn 0: when several instances start on an empty database, one seeds and the others load its set.
      const seeded = await store.saveRuleSet({ actor: 'system', change: `seeded from ${opts.origin}`, rules: [...book.rules], basedOn: 0 });
      opts.log?.info({ version: seeded.version, rules: seeded.rules.length }, `rule set seeded from ${opts.origin}`);
      return seeded;
    } catch (err) {
      if (err instanceof RuleSetConflictError) return loadRuleSet(store, book, opts);
      throw err;
    }
  }
  if (opts.source === 'given') {
    if (sameRules(current.rules, book.rules)) return current;
    return store.saveRuleSet({ actor: 'system', change: `rules supplied at start (${opts.origin})`, rules: [...book.rules] });
  }
  const fromFile = [...book.rules];
  try {
    book.replace(current.rules);
  } catch (err) {
    if (!(err instanceof RuleValidationError)) throw err;
    opts.log?.error(
      { version: current.version, issues: err.issues },
      `stored rule set version ${current.version} is not valid (${err.message}); running the rules from ${opts.origin} until an admin saves a valid set or rolls back`,
    );
    return current;
  }
  if (!sameRules(book.rules, fromFile)) {
    opts.log?.warn(
      { version: current.version },
      `${opts.origin} differs from the stored rule set; the stored version ${current.version} runs (the file only seeds an empty store: change rules through the supervisor API)`,
    );
  }
  return current;
}

export class RuleNotFoundError extends Error {
  constructor(readonly ruleId: string) {
    super(`no rule with id "${ruleId}": list the rules with GET /api/rules`);
    this.name = 'RuleNotFoundError';
  }
}

export class RuleExistsError extends Error {
  constructor(readonly ruleId: string) {
    super(`a rule with id "${ruleId}" exists already: change it with PUT /api/rules/${ruleId}, or pick another id`);
    this.name = 'RuleExistsError';
  }
}

export class VersionNotFoundError extends Error {
  constructor(readonly version: number) {
    super(`no rule set version ${version}: list them with GET /api/rules/versions`);
    this.name = 'VersionNotFoundError';
  }
}

/** Edits of the stored rule set, one at a time in this process, each checked against the version it was made from. */
export class RuleSets {
  #queue: Promise<unknown> = Promise.resolve();
  #applied: number | undefined;

  /** `announce`: called with each version this process saves, to tell the other instances (the bus). */
  constructor(
    private readonly store: Store,
    private readonly book: RuleBook,
    private readonly announce?: (version: number) => void,
  ) {}

  /** The stored set; seeds the store from the running book if it is empty (a store no one loaded). */
  async current(): Promise<RuleSetVersion> {
    return (await this.store.currentRuleSet()) ?? this.#serial(() => this.#seedIfEmpty());
  }

  /**
   * Applies `edit` to the current set, validates the result, saves it as a new version and runs it.
   * A RuleValidationError (or whatever `edit` throws) leaves both the store and the running rules untouched.
   */
  change(actor: string, change: string, edit: (rules: Rule[]) => Rule[]): Promise<RuleSetVersion> {
    return this.#serial(async () => {
      const current = await this.#seedIfEmpty();
      const next = parseRuleSet(edit(structuredClone(current.rules)));
      const saved = await this.store.saveRuleSet({ actor, change, rules: next, basedOn: current.version });
      this.#run(saved);
      return saved;
    });
  }

  /** A new version equal to `version`. */
  rollback(actor: string, version: number): Promise<RuleSetVersion> {
    return this.#serial(async () => {
      const old = await this.store.ruleSetVersion(version);
      if (!old) throw new VersionNotFoundError(version);
      const current = await this.#seedIfEmpty();
      const rules = parseRuleSet(old.rules);
      const saved = await this.store.saveRuleSet({ actor, change: `rolled back to version ${version}`, rules, basedOn: current.version });
      this.#run(saved);
      return saved;
    });
  }

  /** Runs the stored set if another instance changed it. True when the running rules changed. */
  refresh(): Promise<boolean> {
    return this.#serial(async () => {
      const current = await this.store.currentRuleSet();
      if (!current || current.version === this.#applied) return false;
      this.#applied = current.version;
      if (sameRules(current.rules, this.book.rules)) return false;
      this.book.replace(current.rules);
      return true;
    });
  }

  async #seedIfEmpty(): Promise<RuleSetVersion> {
    const current = await this.store.currentRuleSet();
    if (current) return current;
    try {
      return await this.store.saveRuleSet({ actor: 'system', change: 'seeded from the running rules', rules: [...this.book.rules], basedOn: 0 });
    } catch (err) {
      if (err instanceof RuleSetConflictError) return (await this.store.currentRuleSet())!;
      throw err;
    }
  }

  #run(saved: RuleSetVersion): void {
    this.book.replace(saved.rules);
    this.#applied = saved.version;
    this.announce?.(saved.version);
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(task, task);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

function sameRules(a: readonly Rule[], b: readonly Rule[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
