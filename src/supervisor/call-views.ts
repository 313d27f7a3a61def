// What a call looks like through the API: its summary, assessments and decisions, from the live CallSession or,
// for a call no longer held here, from the store's record and audit trail (the failure of its latest action too).
import { z } from 'zod';
import type { CallSession } from '../calls/call-session.js';
import type { AuditEntry, CallRecord, Store } from '../store/types.js';
import { SENSITIVE_CATEGORIES } from '../types.js';
import { maskNumber } from './mask.js';

export const callState = z.enum(['monitoring', 'paused', 'handed_off', 'ended']);

export const callSummary = z.object({
  callSid: z.string(),
  state: callState,
  /** Why transcription is degraded, or null. */
  degraded: z.string().nullable(),
  startedAt: z.number(),
  endedAt: z.number().nullable(),
  from: z.string().nullable().describe('masked, e.g. +1555•••0001'),
  to: z.string().nullable().describe('masked'),
  lastFrustration: z.number().nullable(),
  /** True while this instance monitors the call (it can act on it). */
  live: z.boolean(),
  /** While paused: when the pause ends by itself (epoch ms); null otherwise, or when only a supervisor resumes it. */
  pausedUntil: z.number().nullable(),
  /**
   * The failure of the call's latest action, if that action failed (after its retries): what the live feed's `alert`
   * said. `privacy`: a pause failed, so Twilio may still be recording or transcribing.
   */
  lastFailure: z
    .object({ kind: z.enum(['action', 'privacy']), action: z.string(), reason: z.string(), at: z.number() })
    .nullable(),
  /**
   * The stream's custom parameters (<Parameter> of its TwiML, e.g. tenant), for filtering the board. `from` and `to`
   * are left out (they are above, masked); any other value that looks like a phone number is masked.
   */
  customParameters: z.record(z.string(), z.string()),
  /** The rules that fired on this call (acting or observing), each with when it last did, latest first. */
  ruleHits: z.array(z.object({ ruleId: z.string(), at: z.number() })),
});
export type CallSummary = z.infer<typeof callSummary>;

export const actionAnswer = z.object({
  result: z.enum(['done', 'gone', 'skipped', 'failed', 'observed']),
  detail: z.string(),
});

export function fromSession(s: CallSession): CallSummary {
  return {
    callSid: s.callSid,
    state: s.state,
    degraded: s.degraded ?? null,
    startedAt: s.startedAt,
    endedAt: s.endedAt ?? null,
    from: maskNumber(s.from),
    to: maskNumber(s.to),
    lastFrustration: s.frustrationTrend(1)[0] ?? null,
    live: s.endedAt === undefined,
    pausedUntil: s.state === 'paused' ? (s.pausedUntil ?? null) : null,
    lastFailure: null,
    customParameters: shownParameters(s.customParameters),
    ruleHits: [...s.rules.firing]
      .flatMap(([ruleId, f]) => (f.lastFiredAt === undefined ? [] : [{ ruleId, at: f.lastFiredAt }]))
      .sort((x, y) => y.at - x.at),
  };
}

/** Custom parameters as the API shows them: no `from`/`to` (shown masked on their own), phone numbers masked. */
function shownParameters(params: Record<string, string> | undefined): Record<string, string> {
  const shown: Record<string, string> = {};
  for (const [name, value] of Object.entries(params ?? {})) {
    if (name === 'from' || name === 'to') continue;
    shown[name] = /^\+?[\d\s().-]{8,}$/.test(value) ? (maskNumber(value.replace(/[\s().-]/g, '')) ?? '') : value;
  }
  return shown;
}

export function fromRecord(c: CallRecord): CallSummary {
  return {
    callSid: c.callSid,
    state: c.status,
    degraded: null,
    startedAt: c.startedAt,
    endedAt: c.endedAt ?? null,
    from: maskNumber(c.from),
    to: maskNumber(c.to),
    lastFrustration: null,
    live: false,
    pausedUntil: c.status === 'paused' && c.endedAt === undefined ? (c.pausedUntil ?? null) : null,
    lastFailure: null,
    customParameters: shownParameters(c.customParameters),
    ruleHits: [],
  };
}

/**
 * Fills in from the audit trail what neither the session nor the record holds: the last assessed frustration of a
 * call no longer live, and the failure of its latest action. Two small indexed reads a call (one more when it failed).
 */
