// Verdicts and rule health: a supervisor marks a decision of a call (or a stretch of a call where nothing fired)
// right, should not have acted or should have acted, with a note; GET /api/rule-health gives each rule's hits,
// actions and verdicts over a period as a time series, with the calls behind each figure.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CallMonitor } from '../../calls/monitor.js';
import { redact } from '../../classification/redact.js';
import type { RuleBook } from '../../rules/rule-book.js';
import { VERDICT_KINDS, type Store, type Verdict } from '../../store/types.js';
import { safeError } from '../../store/queued-store.js';
import { actorOf } from '../auth.js';
import { answers, ApiError } from '../http.js';
import { defaultBucketMs, FIGURES, HEALTH_LIMITS, isRuleDecision, ruleHealth } from '../rule-health.js';

/** A note is the supervisor's own words, kept short; it is redacted like a transcript before it is stored. */
export const NOTE_MAX = 500;

const callSidParams = z.object({ callSid: z.string().regex(/^CA[0-9a-fA-F]{32}$/, 'must be a Twilio call SID: CA followed by 32 hex digits') });
const ruleId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "a rule's id: lowercase letters, digits, - and _, at most 64");
const time = z.number().finite().min(0).describe('epoch ms');

const verdictBody = z
  .object({
    kind: z.enum(VERDICT_KINDS).describe('right; should_not_have_acted (a decision only); should_have_acted'),
    decisionId: z.string().min(1).max(300).optional().describe('the decision judged (from GET /api/calls/:callSid)'),
    stretch: z.object({ from: time, to: time }).strict().optional().describe('or: a stretch of the call where nothing fired'),
    ruleId: ruleId.optional().describe('for a stretch: the rule that should have acted (optional)'),
    note: z.string().max(NOTE_MAX, `at most ${NOTE_MAX} characters`).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if ((b.decisionId === undefined) === (b.stretch === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['decisionId'], message: 'give either decisionId (a decision) or stretch (from, to: a stretch where nothing fired), not both' });
    }
    if (b.stretch && b.stretch.to < b.stretch.from) ctx.addIssue({ code: 'custom', path: ['stretch', 'to'], message: 'must not be before stretch.from' });
    if (b.stretch && b.kind === 'should_not_have_acted') {
      ctx.addIssue({ code: 'custom', path: ['kind'], message: 'nothing acted in a stretch where nothing fired: right or should_have_acted' });
    }
    if (b.decisionId !== undefined && b.ruleId !== undefined) ctx.addIssue({ code: 'custom', path: ['ruleId'], message: 'a decision names its own rule: leave ruleId out' });
  });

const verdictAnswer = z.object({
  id: z.string(),
  callSid: z.string(),
  kind: z.enum(VERDICT_KINDS),
  decisionId: z.string().optional(),
  ruleId: z.string().optional(),
  from: z.number(),
  to: z.number(),
  note: z.string().optional(),
  actor: z.string(),
  at: z.number(),
});

const counts = {
  hits: z.number(),
  actions: z.number(),
  right: z.number(),
  should_not_have_acted: z.number(),
  should_have_acted: z.number(),
  wrongShare: z.number().nullable(),
};

const healthQuery = z
  .object({
    from: z.coerce.number().int().min(0).optional().describe('epoch ms; default: a week before `to`'),
    to: z.coerce.number().int().min(0).optional().describe('epoch ms; default: now'),
    bucketMs: z.coerce.number().int().min(HEALTH_LIMITS.minBucketMs).optional().describe('bucket size; default: at most 60 buckets'),
  })
  .strict();

export interface VerdictRoutesOptions {
  store: Store;
  monitor: CallMonitor;
  rules: RuleBook;
}

