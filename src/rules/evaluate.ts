// Pure rule evaluation: given the rules and what is known of a call, which rules fire now and why.
// No I/O and no clock reads: the caller passes `now`.
import type { Assessment, Track } from '../types.js';
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

export function inScope(rule: Rule, call: RuleContext['call']): boolean {
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
      const i = m.phrases.findIndex((re) => re.test(current.text));
      if (i >= 0) return `${current.track === 'inbound' ? 'caller' : 'agent'} said "${c.phrases[i]}"`;
      if (m.pattern?.test(current.text)) return `matched /${c.pattern}/`;
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
const matchers = new WeakMap<PhraseCondition, { phrases: RegExp[]; pattern?: RegExp }>();

/**
 * A phrase matches as whole words, whatever the case and the spacing: "hi" is not in "this", "real person" is
 * in "a Real  person, please". Compiled once per rule (rules are immutable once loaded).
 */
function matchersOf(c: PhraseCondition): { phrases: RegExp[]; pattern?: RegExp } {
  let m = matchers.get(c);
  if (!m) {
    const phrases = c.phrases.map((p) => {
      const words = p.trim().split(/\s+/).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
      return new RegExp(`(?<![\\p{L}\\p{N}])${words.join('\\s+')}(?![\\p{L}\\p{N}])`, 'iu');
    });
    m = { phrases, ...(c.pattern ? { pattern: new RegExp(c.pattern, 'i') } : {}) };
    matchers.set(c, m);
  }
  return m;
}

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
