// Every route under /api, in one table with the role it needs: without a token it gets 401, with a token of a
// lower role 403, and a refused request changes nothing (rules, tokens, the live call, the audit of changes);
// the role named in the table does get through. A route registered without a row here fails the first test.
import { request, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuleInput } from '../../src/rules/schema.js';
import type { EmulatedCall } from '../../src/simulator/call.js';
import type { AuditEntry, TokenRole } from '../../src/store/types.js';
import { eventually } from '../support/twilio-client.js';
import { LONG_CALL, startApiStack, type ApiStack } from './api-stack.js';


const RULE = { id: 'polite-bye', when: { type: 'phrase', phrases: ['goodbye'] }, action: { type: 'alert' } } satisfies RuleInput;
const UNKNOWN_CALL = `CA${'f'.repeat(32)}`;

/** Real ids, so that a request the role check let through would change something. */
interface Ids {
  callSid: string;
  tokenId: string;
}

interface Row {
  /** Method and path as registered. */
  route: string;
  role: TokenRole;
  /** The refused request: real ids and a valid body. */
  path: (ids: Ids) => string;
  body?: unknown;
  /** The request the right role makes to show it gets through; harmless (an unknown id, a body that fails validation). */
  allowed?: { path?: string; body?: unknown };
}

const TABLE: Row[] = [
  { route: 'GET /api/calls', role: 'viewer', path: () => '/api/calls' },
  { route: 'GET /api/calls/:callSid', role: 'viewer', path: (i) => `/api/calls/${i.callSid}` },
  {
    route: 'POST /api/calls/:callSid/takeover',
    role: 'supervisor',
    path: (i) => `/api/calls/${i.callSid}/takeover`,
    body: { queue: 'billing', reason: 'role test' },
    allowed: { path: `/api/calls/${UNKNOWN_CALL}/takeover`, body: {} },
  },
  {
    route: 'POST /api/calls/:callSid/pause',
    role: 'supervisor',
    path: (i) => `/api/calls/${i.callSid}/pause`,
    body: { resumeAfterSeconds: 0 },
    allowed: { path: `/api/calls/${UNKNOWN_CALL}/pause`, body: {} },
  },
  {
    route: 'POST /api/calls/:callSid/resume',
    role: 'supervisor',
    path: (i) => `/api/calls/${i.callSid}/resume`,
    body: {},
    allowed: { path: `/api/calls/${UNKNOWN_CALL}/resume`, body: {} },
  },
  {
    route: 'POST /api/calls/:callSid/end',
    role: 'supervisor',
    path: (i) => `/api/calls/${i.callSid}/end`,
    body: { reason: 'role test' },
    allowed: { path: `/api/calls/${UNKNOWN_CALL}/end`, body: {} },
  },
  { route: 'GET /api/events', role: 'viewer', path: () => '/api/events' },
  { route: 'GET /api/rules', role: 'viewer', path: () => '/api/rules' },
  { route: 'GET /api/rules/:id', role: 'viewer', path: () => `/api/rules/${RULE.id}` },
  { route: 'POST /api/rules', role: 'admin', path: () => '/api/rules', body: { ...RULE, id: 'sneaky' }, allowed: { body: {} } },
  {
    route: 'PUT /api/rules/:id',
    role: 'admin',
    path: () => `/api/rules/${RULE.id}`,
    body: { ...RULE, action: { type: 'end_call' } },
    allowed: { path: '/api/rules/no-such-rule', body: RULE },
  },
  { route: 'DELETE /api/rules/:id', role: 'admin', path: () => `/api/rules/${RULE.id}`, allowed: { path: '/api/rules/no-such-rule' } },
  { route: 'POST /api/rules/:id/enable', role: 'admin', path: () => `/api/rules/${RULE.id}/enable`, allowed: { path: '/api/rules/no-such-rule/enable' } },
  { route: 'POST /api/rules/:id/disable', role: 'admin', path: () => `/api/rules/${RULE.id}/disable`, allowed: { path: '/api/rules/no-such-rule/disable' } },
  { route: 'GET /api/rules/versions', role: 'viewer', path: () => '/api/rules/versions' },
  { route: 'GET /api/rules/versions/:version', role: 'viewer', path: () => '/api/rules/versions/1' },
  { route: 'POST /api/rules/rollback', role: 'admin', path: () => '/api/rules/rollback', body: { version: 1 }, allowed: { body: { version: 999 } } },
  { route: 'POST /api/rules/dry-run', role: 'viewer', path: () => '/api/rules/dry-run', body: { transcript: [{ track: 'inbound', text: 'goodbye' }] } },
  { route: 'GET /api/me', role: 'viewer', path: () => '/api/me' },
  { route: 'GET /api/tokens', role: 'admin', path: () => '/api/tokens' },
  { route: 'POST /api/tokens', role: 'admin', path: () => '/api/tokens', body: { name: 'sneaky', role: 'admin' }, allowed: { body: {} } },
  { route: 'DELETE /api/tokens/:id', role: 'admin', path: (i) => `/api/tokens/${i.tokenId}`, allowed: { path: '/api/tokens/tok_unknown' } },
  { route: 'GET /api/audit', role: 'viewer', path: () => '/api/audit' },
  {
    route: 'POST /api/calls/:callSid/verdicts',
    role: 'supervisor',
    path: (i) => `/api/calls/${i.callSid}/verdicts`,
    body: { kind: 'should_have_acted', stretch: { from: Date.now() - 1000, to: Date.now() }, note: 'role test' },
    allowed: { body: {} },
  },
  { route: 'GET /api/calls/:callSid/verdicts', role: 'viewer', path: (i) => `/api/calls/${i.callSid}/verdicts` },
  { route: 'GET /api/rule-health', role: 'viewer', path: () => '/api/rule-health' },
];

