// /api/calls: live calls from the CallMonitor, recent ones from the store, one call in detail, and the
// supervisor's own actions, which go through the monitor so that they get the guarantees a rule's action gets.
import type { FastifyInstance } from 'fastify';
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
          limit: z.coerce.number().int().min(1).max(500).default(50),
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
      if (state === 'live') return { calls: live.slice(0, limit) };
      const stored = (await store.listCalls({ limit })).map((c) => {
        const session = monitor.session(c.callSid);
        return session ? fromSession(session) : fromRecord(c);
      });
      if (state === 'recent') return { calls: stored };
      const seen = new Set(live.map((c) => c.callSid));
      return { calls: [...live, ...stored.filter((c) => !seen.has(c.callSid))].slice(0, limit) };
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
      const call = session ? fromSession(session) : record ? fromRecord(record) : fromAudit(callSid, audit);
      return {
        call,
        transcript: transcript.map(({ at, track, text }) => ({ at, track, text })),
        assessments: session ? assessmentsOf(session) : assessmentsFromAudit(audit),
        decisions: decisionsFromAudit(audit),
        audit,
      };
    },
  );

  const act = (path: string, summary: string, body: z.ZodType | undefined, toAction: (body: Record<string, unknown>) => Action | 'resume') =>
    app.post(
      `/calls/:callSid/${path}`,
      {
        config: { role: 'supervisor' },
        schema: { summary, tags: ['calls'], params: callSidParams, ...(body ? { body } : {}), response: answers({ 200: actionAnswer }, [404]) },
      },
      async (req) => {
        const { callSid } = req.params as { callSid: string };
        const input = (req.body ?? {}) as Record<string, unknown>;
        const action = toAction(input);
        const actor = actorOf(req);
        const why = typeof input.reason === 'string' ? input.reason : `${path} by ${actor}`;
        const command: CallCommand =
          action === 'resume' ? { op: 'resume', callSid, actor } : { op: 'act', callSid, action, actor, reason: why };
        // The instance that holds the call's stream runs it: this one, or another reached over the bus.
        const outcome = monitor.session(callSid) ? await monitor.command(command) : await opts.bus.request(command);
        if (!outcome) throw new ApiError(404, `no live call ${callSid}: it has ended, or no instance monitors it`);
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
  };
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
  };
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
