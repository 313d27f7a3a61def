// /api/rules: read, create, change, delete, enable and disable rules; their versions and rollback; and the
// dry run. Every change goes through RuleSets: validated, saved as a new version, then run.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { checkRuleBounds, parseRule, parseRuleSet, RULE_LIMITS, ruleSchema, RuleValidationError, type Rule } from '../../rules/schema.js';
import { RuleExistsError, RuleNotFoundError, VersionNotFoundError, type RuleSets } from '../../store/rule-sets.js';
import type { Store } from '../../store/types.js';
import { actorOf } from '../auth.js';
import { ClassifierFailedError, DRY_RUN_LIMITS, storedTurns } from '../dry-run.js';
import { DryRunBusyError, DryRunFailedError, DryRunStoppedError, DryRunTimeoutError, type DryRunThreads } from '../dry-run-thread.js';
import { answers, ApiError } from '../http.js';

/** GET /api/rules/versions is a listing, so no rule may be called "versions". */
const RESERVED_IDS = new Set(['versions']);

const ruleIdParams = z.object({ id: z.string().min(1).max(64) });
const versionSummary = z.object({ version: z.number().int(), actor: z.string(), at: z.number(), change: z.string() });
const versionAndRule = z.object({ version: z.number().int(), rule: ruleSchema });

const turnSchema = z
  .object({
    track: z.enum(['inbound', 'outbound']).describe('inbound: the caller; outbound: the AI agent'),
    text: z.string().min(1).max(DRY_RUN_LIMITS.textChars),
    atMs: z.number().min(0).optional().describe(`time of the turn from the start of the call; default ${DRY_RUN_LIMITS.defaultGapMs} ms after the one before`),
  })
  .strict();

const dryRunBody = z
  .object({
    transcript: z.array(turnSchema).min(1).max(DRY_RUN_LIMITS.turns).optional(),
    callSid: z.string().regex(/^CA[0-9a-fA-F]{32}$/, 'must be a Twilio call SID').optional(),
    rules: z.array(z.unknown()).max(RULE_LIMITS.rules).optional().describe('a candidate rule set; default: the running set'),
    /** Call attributes for rule scopes (to, from, customParameters) when replaying a posted transcript. */
    call: z
      .object({ to: z.string().optional(), from: z.string().optional(), customParameters: z.record(z.string(), z.string()).default({}) })
      .strict()
      .optional(),
  })
  .strict()
  .refine((b) => (b.transcript === undefined) !== (b.callSid === undefined), { message: 'give either transcript or callSid', path: ['transcript'] });

export interface RuleRoutesOptions {
  ruleSets: RuleSets;
  store: Store;
  /** Where dry runs run: worker threads, off the event loop that serves calls. */
  dryRuns: DryRunThreads;
}