export async function verdictRoutes(plain: FastifyInstance, opts: VerdictRoutesOptions): Promise<void> {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  const { store, monitor } = opts;

  /** The call's span, as far as known; 404 when no call of that SID is live here or kept. */
  const findCall = async (callSid: string) => {
    const session = monitor.session(callSid);
    if (session) return { startedAt: session.startedAt, endedAt: session.endedAt };
    const record = await store.getCall(callSid);
    if (record) return { startedAt: record.startedAt, endedAt: record.endedAt };
    // A call's own entries (not a supervisor's request naming it, which is audited whatever its answer).
    const first = await store.queryAudit({ callSid, kind: 'call', limit: 1 });
    if (first.length > 0) return { startedAt: undefined, endedAt: undefined };
    throw new ApiError(404, `no call ${callSid} is live here or kept in the store (calls older than the retention period are purged)`);
  };

  app.post(
    '/calls/:callSid/verdicts',
    {
      config: { role: 'supervisor' },
      schema: {
        summary: 'Mark a decision (or a stretch where nothing fired) right, should not have acted, or should have acted',
        tags: ['verdicts'],
        params: callSidParams,
        body: verdictBody,
        response: answers({ 201: z.object({ verdict: verdictAnswer }) }, [404]),
      },
    },
    async (req, reply) => {
      const { callSid } = req.params;
      const { body } = req;
      const call = await findCall(callSid);
      let subject: Pick<Verdict, 'from' | 'to' | 'decisionId' | 'ruleId'>;
      if (body.decisionId !== undefined) {
        const decisions = await store.queryAudit({ callSid, kind: 'decision', limit: 1000 });
        const entry = decisions.find((e) => e.decisionId === body.decisionId && typeof e.data.ruleId === 'string');
        if (!entry) throw new ApiError(404, `call ${callSid} has no decision ${body.decisionId}: see its decisions in GET /api/calls/${callSid}`);
        if (!isRuleDecision(entry)) {
          throw new ApiError(400, "decisionId: that decision was a supervisor's own action; verdicts judge rules", [{ path: 'decisionId', message: "a supervisor's action, not a rule's" }]);
        }
        // The turn that fired it: the transcript line written at the time the decision records for it.
        const turnAt = Number((entry.data.timings as { transcriptAt?: number } | undefined)?.transcriptAt ?? entry.at);
        subject = { decisionId: body.decisionId, ruleId: entry.data.ruleId as string, from: turnAt, to: turnAt };
      } else {
        const { from, to } = body.stretch!;
        const end = call.endedAt ?? Date.now();
        if (call.startedAt !== undefined && (to < call.startedAt - 1000 || from > end + 1000)) {
          const span = `${new Date(call.startedAt).toISOString()} to ${call.endedAt ? new Date(call.endedAt).toISOString() : 'now'}`;
          throw new ApiError(400, `stretch: the call ran from ${span}; the stretch lies outside it`, [{ path: 'stretch', message: 'outside the call' }]);
        }
        subject = { from, to, ...(body.ruleId ? { ruleId: body.ruleId } : {}) };
      }
      const note = body.note?.trim() ? redact(body.note.trim()) : undefined;
      const verdict: Verdict = {
        id: `vd_${randomBytes(8).toString('hex')}`,
        callSid,
        kind: body.kind,
        ...subject,
        ...(note ? { note } : {}),
        actor: actorOf(req),
        at: Date.now(),
      };
      try {
        await store.saveVerdict(verdict);
      } catch (err) {
        // Unlike call data, a verdict does not wait in the write queue: the supervisor is there to try again.
        req.log.error({ err: safeError(err), callSid }, 'could not store a verdict');
        reply.header('retry-after', '5');
        throw new ApiError(503, `the database did not take the verdict (${safeError(err).message}); nothing was saved: try again in a moment`);
      }
      req.auditDetail = { verdict: { id: verdict.id, kind: verdict.kind, decisionId: verdict.decisionId, ruleId: verdict.ruleId, from: verdict.from, to: verdict.to, note: verdict.note } };
      return reply.code(201).send({ verdict });
    },
  );

  app.get(
    '/calls/:callSid/verdicts',
    {
      config: { role: 'viewer' },
      schema: {
        summary: "A call's verdicts, in the order they were given (the latest on a decision counts)",
        tags: ['verdicts'],
        params: callSidParams,
        response: answers({ 200: z.object({ verdicts: z.array(verdictAnswer) }) }, [404]),
      },
    },
    async (req) => {
      const { callSid } = req.params;
      const verdicts = await store.verdicts(callSid);
      if (verdicts.length === 0) await findCall(callSid);
      return { verdicts };
    },
  );

  const figureCalls = z.object(Object.fromEntries(FIGURES.map((f) => [f, z.object({ count: z.number(), callSids: z.array(z.string()) })])));
  app.get(
    '/rule-health',
    {
      config: { role: 'viewer' },
      schema: {
        summary: "Each rule's hits, actions and verdicts over a period, as a time series, with the calls behind each figure",
        tags: ['verdicts'],
        querystring: healthQuery,
        response: answers({
          200: z.object({
            from: z.number(),
            to: z.number(),
            bucketMs: z.number(),
            truncated: z.boolean(),
            rules: z.array(
              z.object({
                ruleId: z.string().describe("'': verdicts on stretches that name no rule"),
                description: z.string().nullable(),
                running: z.boolean(),
                totals: z.object(counts),
                buckets: z.array(z.object({ from: z.number(), ...counts })),
                calls: figureCalls,
              }),
            ),
          }),
        }),
      },
    },
    async (req) => {
      const q = req.query;
      const to = q.to ?? Date.now();
      const from = q.from ?? to - 7 * 86_400_000;
      const bad = (path: string, message: string) => new ApiError(400, `${path}: ${message}`, [{ path, message }]);
      if (to <= from) throw bad('to', 'must be after from');
      if (to - from > HEALTH_LIMITS.maxPeriodMs) throw bad('from', `the period may be at most ${HEALTH_LIMITS.maxPeriodMs / 86_400_000} days`);
      const bucketMs = q.bucketMs ?? defaultBucketMs(to - from);
      if (Math.ceil((to - from) / bucketMs) > HEALTH_LIMITS.maxBuckets) {
        throw bad('bucketMs', `at most ${HEALTH_LIMITS.maxBuckets} buckets: for this period at least ${Math.ceil((to - from) / HEALTH_LIMITS.maxBuckets)} ms`);
      }
      return ruleHealth(store, opts.rules.rules, { from, to, bucketMs });
    },
  );
}
