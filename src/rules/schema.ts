// The supervisors' takeover rules: a validated schema. A bad rule is refused with the path of the
// field that is wrong; nothing here runs anything.
// One file (just over 300 lines): the condition schema is recursive and the rule, the rule set and their size limits
// refer to each other; the pattern checks are in pattern.ts.
import { z } from 'zod';
import { SENSITIVE_CATEGORIES } from '../types.js';
import { PATTERN_LIMITS, patternProblem } from './pattern.js';

/**
 * How big a rule set may be. Rules run on every caller turn of every call, on the event loop that serves them all,
 * so their size bounds the work of a turn; and a rule is checked against these before anything recursive reads it
 * (checkRuleBounds), so a rule nested thousands deep is refused, not a stack overflow.
 */
export const RULE_LIMITS = {
  /** Rules in a set. */
  rules: 100,
  /** Conditions in one rule's `when`, `all`/`any` included. */
  conditionsPerRule: 50,
  /** Conditions in the whole set. */
  conditionsTotal: 500,
  /** Levels of `all`/`any` nesting: `when` itself is level 1. */
  depth: 6,
  /** Phrases in one `phrase` condition. */
  phrasesPerCondition: 50,
  /** Phrases in the whole set. */
  phrasesTotal: 1000,
  phraseChars: 200,
  /** Conditions with a `pattern` in the whole set (each is a compiled RE2 program; see PATTERN_LIMITS). */
  patternsTotal: 10,
  patternChars: PATTERN_LIMITS.chars,
  descriptionChars: 500,
  /** Nesting of any JSON value in a rule (objects and arrays), checked first. */
  jsonDepth: 32,
} as const;

const unit = z.number().min(0).max(1);

export type Condition =
  | { type: 'wants_human'; times: number }
  | { type: 'frustration'; atLeast: number; releaseBelow?: number; turns: number; forSeconds: number }
  | { type: 'sentiment'; atMost: number; releaseAbove?: number; turns: number; forSeconds: number }
  | { type: 'sensitive'; categories: (typeof SENSITIVE_CATEGORIES)[number][] }
  | { type: 'phrase'; phrases: string[]; pattern?: string; track: 'inbound' | 'outbound' | 'any' }
  | { type: 'degraded' }
  | { type: 'silence'; seconds: number; track: 'inbound' | 'outbound' | 'any' }
  | { type: 'all'; of: Condition[] }
  | { type: 'any'; of: Condition[] };

export const conditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.discriminatedUnion('type', [
    z.object({ type: z.literal('wants_human'), times: z.number().int().min(1).default(1) }).strict(),
    z
      .object({
        type: z.literal('frustration'),
        atLeast: unit,
        /** Hysteresis: once a streak started, turns at or above this keep it going. */
        releaseBelow: unit.optional(),
        /** Sustained over at least this many consecutive caller turns… */
        turns: z.number().int().min(1).max(50).default(1),
        /** …spanning at least this many seconds. */
        forSeconds: z.number().min(0).max(3600).default(0),
      })
      .strict()
      .refine((c) => c.releaseBelow === undefined || c.releaseBelow <= c.atLeast, {
        message: 'releaseBelow must not be above atLeast',
        path: ['releaseBelow'],
      }),
    z
      .object({
        type: z.literal('sentiment'),
        atMost: z.number().min(-1).max(1),
        /** Hysteresis: once a streak started, turns at or below this keep it going. */
        releaseAbove: z.number().min(-1).max(1).optional(),
        turns: z.number().int().min(1).max(50).default(1),
        forSeconds: z.number().min(0).max(3600).default(0),
      })
      .strict()
      .refine((c) => c.releaseAbove === undefined || c.releaseAbove >= c.atMost, {
        message: 'releaseAbove must not be below atMost',
        path: ['releaseAbove'],
      }),
    z.object({ type: z.literal('sensitive'), categories: z.array(z.enum(SENSITIVE_CATEGORIES)).min(1) }).strict(),
    z
      .object({
        type: z.literal('phrase'),
        phrases: z.array(z.string().min(1).max(RULE_LIMITS.phraseChars)).max(RULE_LIMITS.phrasesPerCondition).default([]),
        /** Case-insensitive RE2 syntax (no backreferences or lookaround), within PATTERN_LIMITS. */
        pattern: z
          .string()
          .min(1)
          .max(RULE_LIMITS.patternChars)
          .superRefine((p, ctx) => {
            const problem = patternProblem(p);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          })
          .optional(),
        track: z.enum(['inbound', 'outbound', 'any']).default('inbound'),
      })
      .strict()
      .refine((c) => c.phrases.length > 0 || c.pattern !== undefined, {
        message: 'give at least one phrase or a pattern',
        path: ['phrases'],
      }),
    z.object({ type: z.literal('degraded') }).strict(),
    z
      .object({
        type: z.literal('silence'),
        /** Nobody (or the given side) has said anything for this long. */
        seconds: z.number().min(1).max(3600),
        track: z.enum(['inbound', 'outbound', 'any']).default('inbound'),
      })
      .strict(),
    z.object({ type: z.literal('all'), of: z.array(conditionSchema).min(1).max(RULE_LIMITS.conditionsPerRule) }).strict(),
    z.object({ type: z.literal('any'), of: z.array(conditionSchema).min(1).max(RULE_LIMITS.conditionsPerRule) }).strict(),
  ]),
) as z.ZodType<Condition>;