export async function ruleRoutes(plain: FastifyInstance, opts: RuleRoutesOptions): Promise<void> {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  const { ruleSets, store } = opts;

  app.get(
    '/rules',
    {
      config: { role: 'viewer' },
      schema: { summary: 'The running rule set', tags: ['rules'], response: answers({ 200: z.object({ version: z.number().int(), rules: z.array(ruleSchema) }) }) },
    },
    async () => {
      const { version, rules } = await ruleSets.current();
      return { version, rules };
    },
  );

  app.get(
    '/rules/versions',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Every version of the rule set, newest first',
        tags: ['rules'],
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
        response: answers({ 200: z.object({ versions: z.array(versionSummary) }) }),
      },
    },
    async (req) => {
      await ruleSets.current();
      return { versions: await store.listRuleSetVersions({ limit: req.query.limit }) };
    },
  );

  app.get(
    '/rules/versions/:version',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'One version of the rule set',
        tags: ['rules'],
        params: z.object({ version: z.coerce.number().int().min(1) }),
        response: answers({ 200: versionSummary.extend({ rules: z.array(z.unknown()) }) }, [404]),
      },
    },
    async (req) => {
      const { version } = req.params;
      const found = await store.ruleSetVersion(version);
      if (!found) throw new VersionNotFoundError(version);
      return found;
    },
  );

  app.get(
    '/rules/:id',
    { config: { role: 'viewer' }, schema: { summary: 'One rule', tags: ['rules'], params: ruleIdParams, response: answers({ 200: ruleSchema }, [404]) } },
    async (req) => {
      const { id } = req.params;
      const rule = (await ruleSets.current()).rules.find((r) => r.id === id);
      if (!rule) throw new RuleNotFoundError(id);
      return rule;
    },
  );

  app.post(
    '/rules',
    {
      config: { role: 'admin' },
      schema: { summary: 'Create a rule', tags: ['rules'], body: ruleSchema, response: answers({ 201: versionAndRule }, [409]) },
      // Before the schema, which is recursive: a rule nested thousands deep is refused by size, not by the stack.
      preValidation: async (req) => {
        const tooBig = checkRuleBounds([req.body], { single: true });
        if (tooBig.length > 0) throw new RuleValidationError(tooBig);
      },
    },
    async (req, reply) => {
      const rule = req.body;
      if (RESERVED_IDS.has(rule.id)) throw new ApiError(400, `"${rule.id}" cannot be a rule id (it names a route): pick another`, [{ path: 'id', message: 'reserved' }]);
      const change = `created rule "${rule.id}"`;
      const saved = await ruleSets.change(actorOf(req), change, (rules) => {
        if (rules.some((r) => r.id === rule.id)) throw new RuleExistsError(rule.id);
        return [...rules, rule];
      });
      req.auditDetail = { change, version: saved.version, rule };
      return reply.code(201).send({ version: saved.version, rule: saved.rules.find((r) => r.id === rule.id)! });
    },
  );

  app.put(
    '/rules/:id',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Replace a rule (the id in the body, when given, must match the path)',
        tags: ['rules'],
        params: ruleIdParams,
        body: z.record(z.string(), z.unknown()),
        response: answers({ 200: versionAndRule }, [404]),
      },
    },
    async (req) => {
      const { id } = req.params;
      const body = req.body;
      if (body.id !== undefined && body.id !== id) {
        throw new ApiError(400, `the body's id "${String(body.id)}" differs from the path's "${id}": ids cannot change (create a new rule and delete this one)`, [
          { path: 'id', message: `must be "${id}"` },
        ]);
      }
      const rule = parseRule({ ...body, id });
      const change = `changed rule "${id}"`;
      const saved = await ruleSets.change(actorOf(req), change, (rules) => replaceRule(rules, id, () => rule));
      req.auditDetail = { change, version: saved.version, rule };
      return { version: saved.version, rule };
    },
  );

  app.delete(
    '/rules/:id',
    {
      config: { role: 'admin' },
      schema: { summary: 'Delete a rule', tags: ['rules'], params: ruleIdParams, response: answers({ 200: z.object({ version: z.number().int() }) }, [404]) },
    },
    async (req) => {
      const { id } = req.params;
      const change = `deleted rule "${id}"`;
      const saved = await ruleSets.change(actorOf(req), change, (rules) => {
        if (!rules.some((r) => r.id === id)) throw new RuleNotFoundError(id);
        return rules.filter((r) => r.id !== id);
      });
      req.auditDetail = { change, version: saved.version };
      return { version: saved.version };
    },
  );

  for (const enabled of [true, false]) {
    const verb = enabled ? 'enable' : 'disable';
    app.post(
      `/rules/:id/${verb}`,
      {
        config: { role: 'admin' },
        schema: { summary: `${enabled ? 'Enable' : 'Disable'} a rule`, tags: ['rules'], params: ruleIdParams, response: answers({ 200: versionAndRule }, [404]) },
      },
      async (req) => {
        const { id } = req.params;
        const change = `${verb}d rule "${id}"`;
        const saved = await ruleSets.change(actorOf(req), change, (rules) => replaceRule(rules, id, (r) => ({ ...r, enabled })));
        req.auditDetail = { change, version: saved.version };
        return { version: saved.version, rule: saved.rules.find((r) => r.id === id)! };
      },
    );
  }

  app.post(
    '/rules/rollback',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Make a new version equal to an older one',
        tags: ['rules'],
        body: z.object({ version: z.number().int().min(1) }).strict(),
        response: answers({ 200: z.object({ version: z.number().int(), rules: z.array(ruleSchema) }) }, [404, 409]),
      },
    },
    async (req) => {
      const { version } = req.body;
      const saved = await ruleSets.rollback(actorOf(req), version);
      req.auditDetail = { change: saved.change, version: saved.version };
      return { version: saved.version, rules: saved.rules };
    },
  );

  app.post(
    '/rules/dry-run',
    {
      config: { role: 'viewer', audit: false },
      schema: {
        summary: 'Replay a transcript (posted, or a recorded call\'s) through the classifier and rules; changes nothing',
        tags: ['rules'],
        body: dryRunBody,
        response: answers(
          {
            200: z.object({
              fired: z.array(
                z.object({
                  turn: z.number().int().describe('index of the turn in the transcript'),
                  atMs: z.number().describe(`when it fired, in ms from the start of the call: the turn's atMs (without one, ${DRY_RUN_LIMITS.defaultGapMs} ms after the turn before), or for a silence rule the tick of the clock between turns`),
                  ruleId: z.string(),
                  action: z.string(),
                  mode: z.enum(['enforce', 'observe']),
                  reason: z.string(),
                  note: z.enum(['acts', 'observe', 'alert', 'outranked']),
                }),
              ),
              turns: z.number().int(),
              notHeard: z.array(z.number().int()).describe('turns a pause kept from the classifier'),
              stoppedAt: z.number().int().nullable().describe('the turn after which a handoff or end of call would have ended monitoring'),
            }),
          },
          [404, 422, 502, 503],
        ),
      },
    },
    async (req, reply) => {
      const body = req.body;
      const rules = body.rules !== undefined ? candidate(body.rules) : (await ruleSets.current()).rules;
      let turns = body.transcript;
      let call = body.call ?? { customParameters: {} };
      if (body.callSid) {
        const [record, lines, audit] = await Promise.all([store.getCall(body.callSid), store.transcript(body.callSid), store.audit(body.callSid)]);
        if (lines.length === 0) throw new ApiError(404, `no stored transcript for call ${body.callSid}: it had no final turns, or it was purged`);
        turns = storedTurns(lines, audit, record?.startedAt).slice(0, DRY_RUN_LIMITS.turns);
        call = { to: record?.to, from: record?.from, customParameters: record?.customParameters ?? {} };
      }
      try {
        return await opts.dryRuns.run({ turns: turns!, rules, call });
      } catch (err) {
        if (err instanceof ClassifierFailedError) throw new ApiError(502, err.message);
        if (err instanceof DryRunTimeoutError || err instanceof DryRunFailedError) throw new ApiError(422, err.message);
        if (err instanceof DryRunStoppedError) throw new ApiError(503, err.message);
        if (err instanceof DryRunBusyError) {
          reply.header('retry-after', '5');
          throw new ApiError(503, err.message);
        }
        throw err;
      }
    },
  );
}

function replaceRule(rules: Rule[], id: string, update: (r: Rule) => Rule): Rule[] {
  const i = rules.findIndex((r) => r.id === id);
  if (i === -1) throw new RuleNotFoundError(id);
  return rules.map((r, j) => (j === i ? update(r) : r));
}

/** A candidate set from the request, checked as a save would check it, refused with the wrong fields named as `rules.<i>.<field>`. */
function candidate(input: unknown[]): Rule[] {
  try {
    return parseRuleSet(input);
  } catch (err) {
    if (!(err instanceof RuleValidationError)) throw err;
    const issues = err.issues.map((i) => ({ path: i.path ? `rules.${i.path}` : 'rules', message: i.message }));
    throw new ApiError(400, `invalid candidate rules: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
}
