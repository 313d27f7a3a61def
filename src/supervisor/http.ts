// How the supervisor API speaks HTTP: zod schemas validate requests (and become the OpenAPI document),
// and every error leaves as `{ error, issues? }` with a message that says what to do.
import type { FastifyError, FastifyInstance, FastifySchema, FastifySchemaCompiler } from 'fastify';
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

class RequestValidationError extends Error {
  readonly statusCode = 400;
  readonly code = 'FST_ERR_VALIDATION';
  constructor(
    readonly part: string,
    readonly issues: Issue[],
  ) {
    super(`invalid ${part === 'body' ? 'request body' : part}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
  }
}

export const toIssues = (error: z.ZodError): Issue[] =>
  error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));

const isZod = (s: unknown): s is z.ZodType => typeof s === 'object' && s !== null && '_zod' in s;

/** Validates a request part with the route's zod schema; the parsed value (defaults applied) replaces it. */
export const zodValidator: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  if (!isZod(schema)) throw new Error(`supervisor API: the ${httpPart} schema must be a zod schema`);
  return (data: unknown) => {
    // No body at all reads as an empty object, so that a missing field is named rather than "expected object".
    const r = schema.safeParse(httpPart === 'body' && (data === null || data === undefined) ? {} : data);
    return r.success ? { value: r.data } : { error: new RequestValidationError(httpPart ?? 'request', toIssues(r.error)) };
  };
};

// Recursive schemas (a rule's condition) become $defs; OpenAPI wants them under components.schemas,
// where a `#/…` reference resolves from the document's root.
const names = z.registry<{ id: string }>();
names.add(conditionSchema, { id: 'Condition' });
const sharedSchemas: Record<string, unknown> = {};

function toJsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any', metadata: names }) as Record<string, unknown>;
  delete json.$schema;
  const defs = (json.$defs ?? {}) as Record<string, unknown>;
  delete json.$defs;
  const suffix = io === 'output' ? 'Output' : '';
  const rename = (name: string) => `${name.startsWith('__') ? 'Schema' : name}${suffix}`;
  const relink = (value: unknown): unknown =>
    JSON.parse(JSON.stringify(value).replace(/"#\/\$defs\/([^"]+)"/g, (_m, name: string) => `"#/components/schemas/${rename(name)}"`));
  for (const [name, def] of Object.entries(defs)) sharedSchemas[rename(name)] = relink(def);
  return relink(json) as Record<string, unknown>;
}

/** @fastify/swagger's transformObject: adds the shared schemas the route schemas refer to. */
export function openApiComponents(doc: { openapiObject?: Record<string, any> } | { swaggerObject?: unknown }): any {
  const openapi = (doc as { openapiObject: Record<string, any> }).openapiObject;
  openapi.components = { ...openapi.components, schemas: { ...openapi.components?.schemas, ...sharedSchemas } };
  return openapi;
}

/** @fastify/swagger's transform: zod schemas become JSON schema (requests as accepted, answers as sent). */
export function openApiTransform({ schema, url }: { schema: FastifySchema; url: string }): { schema: FastifySchema; url: string } {
  if (!schema) return { schema, url };
  const out: Record<string, unknown> = { ...schema };
  for (const part of ['body', 'querystring', 'params', 'headers'] as const) {
    const s = out[part];
    if (isZod(s)) out[part] = toJsonSchema(s, 'input');
  }
  if (schema.response && typeof schema.response === 'object') {
    out.response = Object.fromEntries(
      Object.entries(schema.response as Record<string, unknown>).map(([code, s]) => [code, isZod(s) ? toJsonSchema(s, 'output') : s]),
    );
  }
  return { schema: out as FastifySchema, url };
}

/** One line of the audit trail as the API answers it. */
export const auditEntryBody = z.object({
  at: z.number(),
  callSid: z.string(),
  kind: z.string(),
  actor: z.string(),
  decisionId: z.string().optional(),
  data: z.record(z.string(), z.unknown()),
});

export const errorBody = z.object({
  error: z.string().describe('what went wrong and what to do'),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

/** Answer schemas for the OpenAPI document: the given ones, plus the errors every route can give. */
export function answers(ok: Record<number, z.ZodType>, errors: number[] = []): Record<number, z.ZodType> {
  const all: Record<number, z.ZodType> = { ...ok };
  for (const code of [400, 401, 403, 429, ...errors]) all[code] = errorBody;
  return all;
}

/** Installs the validator, a plain JSON serializer and the error shape on an encapsulated context. */
export function speakJson(app: FastifyInstance): void {
  app.setValidatorCompiler(zodValidator);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
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
  if (err instanceof RequestValidationError) return { status: 400, body: { error: err.message, issues: err.issues } };
  if (err instanceof RuleValidationError) return { status: 400, body: { error: err.message, issues: err.issues } };
  if (err instanceof RuleNotFoundError || err instanceof VersionNotFoundError) return { status: 404, body: { error: err.message } };
  if (err instanceof RuleExistsError || err instanceof RuleSetConflictError) return { status: 409, body: { error: err.message } };
  const status = (err as FastifyError).statusCode;
  // Fastify's own 4xx (malformed JSON, wrong content type, body too large) carry a useful message.
  if (typeof status === 'number' && status >= 400 && status < 500) return { status, body: { error: err.message } };
  return { status: 500, body: { error: 'internal error; the service log has the details' } };
}