const e164ish = z.string().regex(/^\+?[0-9]{3,15}$/, 'must be a phone number like +15551234567');

const handoffTargetSchema = z.union([
  z.object({ queue: z.string().min(1).max(64), workflowSid: z.string().regex(/^WW[0-9a-fA-F]{32}$/).optional() }).strict(),
  z
    .object({
      dial: z
        .object({
          number: e164ish.optional(),
          client: z.string().min(1).max(256).optional(),
          sip: z.string().regex(/^sips?:/, 'must start with sip: or sips:').optional(),
          callerId: e164ish.optional(),
        })
        .strict()
        .refine((d) => [d.number, d.client, d.sip].filter(Boolean).length === 1, 'give exactly one of number, client or sip'),
    })
    .strict(),
  z.object({ redirect: z.string().url().refine((u) => u.startsWith('https://') || u.startsWith('http://'), 'must be http(s)') }).strict(),
]);
export type HandoffTarget = z.infer<typeof handoffTargetSchema>;

export const actionSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('handoff'),
      to: handoffTargetSchema,
      /** Spoken to the caller before the transfer. */
      say: z.string().max(500).default('Please hold while I connect you with a member of our team.'),
    })
    .strict(),
  z
    .object({
      type: z.literal('pause'),
      /** Reopen the stream after this long; 0 means only a supervisor resumes. Ignored with secureCapture. */
      resumeAfterSeconds: z.number().min(0).max(3600).default(60),
      /**
       * Instead of only stopping the stream, send the caller to a secure capture flow (twiml/<template>.xml, e.g.
       * <Pay>) whose action URL, served by takeover, starts the stream again and returns the call to `returnUrl`.
       */
      secureCapture: z
        .object({
          returnUrl: z.string().url().refine((u) => /^https?:\/\//.test(u), 'must be the http(s) URL of the agent\'s TwiML'),
          template: z.string().regex(/^[a-z0-9-]+$/, 'a file name in twiml/ without .xml').default('secure-capture'),
          say: z.string().max(500).default('For your security, please enter your card number on your keypad now.'),
        })
        .strict()
        .optional(),
    })
    .strict(),
  z.object({ type: z.literal('end_call') }).strict(),
  z.object({ type: z.literal('alert') }).strict(),
]);
export type Action = z.infer<typeof actionSchema>;

export const ruleSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lowercase letters, digits, - and _, at most 64'),
    description: z.string().max(RULE_LIMITS.descriptionChars).default(''),
    enabled: z.boolean().default(true),
    mode: z.enum(['enforce', 'observe']).default('enforce'),
    /** Higher runs first when several rules fire on the same turn. */
    priority: z.number().int().min(-1000).max(1000).default(0),
    scope: z
      .object({
        customParameters: z.record(z.string(), z.string()).optional(),
        to: z.array(z.string().min(1)).min(1).optional(),
        from: z.array(z.string().min(1)).min(1).optional(),
      })
      .strict()
      .default({}),
    when: conditionSchema,
    action: actionSchema,
    cooldownSeconds: z.number().min(0).max(86_400).default(60),
  })
  .strict();

export type Rule = z.infer<typeof ruleSchema>;
export type RuleInput = z.input<typeof ruleSchema>;

