// How the supervisor API speaks HTTP. fastify-type-provider-zod validates requests against the routes' zod schemas,
// serialises answers through theirs and turns both into the OpenAPI document; this file adds what is takeover's own:
// every error leaves as `{ error, issues? }`, with a message that names the field and says what to do.
import type { FastifyError, FastifyInstance } from 'fastify';
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
  hasZodFastifySchemaValidationErrors,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conditionSchema, RuleValidationError } from '../rules/schema.js';
import { RuleExistsError, RuleNotFoundError, VersionNotFoundError } from '../store/rule-sets.js';
import { RuleSetConflictError } from '../store/types.js';

export interface Issue {
  path: string;
  message: string;
}

/** An answer other than 2xx, chosen by a route. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly issues?: Issue[],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

// Schemas the OpenAPI document shares under components.schemas: a rule's condition nests conditions, so it can only be
// written once and referred to (the request side is `ConditionInput`, the answer side `Condition`).
const shared = z.registry<{ id: string }>();
shared.add(conditionSchema, { id: 'Condition' });

/** @fastify/swagger's transform and transformObject: requests as accepted, answers as sent, shared schemas by reference. */
export const openApiTransform = createJsonSchemaTransform({ schemaRegistry: shared });
export const openApiComponents = createJsonSchemaTransformObject({ schemaRegistry: shared });

/** One line of the audit trail as the API answers it. */
export const auditEntryBody = z.object({
  at: z.number(),
  callSid: z.string(),
  kind: z.string(),
  actor: z.string(),
  decisionId: z.string().optional(),
  data: z.record(z.string(), z.unknown()),
});

const errorBody = z.object({
  error: z.string().describe('what went wrong and what to do'),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

type ErrorAnswers<E extends number> = { [code in 400 | 401 | 403 | 429 | E]: typeof errorBody };

/** Answer schemas: the given ones, plus the errors every route can give. */
export function answers<T extends Record<number, z.ZodType>, E extends number = never>(ok: T, errors: E[] = []): T & ErrorAnswers<E> {
  const all: Record<number, z.ZodType> = { ...ok };
  for (const code of [400, 401, 403, 429, ...errors]) all[code] = errorBody;
  return all as T & ErrorAnswers<E>;
}

/** Installs the zod validator and serializer and the error shape on an encapsulated context. */
export function speakJson(app: FastifyInstance): void {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // No body at all reads as an empty object, so that a missing field is named rather than "expected object".
  app.addHook('preValidation', async (req) => {
    if (req.body === undefined || req.body === null) req.body = req.routeOptions.schema?.body ? {} : req.body;
  });
  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    const { status, body } = errorAnswer(err);
    if (status >= 500) req.log.error({ err }, 'supervisor API request failed');
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}: see /docs/json for the API` }),
  );
}

function errorAnswer(err: FastifyError | Error): { status: number; body: z.infer<typeof errorBody> } {
  if (err instanceof ApiError) return { status: err.statusCode, body: { error: err.message, ...(err.issues ? { issues: err.issues } : {}) } };
  if (hasZodFastifySchemaValidationErrors(err)) {
    const issues = err.validation.map((v) => ({ path: v.instancePath.split('/').filter(Boolean).join('.'), message: v.message ?? 'invalid' }));
    const part = err.validationContext === 'body' ? 'request body' : (err.validationContext ?? 'request');
    return { status: 400, body: { error: `invalid ${part}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, issues } };
  }
  if (err instanceof RuleValidationError) return { status: 400, body: { error: err.message, issues: err.issues } };
  if (err instanceof RuleNotFoundError || err instanceof VersionNotFoundError) return { status: 404, body: { error: err.message } };
  if (err instanceof RuleExistsError || err instanceof RuleSetConflictError) return { status: 409, body: { error: err.message } };
  const status = (err as FastifyError).statusCode;
  // Fastify's own 4xx (malformed JSON, wrong content type, body too large) carry a useful message.
  if (typeof status === 'number' && status >= 400 && status < 500) return { status, body: { error: err.message } };
  return { status: 500, body: { error: 'internal error; the service log has the details' } };
}
