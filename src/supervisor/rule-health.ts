// How each rule has done over a period: how often it fired (hits), how often it changed a call (actions), what
// supervisors said of it (verdicts), and the share they marked wrong, per time bucket, with the calls behind each
// figure. Read from what the service records already: the `decision` audit entries (one per rule firing, see
// src/calls/monitor.ts) and the verdicts; two indexed reads of the period, each capped.
import type { Rule } from '../rules/schema.js';
import { VERDICT_KINDS, type AuditEntry, type Store, type Verdict, type VerdictKind } from '../store/types.js';

export const HEALTH_LIMITS = {
  /** The longest period one request may cover (the default retention is 30 days). */
  maxPeriodMs: 92 * 86_400_000,
  /** Buckets of the time series at most. */
  maxBuckets: 200,
  /** The shortest bucket. */
  minBucketMs: 60_000,
  /** Decisions and verdicts read for one answer at most; beyond, the answer says `truncated`. */
  maxDecisions: 50_000,
  maxVerdicts: 20_000,
  /** Call SIDs listed behind each figure at most (the count says how many there are). */
  callsPerFigure: 50,
};

/** A bucket size for a period: the smallest of these giving at most 60 buckets. */
const NICE_BUCKETS = [1, 5, 15, 60, 180, 360, 720, 1440, 10_080].map((m) => m * 60_000);

export function defaultBucketMs(periodMs: number): number {
  return NICE_BUCKETS.find((b) => periodMs / b <= 60) ?? Math.ceil(periodMs / HEALTH_LIMITS.maxBuckets);
}

export type Figure = 'hits' | 'actions' | VerdictKind;
export const FIGURES: readonly Figure[] = ['hits', 'actions', ...VERDICT_KINDS];

export interface Counts {
  hits: number;
  actions: number;
  right: number;
  should_not_have_acted: number;
  should_have_acted: number;
  /** Verdicts not `right` over all verdicts; null without verdicts. */
  wrongShare: number | null;
}

export interface RuleHealth {
  /** '' gathers verdicts on stretches that name no rule. */
  ruleId: string;
  description: string | null;
  /** Whether the running rule set has it (a rule deleted since still shows what it did). */
  running: boolean;
  totals: Counts;
  /** Oldest first; bucket i starts at from + i·bucketMs. */
  buckets: (Counts & { from: number })[];
  /** The calls behind each total: how many, and the SIDs of the latest ones (at most HEALTH_LIMITS.callsPerFigure). */
  calls: Record<Figure, { count: number; callSids: string[] }>;
}

export interface HealthReport {
  from: number;
  to: number;
  bucketMs: number;
  /** True when the period held more decisions or verdicts than one answer reads: narrow the period. */
  truncated: boolean;
  rules: RuleHealth[];
}

const zero = (): Counts => ({ hits: 0, actions: 0, right: 0, should_not_have_acted: 0, should_have_acted: 0, wrongShare: null });

/** Whether a decision entry is a rule's firing (not a supervisor's action, not a handoff summary's note). */
export function isRuleDecision(e: AuditEntry): boolean {
  return e.kind === 'decision' && typeof e.decisionId === 'string' && typeof e.data.ruleId === 'string' && e.data.ruleId !== 'manual';
}

/** A decision that changed the call: the one that won its turn (not observed, not an alert, not outranked). */
export function acted(e: AuditEntry): boolean {
  return e.data.note === undefined || e.data.note === null;
}

/** The verdicts that count: the latest on each decision (a supervisor may change their mind), every stretch's. */
export function standingVerdicts(verdicts: readonly Verdict[]): Verdict[] {
  const latest = new Map<string, Verdict>();
  const stretches: Verdict[] = [];
  for (const v of verdicts) {
    if (!v.decisionId) stretches.push(v);
    else if (!latest.has(v.decisionId) || latest.get(v.decisionId)!.at <= v.at) latest.set(v.decisionId, v);
  }
  return [...latest.values(), ...stretches];
}