const ruleSetSchema = z
  .array(ruleSchema)
  .max(RULE_LIMITS.rules)
  .superRefine((rules, ctx) => {
    const seen = new Set<string>();
    rules.forEach((r, i) => {
      if (seen.has(r.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate rule id "${r.id}"` });
      seen.add(r.id);
    });
  });

export class RuleValidationError extends Error {
  constructor(readonly issues: { path: string; message: string }[]) {
    super(`Invalid rule: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
    this.name = 'RuleValidationError';
  }
}

function toIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

/** Validates one rule; throws RuleValidationError naming each wrong field. */
export function parseRule(input: unknown): Rule {
  const tooBig = checkRuleBounds([input], { single: true });
  if (tooBig.length > 0) throw new RuleValidationError(tooBig);
  const r = ruleSchema.safeParse(input);
  if (!r.success) throw new RuleValidationError(toIssues(r.error));
  return r.data;
}

/** Validates a whole rule set (ids unique); throws RuleValidationError naming each wrong field. */
export function parseRuleSet(input: unknown): Rule[] {
  const tooBig = checkRuleBounds(input);
  if (tooBig.length > 0) throw new RuleValidationError(tooBig);
  const r = ruleSetSchema.safeParse(input);
  if (!r.success) throw new RuleValidationError(toIssues(r.error));
  return r.data;
}

type Issue = { path: string; message: string };

/**
 * Checks a rule set (or, with `single`, the one rule in `rules`) against RULE_LIMITS without recursion, before the
 * schema (which is recursive) reads it. Only counts what looks like rules and conditions: the schema names every
 * other mistake afterwards. Paths are as the schema's: `3.when.of.0.pattern` (`when.of.0.pattern` with `single`).
 */
export function checkRuleBounds(rules: unknown, opts: { single?: boolean } = {}): Issue[] {
  if (!Array.isArray(rules)) return [];
  const issues: Issue[] = [];
  const at = (i: number, path: (string | number)[]) => (opts.single ? path : [i, ...path]).join('.');
  if (rules.length > RULE_LIMITS.rules) {
    return [{ path: '', message: `at most ${RULE_LIMITS.rules} rules in a set (this one has ${rules.length}): merge or delete some` }];
  }
  let conditions = 0;
  let phrases = 0;
  let patterns = 0;
  rules.forEach((rule, i) => {
    const deep = deepestPath(rule, RULE_LIMITS.jsonDepth);
    if (deep) {
      issues.push({ path: at(i, deep), message: `nested deeper than ${RULE_LIMITS.jsonDepth} levels: a rule is never that deep; flatten it` });
      return;
    }
    if (!isObject(rule)) return;
    if (typeof rule.description === 'string' && rule.description.length > RULE_LIMITS.descriptionChars) {
      issues.push({ path: at(i, ['description']), message: `at most ${RULE_LIMITS.descriptionChars} characters (it has ${rule.description.length})` });
    }
    let inRule = 0;
    const stack: { node: unknown; path: (string | number)[]; depth: number }[] = [{ node: rule.when, path: ['when'], depth: 1 }];
    while (stack.length > 0) {
      const { node, path, depth } = stack.pop()!;
      if (!isObject(node)) continue;
      inRule++;
      conditions++;
      if (inRule > RULE_LIMITS.conditionsPerRule) {
        issues.push({ path: at(i, ['when']), message: `at most ${RULE_LIMITS.conditionsPerRule} conditions in a rule, all and any included: split it into several rules` });
        break;
      }
      if (Array.isArray(node.phrases)) {
        phrases += node.phrases.length;
        if (node.phrases.length > RULE_LIMITS.phrasesPerCondition) {
          issues.push({ path: at(i, [...path, 'phrases']), message: `at most ${RULE_LIMITS.phrasesPerCondition} phrases in a condition (it has ${node.phrases.length}): use several phrase conditions under any` });
        }
      }
      if (typeof node.pattern === 'string') patterns++;
      if (Array.isArray(node.of)) {
        if (depth >= RULE_LIMITS.depth) {
          issues.push({ path: at(i, [...path, 'of']), message: `all/any nested at most ${RULE_LIMITS.depth} levels deep: flatten the condition` });
          continue;
        }
        node.of.forEach((sub, j) => stack.push({ node: sub, path: [...path, 'of', j], depth: depth + 1 }));
      }
    }
  });
  const total = (count: number, limit: number, what: string, todo: string) => {
    if (count > limit) issues.push({ path: '', message: `at most ${limit} ${what} in the whole rule set (it would have ${count}): ${todo}` });
  };
  total(conditions, RULE_LIMITS.conditionsTotal, 'conditions', 'simplify or delete rules');
  total(phrases, RULE_LIMITS.phrasesTotal, 'phrases', 'keep the phrases that matter');
  total(patterns, RULE_LIMITS.patternsTotal, 'patterns', 'combine patterns with | or use phrases');
  return issues;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The path to a value nested deeper than `max` objects/arrays, or null; iterative, so any depth is safe to check. */
function deepestPath(value: unknown, max: number): (string | number)[] | null {
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: value, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (path.length >= max) return path;
    for (const [k, child] of Object.entries(v)) stack.push({ v: child, path: [...path, Array.isArray(v) ? Number(k) : k] });
  }
  return null;
}
