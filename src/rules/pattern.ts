// A rule's `pattern` runs on caller text on the event loop that serves every call, so it runs on RE2 (re2-wasm):
// linear in the text, no backtracking. RE2 has no backreferences or lookaround; such a pattern is refused.
import { createRequire } from 'node:module';
import type { RE2 } from 're2-wasm';

export const PATTERN_LIMITS = {
  /** Characters of a pattern. */
  chars: 200,
  /** Largest count in a `{n}`, `{n,}` or `{n,m}` repetition. */
  repeat: 5,
  /**
   * The pattern's size once repetitions are written out (a character counts 1, a class or `.` 4, a Unicode property
   * 30; a repetition multiplies what it repeats by its largest count). It bounds RE2's program, and so both the time
   * a match takes and the memory it needs: re2-wasm's whole heap is a fixed 16 MB shared by every pattern, and a
   * pattern such as `[\p{L}]{1000}` exhausts it while compiling. Repeated classes are what make RE2 slow on new
   * text (bench/patterns.ts), hence the small repeat count.
   */
  size: 250,
};

export class PatternError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatternError';
  }
}

/** Why `source` cannot be a rule pattern, or null when it can. Compiles it once and frees it. */
export function patternProblem(source: string): string | null {
  if (source.length > PATTERN_LIMITS.chars) return `at most ${PATTERN_LIMITS.chars} characters (it has ${source.length})`;
  const tooComplex = complexityProblem(source);
  if (tooComplex) return tooComplex;
  try {
    release(compile(source));
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The matcher of a pattern that passed patternProblem: case-insensitive, Unicode. */
export function compilePattern(source: string): { test(text: string): boolean } {
  const problem = complexityProblem(source);
  if (problem) throw new PatternError(problem);
  return new Pattern(source);
}

/**
 * re2-wasm's heap is a fixed 16 MB that every compiled pattern shares, and RE2 caches DFA states in it as it meets
 * new text (up to a few MB per pattern). Caller text can fill it; the engine then aborts and is dead for good. So an
 * engine that aborts is replaced by a fresh instance (about 50 ms, which frees all the old one's memory at once), each
 * pattern compiles again on it when next used, and the match that hit the limit runs again there.
 */
const load = createRequire(import.meta.url);
let engine = { RE2: load('re2-wasm').RE2 as typeof RE2, generation: 0 };

function replaceEngine(): void {
  for (const id of [load.resolve('re2-wasm'), load.resolve('re2-wasm/build/wasm/re2.js')]) delete load.cache[id];
  engine = { RE2: load('re2-wasm').RE2 as typeof RE2, generation: engine.generation + 1 };
}

const aborted = (err: unknown) => err instanceof WebAssembly.RuntimeError || /^abort\(/.test((err as Error)?.message ?? '');

/** A pattern no rule uses any more gives its memory back (without this, only replacing the engine would). */
const unused = new FinalizationRegistry<{ re: RE2; generation: number }>(({ re, generation }) => {
  if (generation === engine.generation) release(re);
});

class Pattern {
  #re: RE2;
  #generation: number;

  constructor(readonly source: string) {
    this.#re = compile(source);
    this.#generation = engine.generation;
    unused.register(this, { re: this.#re, generation: this.#generation }, this);
  }

  test(text: string): boolean {
    if (this.#generation !== engine.generation) this.#recompile();
    try {
      return this.#re.test(text);
    } catch (err) {
      if (!aborted(err)) throw err;
      if (this.#generation === engine.generation) replaceEngine();
      this.#recompile();
      return this.#re.test(text);
    }
  }

  #recompile(): void {
    unused.unregister(this);
    this.#re = compile(this.source);
    this.#generation = engine.generation;
    unused.register(this, { re: this.#re, generation: this.#generation }, this);
  }
}

/** Compiles on the current engine; one that runs out of memory doing so is replaced and the compile tried once more. */
function compile(source: string, again = true): RE2 {
  try {
    return new engine.RE2(source, 'iu');
  } catch (err) {
    if (aborted(err)) {
      replaceEngine();
      if (again) return compile(source, false);
      throw new PatternError(`too complex for the pattern engine (it ran out of memory compiling it): use fewer or smaller repetitions`);
    }
    const why = (err as Error).message.replace(/^Invalid regular expression: \/.*\/iu: /s, '');
    throw new PatternError(explain(why));
  }
}

/** RE2's reasons, with what to do about the usual ones. */
function explain(why: string): string {
  if (/invalid perl operator: \(\?[=!<]/.test(why)) return `lookahead and lookbehind are not supported (${why}): match the words themselves, or use \\b for a word boundary`;
  if (/invalid escape sequence: \\[1-9]/.test(why)) return `backreferences are not supported (${why}): write the repeated text out`;
  if (/pattern too large|abort|OOM/i.test(why)) return `too complex for the pattern engine (${why}): use fewer or smaller repetitions`;
  return `not a valid regular expression (${why})`;
}

/** The RE2 object lives in the wasm heap and is not garbage-collected: a pattern only checked must be freed. */
function release(re: RE2): void {
  (re as unknown as { wrapper?: { delete?(): void } }).wrapper?.delete?.();
}

/**
 * Refuses a repetition of a group that itself repeats (`(a+)+`, `(\w+\s?)*`): it never says more than the group
 * repeated once (`(a+)+` is `a+`), and it is the shape that backtracks catastrophically in engines that backtrack
 * (the service's own phrases, a dashboard, another tool reading the rules). Then estimates the written-out size of
 * the pattern (see PATTERN_LIMITS.size) without running it, so that a pattern too big for the engine never reaches
 * it. Deliberately rough: the size only has to be an upper bound of the same order.
 */
function complexityProblem(source: string): string | null {
  // One frame per open group: the size of what it holds so far, the size of its last item (which a quantifier
  // repeats), whether that item is a group that repeats something, and whether the frame repeats anything.
  type Frame = { total: number; last: number; lastRepeats: boolean; repeats: boolean };
  const frame = (): Frame => ({ total: 0, last: 0, lastRepeats: false, repeats: false });
  const stack: Frame[] = [frame()];
  const top = () => stack[stack.length - 1]!;
  const add = (n: number, repeats = false) => {
    top().total += n;
    top().last = n;
    top().lastRepeats = repeats;
  };
  /** A quantifier on the last item: refused if that item is a repeating group. */
  const quantify = (text: string, count: number): string | null => {
    const t = top();
    if (t.lastRepeats) return `a repeated group that repeats inside (here ${JSON.stringify(text)} after a group with a repetition in it, as in (a+)+) is refused: it matches nothing more than the group repeated once (write a+ for (a+)+) and it is the shape that backtracks catastrophically`;
    t.total += t.last * (Math.max(count, 1) - 1) + 1;
    t.last *= Math.max(count, 1);
    t.repeats = true;
    return null;
  };
  let i = 0;
  let afterQuantifier = false;
  while (i < source.length) {
    const ch = source[i]!;
    const rest = source.slice(i);
    let quantifier = false;
    if (ch === '\\') {
      const next = source[i + 1] ?? '';
      if (next === 'p' || next === 'P') {
        const m = /^\\[pP](\{[^}]*\}|.)/.exec(rest);
        i += m ? m[0].length : 2;
        add(30);
      } else {
        i += 2;
        add(/[dDwWsS]/.test(next) ? 4 : 1);
      }
    } else if (ch === '[') {
      // A class: to its closing bracket (a `]` first, or escaped, is a member).
      let j = i + 1;
      if (source[j] === '^') j++;
      if (source[j] === ']') j++;
      let weight = 4;
      while (j < source.length && source[j] !== ']') {
        if (source[j] === '\\') {
          if (source[j + 1] === 'p' || source[j + 1] === 'P') weight += 30;
          j += 2;
        } else j++;
      }
      i = j + 1;
      add(weight);
    } else if (ch === '(') {
      // Flags alone, e.g. (?i), change nothing here; (?: (?P<name> (?<name> (?i: open a group like ( does.
      const flags = /^\(\?[a-zA-Z-]*\)/.exec(rest);
      if (flags) {
        i += flags[0].length;
        continue;
      }
      const opening = /^\(\?(:|P?<[A-Za-z_][A-Za-z0-9_]*>|[a-zA-Z-]+:)/.exec(rest);
      i += opening ? opening[0].length : 1;
      stack.push(frame());
    } else if (ch === ')') {
      const group = stack.length > 1 ? stack.pop()! : frame();
      i++;
      add(group.total + 1, group.repeats);
      if (group.repeats) top().repeats = true;
    } else if (ch === '|') {
      top().last = 0;
      top().lastRepeats = false;
      i++;
    } else if ((ch === '*' || ch === '+' || ch === '?') && !(ch === '?' && afterQuantifier)) {
      i++;
      quantifier = true;
      const problem = quantify(ch, 1);
      if (problem) return problem;
    } else if (ch === '?' && afterQuantifier) {
      i++; // lazy: same size
    } else if (ch === '{' && /^\{\d+(,\d*)?\}/.test(rest)) {
      const m = /^\{(\d+)(?:,(\d*))?\}/.exec(rest)!;
      const count = Math.max(Number(m[1]), Number(m[2] || 0));
      if (count > PATTERN_LIMITS.repeat) return `a repetition of at most ${PATTERN_LIMITS.repeat} (it has ${m[0]}): use + or * instead of a large count`;
      i += m[0].length;
      quantifier = true;
      const problem = quantify(m[0], count);
      if (problem) return problem;
    } else {
      i++;
      add(ch === '.' ? 4 : 1);
    }
    afterQuantifier = quantifier;
    if (stack.reduce((sum, f) => sum + f.total, 0) > PATTERN_LIMITS.size) {
      return `too complex: once its repetitions are written out it exceeds ${PATTERN_LIMITS.size} (see PATTERN_LIMITS): use fewer or smaller counted repetitions`;
    }
  }
  return null;
}
