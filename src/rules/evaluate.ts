// Pure rule evaluation: given the rules and what is known of a call, which rules fire now and why.
// No I/O and no clock reads: the caller passes `now`.
import type { Assessment, Track } from '../types.js';
import { compilePattern } from './pattern.js';
import type { Condition, Rule } from './schema.js';

/** A final turn of the call with the assessment made of it (caller turns are assessed). */
export interface AssessedTurn {
  at: number;
  track: Track;
  text: string;
  assessment?: Assessment;
}

export interface RuleContext {
  call: { to?: string; from?: string; customParameters: Record<string, string> };
  /** Final turns of the call, oldest first; on a `turn` evaluation the last one is the turn being evaluated. */
  turns: readonly AssessedTurn[];
  /** `turn`: a new utterance; `tick`: time passed or the call's state changed (only silence and degraded can fire). */
  event?: 'turn' | 'tick';
  degraded: boolean;
  now: number;
  /** When the call started, and when each side last spoke (partials count), for silence conditions. */
  startedAt?: number;
  lastSpokeAt?: { inbound?: number; outbound?: number };
}

export interface RuleMatch {
  rule: Rule;
  reason: string;
}

/** Enabled, in-scope rules whose condition holds, highest priority first (ties keep file order). */
export function evaluateRules(rules: readonly Rule[], ctx: RuleContext): RuleMatch[] {
  const matches: RuleMatch[] = [];
  for (const rule of rules) {
    if (!rule.enabled || !inScope(rule, ctx.call)) continue;
    const reason = holds(rule.when, ctx);
    if (reason !== null) matches.push({ rule, reason });
  }
  return matches.sort((a, b) => b.rule.priority - a.rule.priority);
}

function inScope(rule: Rule, call: RuleContext['call']): boolean {
  const { scope } = rule;
  if (scope.to && !(call.to && scope.to.includes(call.to))) return false;
  if (scope.from && !(call.from && scope.from.includes(call.from))) return false;
  for (const [k, v] of Object.entries(scope.customParameters ?? {})) {
    if (call.customParameters[k] !== v) return false;
  }
  return true;
}

const callerTurns = (ctx: RuleContext): AssessedTurn[] =>
  ctx.turns.filter((t) => t.track === 'inbound' && t.assessment !== undefined);

/** The reason the condition holds, or null. Conditions that look at the caller hold only on a caller turn. */
export function holds(c: Condition, ctx: RuleContext): string | null {
  const current = ctx.event === 'tick' ? undefined : ctx.turns.at(-1);
  switch (c.type) {
    case 'wants_human': {
      if (!current?.assessment?.wantsHuman) return null;
      const n = callerTurns(ctx).filter((t) => t.assessment!.wantsHuman).length;
      return n >= c.times ? `caller asked for a person${c.times > 1 ? ` ${n} times` : ''}` : null;
    }
    case 'frustration': {
      if (!current?.assessment) return null;
      const streak = sustained(ctx, c, (a) => a.frustration, (v) => v >= c.atLeast, (v) => v >= (c.releaseBelow ?? c.atLeast));
      return streak && `frustration ≥ ${c.atLeast} over ${streak}`;
    }
    case 'sentiment': {
      if (!current?.assessment) return null;
      const streak = sustained(ctx, c, (a) => a.sentiment, (v) => v <= c.atMost, (v) => v <= (c.releaseAbove ?? c.atMost));
      return streak && `sentiment ≤ ${c.atMost} over ${streak}`;
    }
    case 'sensitive': {
      const hit = current?.assessment?.sensitive.filter((s) => c.categories.includes(s)) ?? [];
      return hit.length > 0 ? `sensitive: ${hit.join(', ')}` : null;
    }
    case 'phrase': {
      if (!current || (c.track !== 'any' && current.track !== c.track)) return null;
      const m = matchersOf(c);
      const text = normalized(current.text);
      const i = m.phrases.findIndex((phrase) => containsWords(text, phrase));
      if (i >= 0) return `${current.track === 'inbound' ? 'caller' : 'agent'} said "${c.phrases[i]}"`;
      if (m.pattern && patternMatches(m.pattern, current.text)) return `matched /${c.pattern}/`;
      return null;
    }
    case 'degraded':
      return ctx.degraded ? 'transcription degraded' : null;
    case 'silence': {
      const spoke = ctx.lastSpokeAt ?? {};
      const last =
        c.track === 'any' ? Math.max(spoke.inbound ?? 0, spoke.outbound ?? 0) || undefined : spoke[c.track];
      const since = last ?? ctx.startedAt;
      if (since === undefined || ctx.now - since < c.seconds * 1000) return null;
      const who = c.track === 'any' ? 'nobody' : c.track === 'inbound' ? 'the caller' : 'the agent';
      return `${who === 'nobody' ? 'nobody has said anything' : `${who} has said nothing`} for ${Math.round((ctx.now - since) / 1000)} s`;
    }
    case 'all': {
      const reasons: string[] = [];
      for (const sub of c.of) {
        const r = holds(sub, ctx);
        if (r === null) return null;
        reasons.push(r);
      }
      return reasons.join(' and ');
    }
    case 'any': {
      for (const sub of c.of) {
        const r = holds(sub, ctx);
        if (r !== null) return r;
      }
      return null;
    }
  }
}

