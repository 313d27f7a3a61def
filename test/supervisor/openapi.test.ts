// The OpenAPI document at /docs/json describes every supervisor route, with the request schemas the
// routes validate against (a rule body is the rule schema, conditions and all).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApiStack, type ApiStack } from './api-stack.js';

let s: ApiStack;
beforeAll(async () => {
  s = await startApiStack();
});
afterAll(async () => {
  await s.close();
});

it('serves the OpenAPI document with every route of docs/supervisor-api.md', async () => {
  const res = await fetch(`${s.serviceUrl}/docs/json`);
  expect(res.status).toBe(200);
  const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, any>> };
  expect(doc.openapi).toMatch(/^3\.1/);
  const routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
  expect(routes).toEqual(
    expect.arrayContaining([
      'GET /api/calls',
      'GET /api/calls/{callSid}',
      'POST /api/calls/{callSid}/takeover',
      'POST /api/calls/{callSid}/pause',
      'POST /api/calls/{callSid}/resume',
      'POST /api/calls/{callSid}/end',
      'GET /api/events',
      'GET /api/rules',
      'GET /api/rules/{id}',
      'POST /api/rules',
      'PUT /api/rules/{id}',
      'DELETE /api/rules/{id}',
      'POST /api/rules/{id}/enable',
      'POST /api/rules/{id}/disable',
      'GET /api/rules/versions',
      'GET /api/rules/versions/{version}',
      'POST /api/rules/rollback',
      'POST /api/rules/dry-run',
      'GET /api/tokens',
      'POST /api/tokens',
      'DELETE /api/tokens/{id}',
      'GET /api/audit',
      'POST /api/calls/{callSid}/verdicts',
      'GET /api/calls/{callSid}/verdicts',
      'GET /api/rule-health',
    ]),
  );
  const ruleBody = doc.paths['/api/rules']!.post.requestBody.content['application/json'].schema;
  expect(ruleBody.required).toEqual(expect.arrayContaining(['id', 'when', 'action']));
  // A condition nests conditions: it is a shared schema that the rule refers to from the document's root.
  // (as a request it is ConditionInput, as an answer Condition: fastify-type-provider-zod's names for the two sides).
  expect(ruleBody.properties.when).toEqual({ $ref: '#/components/schemas/ConditionInput' });
  const ruleAnswer = doc.paths['/api/rules/{id}']!.get.responses['200'].content['application/json'].schema;
  expect(ruleAnswer.properties.when).toEqual({ $ref: '#/components/schemas/Condition' });
  const schemas = (doc as any).components.schemas as Record<string, unknown>;
  expect(JSON.stringify(schemas.ConditionInput)).toContain('wants_human');
  expect(JSON.stringify(schemas.Condition)).toContain('wants_human');
  // Every reference in the document resolves.
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
  expect(refs.length).toBeGreaterThan(0);
  for (const ref of refs) expect(ref.startsWith('#/components/schemas/') && ref.slice('#/components/schemas/'.length) in schemas, ref).toBe(true);
  const takeover = doc.paths['/api/calls/{callSid}/takeover']!.post;
  expect(takeover.parameters[0]).toMatchObject({ name: 'callSid', in: 'path', required: true });
  expect(Object.keys(takeover.responses)).toEqual(expect.arrayContaining(['200', '401', '403', '404']));
});
