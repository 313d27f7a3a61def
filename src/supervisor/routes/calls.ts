// /api/calls: live calls from the CallMonitor, recent ones from the store, one call in detail, and the
// supervisor's own actions, which go through the monitor so that they get the guarantees a rule's action gets.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Bus, SupervisorCommand } from '../../bus/types.js';
import type { CallMonitor } from '../../calls/monitor.js';
import { actionSchema, type Action } from '../../rules/schema.js';
import type { Store } from '../../store/types.js';
import { SENSITIVE_CATEGORIES } from '../../types.js';
import { actorOf } from '../auth.js';
import { answers, ApiError, auditEntryBody } from '../http.js';
import {
  actionAnswer,
  assessmentsFromAudit,
  assessmentsOf,
  callSummary,
  decisionsFromAudit,
  fromAudit,
  fromRecord,
  fromSession,
  lastFailureOf,
  withHistory,
} from '../call-views.js';


const callSidParams = z.object({ callSid: z.string().regex(/^CA[0-9a-fA-F]{32}$/, 'must be a Twilio call SID: CA followed by 32 hex digits') });


const reason = z.string().trim().min(1).max(200).optional().describe('why, for the audit trail and the handoff brief');

export interface CallRoutesOptions {
  /** Reaches the instance that holds a call this one does not. */
  bus: Bus;
  monitor: CallMonitor;
  store: Store;
  handoffQueue: string;
}

export async function callRoutes(plain: FastifyInstance, opts: CallRoutesOptions): Promise<void> {
  const app = plain.withTypeProvider<ZodTypeProvider>();
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
      const { state, limit } = req.query;
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
      const { callSid } = req.params;
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
  const elsewhere = async (command: SupervisorCommand, reply: FastifyReply) => {
    const answer = await opts.bus.request(command);
    if (answer.kind === 'reply') return answer.reply;
    if (answer.kind === 'none') throw new ApiError(404, `no live call ${command.callSid}: it has ended, or no instance monitors it`);
    reply.header('retry-after', '5');
    const what = answer.sent
      ? 'the action may still be running there: look at the call (GET /api/calls/:callSid) before you retry'
      : 'nothing was done: check Redis (REDIS_URL) and retry';
    throw new ApiError(503, `the instance holding call ${command.callSid} cannot be reached (${answer.detail}); ${what}`);
  };

  /** Runs a supervisor's action where the call is, and answers its outcome. */
  const perform = async (req: FastifyRequest<{ Params: { callSid: string } }>, reply: FastifyReply, verb: string, action: Action | 'resume', reason?: string) => {
    const { callSid } = req.params;
    const actor = actorOf(req);
    const why = reason ?? `${verb} by ${actor}`;
    const command: SupervisorCommand = action === 'resume' ? { op: 'resume', callSid, actor } : { op: 'act', callSid, action, actor, reason: why };
    // The instance that holds the call's stream runs it: this one, or another reached over the bus.
    const outcome = monitor.session(callSid) ? await monitor.command(command) : await elsewhere(command, reply);
    req.auditDetail = { action: action === 'resume' ? 'resume' : action, reason: why, outcome };
    // An outcome may come from another instance over the bus, as JSON: it is checked like any input.
    return actionAnswer.parse(outcome);
  };
  const acting = <B extends z.ZodType>(summary: string, body: B) => ({
    config: { role: 'supervisor' as const },
    schema: { summary, tags: ['calls'], params: callSidParams, body, response: answers({ 200: actionAnswer }, [404, 503]) },
  });

  app.post(
    '/calls/:callSid/takeover',
    acting('Hand the call to a person now', z.object({ queue: z.string().trim().min(1).max(64).optional(), reason }).strict()),
    async (req, reply) =>
      perform(req, reply, 'takeover', actionSchema.parse({ type: 'handoff', to: { queue: req.body.queue ?? opts.handoffQueue } }), req.body.reason),
  );
  app.post(
    '/calls/:callSid/pause',
    acting(
      'Pause transcription now (privacy)',
      z.object({ resumeAfterSeconds: z.number().min(0).max(3600).optional().describe('default 60; 0: only a supervisor resumes'), reason }).strict(),
    ),
    async (req, reply) => perform(req, reply, 'pause', actionSchema.parse({ type: 'pause', resumeAfterSeconds: req.body.resumeAfterSeconds }), req.body.reason),
  );
  app.post('/calls/:callSid/resume', acting('Resume transcription of a paused call', z.object({ reason }).strict()), async (req, reply) =>
    perform(req, reply, 'resume', 'resume', req.body.reason),
  );
  app.post('/calls/:callSid/end', acting('End the call', z.object({ reason }).strict()), async (req, reply) =>
    perform(req, reply, 'end', { type: 'end_call' }, req.body.reason),
  );
}