export async function ruleHealth(store: Store, rules: readonly Rule[], q: { from: number; to: number; bucketMs: number }): Promise<HealthReport> {
  const { from, to, bucketMs } = q;
  const [entries, verdicts] = await Promise.all([
    store.queryAudit({ kind: 'decision', since: from, before: to, limit: HEALTH_LIMITS.maxDecisions + 1 }),
    store.queryVerdicts({ since: from, before: to, limit: HEALTH_LIMITS.maxVerdicts + 1 }),
  ]);
  const truncated = entries.length > HEALTH_LIMITS.maxDecisions || verdicts.length > HEALTH_LIMITS.maxVerdicts;
  const n = Math.max(1, Math.ceil((to - from) / bucketMs));

  const byRule = new Map<string, { totals: Counts; buckets: Counts[]; calls: Record<Figure, { at: number; callSid: string }[]> }>();
  const of = (ruleId: string) => {
    let r = byRule.get(ruleId);
    if (!r) {
      r = { totals: zero(), buckets: Array.from({ length: n }, zero), calls: Object.fromEntries(FIGURES.map((f) => [f, []])) as unknown as Record<Figure, { at: number; callSid: string }[]> };
      byRule.set(ruleId, r);
    }
    return r;
  };
  const count = (ruleId: string, figure: Figure, at: number, callSid: string) => {
    const r = of(ruleId);
    const i = Math.min(n - 1, Math.max(0, Math.floor((at - from) / bucketMs)));
    r.totals[figure]++;
    r.buckets[i]![figure]++;
    r.calls[figure].push({ at, callSid });
  };
  for (const rule of rules) of(rule.id);
  for (const e of entries.slice(0, HEALTH_LIMITS.maxDecisions)) {
    if (!isRuleDecision(e)) continue;
    const ruleId = e.data.ruleId as string;
    count(ruleId, 'hits', e.at, e.callSid);
    if (acted(e)) count(ruleId, 'actions', e.at, e.callSid);
  }
  for (const v of standingVerdicts(verdicts.slice(0, HEALTH_LIMITS.maxVerdicts))) count(v.ruleId ?? '', v.kind, v.from, v.callSid);

  const descriptions = new Map(rules.map((r) => [r.id, r.description ?? null]));
  const report: RuleHealth[] = [...byRule].map(([ruleId, r]) => ({
    ruleId,
    description: descriptions.get(ruleId) ?? null,
    running: descriptions.has(ruleId),
    totals: withShare(r.totals),
    buckets: r.buckets.map((b, i) => ({ from: from + i * bucketMs, ...withShare(b) })),
    calls: Object.fromEntries(FIGURES.map((f) => [f, callsOf(r.calls[f])])) as Record<Figure, { count: number; callSids: string[] }>,
  }));
  // The running rules in their order, then rules no longer running, then verdicts that name no rule.
  const order = new Map(rules.map((r, i) => [r.id, i]));
  report.sort((a, b) => (order.get(a.ruleId) ?? (a.ruleId === '' ? 1e9 : 1e6)) - (order.get(b.ruleId) ?? (b.ruleId === '' ? 1e9 : 1e6)) || a.ruleId.localeCompare(b.ruleId));
  return { from, to, bucketMs, truncated, rules: report.filter((r) => r.ruleId !== '' || r.totals.hits + verdictCount(r.totals) > 0) };
}

const verdictCount = (c: Counts): number => c.right + c.should_not_have_acted + c.should_have_acted;

function withShare(c: Counts): Counts {
  const all = verdictCount(c);
  return { ...c, wrongShare: all === 0 ? null : Math.round(((c.should_not_have_acted + c.should_have_acted) / all) * 1000) / 1000 };
}

/** Distinct calls, latest first. */
function callsOf(list: { at: number; callSid: string }[]): { count: number; callSids: string[] } {
  const seen = new Set<string>();
  for (const { callSid } of [...list].sort((a, b) => b.at - a.at)) seen.add(callSid);
  const all = [...seen];
  return { count: all.length, callSids: all.slice(0, HEALTH_LIMITS.callsPerFigure) };
}