/**
 * A threshold held over the last caller turns: at least `turns` in a row ending with the latest, spanning at least
 * `forSeconds`, where a turn starts the run if `enters` and keeps it going if `stays` (hysteresis). Says how
 * ("2 caller turn(s) (0.85, 0.79)"), or null.
 */
function sustained(
  ctx: RuleContext,
  c: { turns: number; forSeconds: number },
  value: (a: Assessment) => number,
  enters: (v: number) => boolean,
  stays: (v: number) => boolean,
): string | null {
  const streak = trailingStreak(callerTurns(ctx), (a, inStreak) => (inStreak ? stays : enters)(value(a)));
  if (streak.length < c.turns || (ctx.now - streak[0]!.at) / 1000 < c.forSeconds) return null;
  return `${streak.length} caller turn(s) (${streak.map((t) => value(t.assessment!).toFixed(2)).join(', ')})`;
}

type PhraseCondition = Extract<Condition, { type: 'phrase' }>;
type Matchers = { phrases: string[]; pattern?: { test(text: string): boolean } };
const matchers = new WeakMap<PhraseCondition, Matchers>();

/**
 * A phrase matches as whole words, whatever the case and the spacing: "hi" is not in "this", "real person" is
 * in "a Real  person, please". It is a plain search in the turn's text lower-cased with its spaces collapsed, so a
 * phrase costs no compiling (a rule set's thousand phrases as regular expressions took a second to compile on the
 * first caller turn). A supervisor's pattern runs on RE2 (linear time), compiled once per rule (rules are immutable
 * once loaded).
 */
function matchersOf(c: PhraseCondition): Matchers {
  let m = matchers.get(c);
  if (!m) {
    m = { phrases: c.phrases.map(normalized), ...(c.pattern ? { pattern: lazily(c.pattern) } : {}) };
    matchers.set(c, m);
  }
  return m;
}

/**
 * A validated pattern does not fail; if its engine ever did (it is replaced when it runs out of memory, and the
 * match tried again), only this condition goes unmet: the other rules, a handoff or a pause among them, still run.
 */
function patternMatches(pattern: { test(text: string): boolean }, text: string): boolean {
  try {
    return pattern.test(text);
  } catch {
    return false;
  }
}

/** Lower case, runs of white space as one space, trimmed: the form phrases are looked for in. */
const normalized = (text: string): string => text.toLowerCase().replace(/\s+/g, ' ').trim();

/** Compiled on its first match, so that a pattern that cannot compile fails only its own match (patternMatches). */
function lazily(source: string): { test(text: string): boolean } {
  let compiled: { test(text: string): boolean } | undefined;
  return { test: (text) => (compiled ??= compilePattern(source)).test(text) };
}

const wordChar = /[\p{L}\p{N}]/u;
/** Whether `phrase` occurs in `text` (both normalized) with no letter or digit just before or after it. */
function containsWords(text: string, phrase: string): boolean {
  if (phrase === '') return false;
  for (let at = text.indexOf(phrase); at !== -1; at = text.indexOf(phrase, at + 1)) {
    const before = at === 0 ? '' : String.fromCodePoint(text.codePointAt(at - 1 - (isLowSurrogate(text, at - 1) ? 1 : 0))!);
    const end = at + phrase.length;
    const after = end >= text.length ? '' : String.fromCodePoint(text.codePointAt(end)!);
    if (!wordChar.test(before) && !wordChar.test(after)) return true;
  }
  return false;
}

const isLowSurrogate = (s: string, i: number) => i > 0 && s.charCodeAt(i) >= 0xdc00 && s.charCodeAt(i) <= 0xdfff;

/** The longest run of turns at the end of `turns` that satisfy `test` (test learns whether a run is already going). */
function trailingStreak(
  turns: AssessedTurn[],
  test: (a: Assessment, inStreak: boolean) => boolean,
): AssessedTurn[] {
  // Walk forward so hysteresis applies in time order, then keep the run that reaches the last turn.
  let start = -1;
  for (let i = 0; i < turns.length; i++) {
    const ok = test(turns[i]!.assessment!, start !== -1);
    if (ok && start === -1) start = i;
    if (!ok) start = -1;
  }
  return start === -1 ? [] : turns.slice(start);
}
