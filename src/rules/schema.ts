// The supervisors' takeover rules: a validated schema. A bad rule is refused with the path of the
// field that is wrong; nothing here runs anything.
import { z } from 'zod';
import { SENSITIVE_CATEGORIES } from '../types.js';

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
        phrases: z.array(z.string().min(1).max(200)).default([]),
        pattern: z
          .string()
          .min(1)
          .max(500)
          .refine((p) => isValidRegex(p), 'not a valid regular expression')
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
    z.object({ type: z.literal('all'), of: z.array(conditionSchema).min(1) }).strict(),
    z.object({ type: z.literal('any'), of: z.array(conditionSchema).min(1) }).strict(),
  ]),
) as z.ZodType<Condition>;

function isValidRegex(p: string): boolean {
  try {
    new RegExp(p, 'i');
    return true;
  } catch {
    return false;
  }
}

const e164ish = z.string().regex(/^\+?[0-9]{3,15}$/, 'must be a phone number like +15551234567');

export const handoffTargetSchema = z.union([
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
    description: z.string().max(500).default(''),
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

export const ruleSetSchema = z
  .array(ruleSchema)
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
  const r = ruleSchema.safeParse(input);
  if (!r.success) throw new RuleValidationError(toIssues(r.error));
  return r.data;
}

/** Validates a whole rule set (ids unique); throws RuleValidationError naming each wrong field. */
export function parseRuleSet(input: unknown): Rule[] {
  const r = ruleSetSchema.safeParse(input);
  if (!r.success) throw new RuleValidationError(toIssues(r.error));
  return r.data;
}
