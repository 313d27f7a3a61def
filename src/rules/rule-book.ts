// The running rule set. Replaced whole, and only by a valid one: a bad file or edit leaves the
// rules that were running in place.
import { readFile } from 'node:fs/promises';
import { parseRuleSet, RuleValidationError, type Rule } from './schema.js';

export class RuleBook {
  #rules: readonly Rule[];

  constructor(rules: Rule[] = []) {
    this.#rules = Object.freeze([...rules]);
  }

  get rules(): readonly Rule[] {
    return this.#rules;
  }

  /** Validates, then swaps. Throws RuleValidationError and keeps the old set on bad input. */
  replace(input: unknown): readonly Rule[] {
    this.#rules = Object.freeze(parseRuleSet(input));
    return this.#rules;
  }

  /** Reads a JSON rules file: an array of rules, or `{ "rules": [...] }`. */
  static async fromFile(path: string, vars: Record<string, string> = {}): Promise<RuleBook> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new Error(`RULES_FILE=${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? err}); point RULES_FILE at a JSON file of rules`);
    }
    // ${NAME} placeholders let one file serve several deployments (e.g. the handoff queue).
    const expanded = text.replace(/\$\{([A-Z0-9_]+)\}/g, (m, k: string) => vars[k] ?? m);
    let json: unknown;
    try {
      json = JSON.parse(expanded);
    } catch (err) {
      throw new Error(`RULES_FILE=${path}: not valid JSON (${(err as Error).message})`);
    }
    const list = Array.isArray(json) ? json : (json as { rules?: unknown })?.rules;
    try {
      return new RuleBook(parseRuleSet(list));
    } catch (err) {
      if (err instanceof RuleValidationError) throw new Error(`RULES_FILE=${path}: ${err.message}`);
      throw err;
    }
  }
}
