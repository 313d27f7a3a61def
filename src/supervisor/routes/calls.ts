// /api/calls: live calls from the CallMonitor, recent ones from the store, one call in detail, and the
// supervisor's own actions, which go through the monitor so that they get the guarantees a rule's action gets.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { Bus, CallCommand } from '../../bus/types.js';
import type { CallMonitor } from '../../calls/monitor.js';
import type { CallSession } from '../../calls/call-session.js';
import { actionSchema, type Action } from '../../rules/schema.js';
import type { AuditEntry, CallRecord, Store } from '../../store/types.js';
import { SENSITIVE_CATEGORIES } from '../../types.js';
import { actorOf } from '../auth.js';
import { answers, ApiError, auditEntryBody } from '../http.js';
import { maskNumber } from '../mask.js';

const callState = z.enum(['monitoring', 'paused', 'handed_off', 'ended']);

const callSummary = z.object({
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
type CallSummary = z.infer<typeof callSummary>;

const callSidParams = z.object({ callSid: z.string().regex(/^CA[0-9a-fA-F]{32}$/, 'must be a Twilio call SID: CA followed by 32 hex digits') });

const actionAnswer = z.object({
  result: z.enum(['done', 'gone', 'skipped', 'failed', 'observed']),
  detail: z.string(),
});

const reason = z.string().trim().min(1).max(200).optional().describe('why, for the audit trail and the handoff brief');

export interface CallRoutesOptions {
  /** Reaches the instance that holds a call this one does not. */
  bus: Bus;
  monitor: CallMonitor;
  store: Store;
  handoffQueue: string;
}

export async function callRoutes(app: FastifyInstance, opts: CallRoutesOptions): Promise<void> {
  const { monitor, store } = opts;

  app.get(
    '/calls',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Live and recent calls',
        tags: ['calls'],
        querystring: z.object({
          state: z.enum(['live', 'recent']).optional().describe('live: monitored now; recent: from the store; absent: both'),
          limit: z.coerce.number().int().min(1).max(1000).default(50),
        }),
        response: answers({ 200: z.object({ calls: z.array(callSummary) }) }),
      },
    },
    async (req) => {
      const { state, limit } = req.query as { state?: 'live' | 'recent'; limit: number };
      const live = [...monitor.sessions.values()]
        .filter((s) => s.endedAt === undefined)
        .sort((a, b) => b.startedAt - a.startedAt)
        .map(fromSession);
      if (state === 'live') return { calls: await Promise.all(live.slice(0, limit).map((c) => withHistory(store, c))) };
      const stored = (await store.listCalls({ limit })).map((c) => {
        const session = monitor.session(c.callSid);
        return session ? fromSession(session) : fromRecord(c);
      });
      if (state === 'recent') return { calls: await Promise.all(stored.map((c) => withHistory(store, c))) };
      const seen = new Set(live.map((c) => c.callSid));
      const calls = [...live, ...stored.filter((c) => !seen.has(c.callSid))].slice(0, limit);
      return { calls: await Promise.all(calls.map((c) => withHistory(store, c))) };
    },
  );

  app.get(
    '/calls/:callSid',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'One call: redacted transcript, assessments, decisions and audit trail',
        tags: ['calls'],
        params: callSidParams,
        response: answers(
          {
            200: z.object({
              call: callSummary,
              transcript: z.array(z.object({ at: z.number(), track: z.enum(['inbound', 'outbound']), text: z.string().describe('redacted') })),
              assessments: z.array(
                z.object({
                  at: z.number(),
                  frustration: z.number(),
                  sentiment: z.number(),
                  wantsHuman: z.boolean(),
                  sensitive: z.array(z.enum(SENSITIVE_CATEGORIES)),
                  source: z.string().nullable(),
                }),
              ),
              decisions: z.array(
                z.object({
                  at: z.number(),
                  decisionId: z.string(),
                  ruleId: z.string(),
                  actor: z.string(),
                  action: z.string(),
                  mode: z.string(),
                  reason: z.string(),
                  note: z.string().nullable(),
                  outcome: actionAnswer.nullable(),
                }),
              ),
              audit: z.array(
                auditEntryBody,
              ),
            }),
          },
          [404],
        ),
      },
    },
    async (req) => {
      const { callSid } = req.params as { callSid: string };
      const session = monitor.session(callSid);
      const [record, transcript, audit] = await Promise.all([store.getCall(callSid), store.transcript(callSid), store.audit(callSid)]);
      if (!session && !record && audit.length === 0) {
        throw new ApiError(404, `no call ${callSid} is live here or kept in the store (calls older than the retention period are purged)`);
      }
      const summary = session ? fromSession(session) : record ? fromRecord(record) : fromAudit(callSid, audit);
      const assessments = session ? assessmentsOf(session) : assessmentsFromAudit(audit);
      const call = { ...summary, lastFrustration: summary.lastFrustration ?? assessments.at(-1)?.frustration ?? null, lastFailure: lastFailureOf(audit) };
      return {
        call,
        transcript: transcript.map(({ at, track, text }) => ({ at, track, text })),
        assessments,
        decisions: decisionsFromAudit(audit),
        audit,
      };
    },
  );

  /** Asks the other instances; only "every instance answered and none holds it" means the call is not live. */
  const elsewhere = async (command: CallCommand, reply: FastifyReply) => {
    const answer = await opts.bus.request(command);
    if (answer.kind === 'reply') return answer.reply;
    if (answer.kind === 'none') throw new ApiError(404, `no live call ${command.callSid}: it has ended, or no instance monitors it`);
    reply.header('retry-after', '5');
    const what = answer.sent
      ? 'the action may still be running there: look at the call (GET /api/calls/:callSid) before you retry'
      : 'nothing was done: check Redis (REDIS_URL) and retry';
    throw new ApiError(503, `the instance holding call ${command.callSid} cannot be reached (${answer.detail}); ${what}`);
  };

  const act = (path: string, summary: string, body: z.ZodType | undefined, toAction: (body: Record<string, unknown>) => Action | 'resume') =>
    app.post(
      `/calls/:callSid/${path}`,
      {
        config: { role: 'supervisor' },
        schema: { summary, tags: ['calls'], params: callSidParams, ...(body ? { body } : {}), response: answers({ 200: actionAnswer }, [404, 503]) },
      },
      async (req, reply) => {
        const { callSid } = req.params as { callSid: string };
        const input = (req.body ?? {}) as Record<string, unknown>;
        const action = toAction(input);
        const actor = actorOf(req);
        const why = typeof input.reason === 'string' ? input.reason : `${path} by ${actor}`;
        const command: CallCommand =
          action === 'resume' ? { op: 'resume', callSid, actor } : { op: 'act', callSid, action, actor, reason: why };
        // The instance that holds the call's stream runs it: this one, or another reached over the bus.
        const outcome = monitor.session(callSid) ? await monitor.command(command) : await elsewhere(command, reply);
        req.auditDetail = { action: action === 'resume' ? 'resume' : action, reason: why, outcome };
        return outcome;
      },
    );

  act('takeover', 'Hand the call to a person now', z.object({ queue: z.string().trim().min(1).max(64).optional(), reason }).strict(), (b) =>
    actionSchema.parse({ type: 'handoff', to: { queue: (b.queue as string | undefined) ?? opts.handoffQueue } }),
  );
  act(
    'pause',
    'Pause transcription now (privacy)',
    z.object({ resumeAfterSeconds: z.number().min(0).max(3600).optional().describe('default 60; 0: only a supervisor resumes'), reason }).strict(),
    (b) => actionSchema.parse({ type: 'pause', resumeAfterSeconds: b.resumeAfterSeconds }),
  );
  act('resume', 'Resume transcription of a paused call', z.object({ reason }).strict(), () => 'resume');
  act('end', 'End the call', z.object({ reason }).strict(), () => ({ type: 'end_call' }));
}

function fromSession(s: CallSession): CallSummary {
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
      .sort((a, b) => b.at - a.at),
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

function fromRecord(c: CallRecord): CallSummary {
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
async function withHistory(store: Store, c: CallSummary): Promise<CallSummary> {
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
function fromAudit(callSid: string, audit: AuditEntry[]): CallSummary {
  return { ...fromRecord({ callSid, customParameters: {}, startedAt: audit[0]!.at, status: 'ended' }), endedAt: null };
}

function assessmentsOf(s: CallSession) {
  return s.turns
    .filter((t) => t.assessment)
    .map((t) => {
      const a = t.assessment!;
      return { at: t.at, frustration: a.frustration, sentiment: a.sentiment, wantsHuman: a.wantsHuman, sensitive: a.sensitive, source: a.source };
    });
}

function assessmentsFromAudit(audit: AuditEntry[]) {
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

function decisionsFromAudit(audit: AuditEntry[]) {
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