export async function withHistory(store: Store, c: CallSummary): Promise<CallSummary> {
  const [assessment, outcomes] = await Promise.all([
    c.lastFrustration === null ? store.queryAudit({ callSid: c.callSid, kind: 'assessment', limit: 1 }) : Promise.resolve([]),
    store.queryAudit({ callSid: c.callSid, kind: 'outcome', limit: 20 }),
  ]);
  const lastFrustration = c.lastFrustration ?? (assessment[0] ? Number(assessment[0].data.frustration ?? 0) : null);
  if (!outcomes.some((e) => e.decisionId && e.data.result === 'failed')) return { ...c, lastFrustration };
  const decisions = await store.queryAudit({ callSid: c.callSid, kind: 'decision', limit: 100 });
  return { ...c, lastFrustration, lastFailure: lastFailureOf([...decisions, ...outcomes]) };
}

const ACTION_WORDS: Record<string, string> = { handoff: 'handoff', end_call: 'ending the call', pause: 'pause' };

/**
 * The call's latest failed action in the words of the live `alert` (src/calls/monitor.ts), from its decision and
 * outcome entries; null when none failed, or the same action succeeded since (a take over after a failed handoff).
 * A failed pause is a privacy failure: the gate stays closed, but Twilio may still be recording or transcribing.
 */
export function lastFailureOf(audit: AuditEntry[]): CallSummary['lastFailure'] {
  const actionOf = (decisionId: string | undefined) => {
    const decision = audit.find((e) => e.kind === 'decision' && e.decisionId === decisionId);
    return String((decision?.data.action as { type?: string } | undefined)?.type ?? 'action');
  };
  const outcomes = audit.filter((e) => e.kind === 'outcome' && e.decisionId).sort((a, b) => a.at - b.at);
  const latest = outcomes.filter((e) => e.data.result === 'failed').at(-1);
  if (!latest) return null;
  const action = actionOf(latest.decisionId);
  if (outcomes.some((e) => e.at > latest.at && e.data.result === 'done' && actionOf(e.decisionId) === action)) return null;
  const failure = latest.data.failure as { step?: string; attempts?: number; summary?: string } | undefined;
  const why = failure?.summary ? `${failure.summary}${(failure.attempts ?? 0) > 0 && failure.step ? ` (${failure.step})` : ''}` : String(latest.data.detail ?? '');
  const what = ACTION_WORDS[action] ?? action;
  const privacy = action === 'pause';
  const reason = privacy ? `${what} failed: Twilio's recording and transcription may still be running; ${why}` : `${what} failed: ${why}`;
  return { kind: privacy ? 'privacy' : 'action', action, reason, at: latest.at };
}

/** A call known only from its audit trail (e.g. its record was not written yet). */
export function fromAudit(callSid: string, audit: AuditEntry[]): CallSummary {
  return { ...fromRecord({ callSid, customParameters: {}, startedAt: audit[0]!.at, status: 'ended' }), endedAt: null };
}

export function assessmentsOf(s: CallSession) {
  return s.turns
    .filter((t) => t.assessment)
    .map((t) => {
      const a = t.assessment!;
      return { at: t.at, frustration: a.frustration, sentiment: a.sentiment, wantsHuman: a.wantsHuman, sensitive: a.sensitive, source: a.source };
    });
}

export function assessmentsFromAudit(audit: AuditEntry[]) {
  return audit
    .filter((e) => e.kind === 'assessment')
    .map((e) => ({
      at: e.at,
      frustration: Number(e.data.frustration ?? 0),
      sentiment: Number(e.data.sentiment ?? 0),
      wantsHuman: Boolean(e.data.wantsHuman),
      sensitive: (e.data.sensitive ?? []) as (typeof SENSITIVE_CATEGORIES)[number][],
      source: e.actor.startsWith('classifier:') ? e.actor.slice('classifier:'.length) : null,
    }));
}

export function decisionsFromAudit(audit: AuditEntry[]) {
  const outcomes = new Map<string, { result: string; detail: string }>();
  for (const e of audit) {
    if (e.kind === 'outcome' && e.decisionId) outcomes.set(e.decisionId, { result: String(e.data.result), detail: String(e.data.detail ?? '') });
  }
  return audit
    .filter((e) => e.kind === 'decision' && e.decisionId)
    .map((e) => ({
      at: e.at,
      decisionId: e.decisionId!,
      ruleId: String(e.data.ruleId ?? ''),
      actor: e.actor,
      action: String((e.data.action as { type?: string } | undefined)?.type ?? ''),
      mode: String(e.data.mode ?? ''),
      reason: String(e.data.reason ?? ''),
      note: typeof e.data.note === 'string' ? e.data.note : null,
      outcome: (outcomes.get(e.decisionId!) as z.infer<typeof actionAnswer> | undefined) ?? null,
    }));
}