const BELOW: Record<TokenRole, TokenRole[]> = { viewer: [], supervisor: ['viewer'], admin: ['viewer', 'supervisor'] };

/** Method and path of every route the app registered (HEAD ones aside), from Fastify's route tree. */
function registeredRoutes(tree: string): string[] {
  const routes: string[] = [];
  const prefixes: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    const path = (depth === 0 ? '' : prefixes[depth - 1]!) + m[2]!;
    prefixes[depth] = path;
    prefixes.length = depth + 1;
    for (const method of (m[3] ?? '').split(', ')) if (method && method !== 'HEAD') routes.push(`${method} ${path}`);
  }
  return routes;
}

let s: ApiStack;
let call: EmulatedCall;
let ids: Ids;

beforeAll(async () => {
  s = await startApiStack({ speed: 16, rules: [RULE] });
  const { id: tokenId } = await s.api('POST', '/api/tokens', { body: { name: 'target', role: 'viewer' } }).then((r) => r.body as { id: string });
  call = s.emulator.placeCall(LONG_CALL);
  await eventually(() => (s.service.monitor.session(call.sid)?.turns.length ?? 0) >= 2, 5000, 'the caller to be heard');
  ids = { callSid: call.sid, tokenId };
});
afterAll(async () => {
  await s?.close();
});

/** One request on node:http; a Server-Sent Events answer is closed once its status is known. */
function send(method: string, path: string, role: TokenRole | null, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (role) headers.authorization = `Bearer ${s.tokens[role]}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = request(`${s.serviceUrl}${path}`, { method, headers }, (res) => {
      const type = (res.headers as IncomingHttpHeaders)['content-type'] ?? '';
      if (type.startsWith('text/event-stream')) {
        res.destroy();
        resolve({ status: res.statusCode!, body: undefined });
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A refused change is audited too (status 403): that entry is the only trace it may leave. */
const refusal = (e: AuditEntry) => e.kind === 'supervisor' && e.data.status === 403;

/** What a request that got through could have changed. */
async function snapshot() {
  const current = await s.store.currentRuleSet();
  return {
    ruleSet: { version: current?.version, rules: current?.rules },
    versions: await s.store.listRuleSetVersions({ limit: 1000 }),
    running: s.service.rules.rules,
    // lastUsedAt moves with every authenticated request (at most once a minute); it is no change.
    tokens: (await s.store.listTokens()).map(({ lastUsedAt: _used, ...t }) => t),
    twilioRequests: call.events.filter((e) => e.kind === 'rest'),
    callState: s.service.monitor.session(call.sid)?.state,
    callActions: (await s.store.audit(call.sid)).filter((e) => ['decision', 'attempt', 'outcome', 'gate', 'supervisor'].includes(e.kind) && !refusal(e)),
    changes: (await s.store.queryAudit({ kind: 'supervisor', limit: 1000 })).filter((e) => !refusal(e)),
    verdicts: await s.store.verdicts(call.sid),
  };
}

describe('roles on every /api route', () => {
  it('has a row for every route registered under /api, and no row for a route that does not exist', () => {
    const all = registeredRoutes(s.service.app.printRoutes({ commonPrefix: false }));
    // The tree was read at all (else the comparison below would prove nothing).
    expect(all).toContain('GET /health');
    const api = all.filter((r) => r.split(' ')[1]!.startsWith('/api/')).sort();
    expect(api).toEqual(TABLE.map((r) => r.route).sort());
  });

  it.each(TABLE)('$route: 401 without a token, 403 below $role, and a refused request changes nothing', async (row) => {
    const [method] = row.route.split(' ') as [string];
    const before = await snapshot();

    const anonymous = await send(method, row.path(ids), null, row.body);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error).toMatch(/Authorization/);

    for (const lower of BELOW[row.role]) {
      const refused = await send(method, row.path(ids), lower, row.body);
      expect(refused.status, `${row.route} as ${lower}`).toBe(403);
      expect(refused.body.error).toContain(`needs the ${row.role} role`);
    }

    expect(await snapshot()).toEqual(before);
  });

  it.each(TABLE)('$route: lets $role through', async (row) => {
    const [method, registered] = row.route.split(' ') as [string, string];
    const r = await send(method, row.allowed?.path ?? row.path(ids), row.role, row.allowed && 'body' in row.allowed ? row.allowed.body : row.body);
    expect([401, 403, 429], `${method} ${registered} as ${row.role}: ${JSON.stringify(r.body)}`).not.toContain(r.status);
    expect(r.status).toBeLessThan(500);
  });
});
