// From rule matches to Decisions: cooldowns, episodes (for idempotency), observe mode, and the one
// action that changes the call when several rules fire on the same turn.
import type { Action, Rule } from './schema.js';
import type { RuleMatch } from './evaluate.js';

/** When each stage happened (epoch ms), from the end of the caller's speech to Twilio's answer. */
export interface StageTimes {
  /** Audio time of the end of the utterance, ms from stream start, when the provider knows it. */
  utteranceEndMs?: number;
  transcriptAt: number;
  assessedAt: number;
  decidedAt: number;
  requestSentAt?: number;
  answeredAt?: number;
}

export interface Decision {
  /** `${callSid}:${ruleId}:${episode}`: the idempotency key; a decision with a given id executes at most once. */
  id: string;
  callSid: string;
  ruleId: string;
  /** `manual` decisions come from a supervisor, not a rule. */
  origin: 'rule' | 'manual';
  mode: Rule['mode'];
  action: Action;
  reason: string;
  /** Who asked: the rule id, or the supervisor. */
  actor: string;
  timings: StageTimes;
}

/**
 * Per-call memory of when each rule last fired. `lastFiredAt` is undefined once a failed action re-armed the
 * rule: no cooldown holds it back, and its next decision is a new episode (a new id, so it runs).
 */
export type RuleFiring = Map<string, { lastFiredAt?: number; episode: number }>;

export interface Decided {
  /** The decision that changes the call, if any. */
  act?: Decision;
  /** Decisions only recorded: observe-mode rules, alerts, and enforce rules outranked on the same turn. */
  recorded: { decision: Decision; note: 'observe' | 'alert' | 'outranked' }[];
}

// When rules of equal priority fire together, the stronger action wins: a handoff wins over a pause.
const actionRank: Record<Action['type'], number> = { handoff: 3, end_call: 2, pause: 1, alert: 0 };

export function decide(
  callSid: string,
  matches: readonly RuleMatch[],
  firing: RuleFiring,
  timings: Omit<StageTimes, 'decidedAt'>,
  now: number,
): Decided {
  const fresh: Decision[] = [];
  for (const { rule, reason } of matches) {
    const last = firing.get(rule.id);
    if (last?.lastFiredAt !== undefined && now - last.lastFiredAt < rule.cooldownSeconds * 1000) continue;
    const episode = (last?.episode ?? 0) + 1;
    fresh.push({
      id: `${callSid}:${rule.id}:${episode}`,
      callSid,
      ruleId: rule.id,
      origin: 'rule',
      mode: rule.mode,
      action: rule.action,
      reason,
      actor: `rule:${rule.id}`,
      timings: { ...timings, decidedAt: now },
    });
  }
  const priorityOf = new Map(matches.map((m) => [m.rule.id, m.rule.priority]));
  const candidates = fresh
    .filter((d) => d.mode === 'enforce' && d.action.type !== 'alert')
    .sort(
      (a, b) =>
        priorityOf.get(b.ruleId)! - priorityOf.get(a.ruleId)! || actionRank[b.action.type] - actionRank[a.action.type],
    );
  const act = candidates[0];
  // A rule that acted, observed or alerted starts its cooldown and episode. An outranked one does not: it did
  // nothing, and if the winner fails (or is a handoff that could not happen), it must be free to act next turn.
  for (const d of fresh) {
    if (d === act || d.mode === 'observe' || d.action.type === 'alert') firing.set(d.ruleId, { lastFiredAt: now, episode: (firing.get(d.ruleId)?.episode ?? 0) + 1 });
  }
  const recorded: Decided['recorded'] = fresh
    .filter((d) => d !== act)
    .map((decision) => ({
      decision,
      note: decision.mode === 'observe' ? 'observe' : decision.action.type === 'alert' ? 'alert' : 'outranked',
    }));
  return { act, recorded };
}

/**
 * The action of `decision` failed: its rule may fire again on the caller's next trigger, as if it had not
 * fired (no cooldown), under a new episode. Only if the rule has not fired again since; a success is never
 * re-armed, so it acts once.
 */
export function rearm(firing: RuleFiring, decision: Decision): void {
  const f = firing.get(decision.ruleId);
  if (decision.origin !== 'rule' || !f || f.lastFiredAt !== decision.timings.decidedAt) return;
  firing.set(decision.ruleId, { episode: f.episode });
}
