// Who may do what: a missing, unknown or revoked token gets 401, too low a role 403, repeated failures
// from one address 429; every change is written to the audit trail with the token's name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiStack, type ApiStack } from './api-stack.js';

const rule = { id: 'polite-bye', when: { type: 'phrase', phrases: ['goodbye'] }, action: { type: 'alert' } };

let s: ApiStack;
beforeAll(async () => {
  // As behind a reverse proxy on this host: its X-Forwarded-For is believed, so each test can come from its own address.
  s = await startApiStack({ env: { TRUST_PROXY: '127.0.0.1' } });
});
afterAll(async () => {
  await s.close();
});

describe('authentication', () => {
  it('answers 401 without a token, naming the header to send', async () => {
    const r = await s.api('GET', '/api/rules', { as: null });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Bearer');
    expect(r.body.error).toMatch(/Authorization: Bearer <token>/);
  });

  it('answers 401 to an unknown token and to a header that is not Bearer', async () => {
    const unknown = await s.api('GET', '/api/rules', { token: 'tko_not-a-real-token', headers: { 'x-forwarded-for': '198.51.100.1' } });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toMatch(/unknown token/);
    const basic = await s.api('GET', '/api/rules', { as: null, headers: { authorization: 'Basic YWxpY2U6eA==', 'x-forwarded-for': '198.51.100.1' } });
    expect(basic.status).toBe(401);
  });

  it('answers 401 to a revoked token', async () => {
    const created = await s.api('POST', '/api/tokens', { body: { name: 'short-lived', role: 'viewer' } });
    expect((await s.api('GET', '/api/rules', { token: created.body.token })).status).toBe(200);
    expect((await s.api('DELETE', `/api/tokens/${created.body.id}`)).status).toBe(204);
    const r = await s.api('GET', '/api/rules', { token: created.body.token, headers: { 'x-forwarded-for': '198.51.100.2' } });
    expect(r.status).toBe(401);
    expect(r.body.error).toMatch(/revoked/);
  });

  it('limits failed attempts per address: the 11th within a minute gets 429 with Retry-After, other addresses are not affected', async () => {
    const from = { 'x-forwarded-for': '203.0.113.7' };
    for (let i = 0; i < 10; i++) expect((await s.api('GET', '/api/rules', { token: `tko_guess${i}`, headers: from })).status).toBe(401);
    const blocked = await s.api('GET', '/api/rules', { token: 'tko_guess10', headers: from });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error).toMatch(/too many failed authentications from this address .*retry in \d+ s with a valid token/);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(blocked.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect((await s.api('GET', '/api/rules', { token: 'tko_guess11', headers: { 'x-forwarded-for': '203.0.113.8' } })).status).toBe(401);
  });

  it('serves a valid token from an address with many failed tokens (supervisors behind one office proxy), while the failing credential gets 429', async () => {
    const office = { 'x-forwarded-for': '203.0.113.50' };
    // A colleague's script with a stale token, and someone guessing, from the office's one address.
    for (let i = 0; i < 50; i++) await s.api('GET', '/api/calls', { token: `tko_stale${i % 3}`, headers: office });
    const failing = await s.api('GET', '/api/calls', { token: 'tko_stale0', headers: office });
    expect(failing.status).toBe(429);
    expect(Number(failing.headers.get('retry-after'))).toBeGreaterThan(0);
    for (const role of ['viewer', 'supervisor', 'admin'] as const) {
      const served = await s.api('GET', '/api/me', { as: role, headers: office });
      expect(served.status).toBe(200);
      expect(served.body.role).toBe(role);
    }
    // A change goes through too, and the guessing goes on being refused.
    expect((await s.api('POST', '/api/rules', { as: 'admin', headers: office, body: { ...rule, id: 'office-bye' } })).status).toBe(201);
    expect((await s.api('GET', '/api/rules', { token: 'tko_stale1', headers: office })).status).toBe(429);
  });

  it('marks a token as used', async () => {
    await s.api('GET', '/api/rules', { as: 'viewer' });
    const { body } = await s.api('GET', '/api/tokens');
    const viewer = body.tokens.find((t: { name: string }) => t.name === 'viewer-sam');
    expect(viewer.lastUsedAt).toBeGreaterThan(Date.now() - 60_000);
  });
});

describe('roles', () => {
  it('tells each token who it is, and nobody without one', async () => {
    for (const role of ['viewer', 'supervisor', 'admin'] as const) {
      const me = await s.api('GET', '/api/me', { as: role });
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ id: expect.any(String), name: `${role}-sam`, role });
    }
    expect((await s.api('GET', '/api/me', { as: null })).status).toBe(401);
  });

  it('lets a viewer read but not change a rule (403 naming the role needed)', async () => {
    expect((await s.api('GET', '/api/rules', { as: 'viewer' })).status).toBe(200);
    const r = await s.api('POST', '/api/rules', { as: 'viewer', body: rule });
    expect(r.status).toBe(403);
    expect(r.body.error).toMatch(/needs the admin role; token "viewer-sam" has viewer/);
    expect((await s.api('GET', '/api/rules/polite-bye', { as: 'viewer' })).status).toBe(404);
  });

  it('keeps rules and tokens from a supervisor, and calls from a viewer', async () => {
    expect((await s.api('POST', '/api/rules', { as: 'supervisor', body: rule })).status).toBe(403);
    expect((await s.api('GET', '/api/tokens', { as: 'supervisor' })).status).toBe(403);
    expect((await s.api('POST', '/api/tokens', { as: 'supervisor', body: { name: 'x', role: 'admin' } })).status).toBe(403);
    const callSid = 'CA' + '0'.repeat(32);
    expect((await s.api('POST', `/api/calls/${callSid}/takeover`, { as: 'viewer', body: {} })).status).toBe(403);
    // A supervisor passes the role check and learns the call is not live.
    expect((await s.api('POST', `/api/calls/${callSid}/takeover`, { as: 'supervisor', body: {} })).status).toBe(404);
  });

  it('lets a viewer use the dry run (it changes nothing)', async () => {
    const r = await s.api('POST', '/api/rules/dry-run', { as: 'viewer', body: { transcript: [{ track: 'inbound', text: 'hello' }] } });
    expect(r.status).toBe(200);
  });

  it('answers 404 for an unknown path under /api once authenticated', async () => {
    const r = await s.api('GET', '/api/nothing-here', { as: 'viewer' });
    expect(r.status).toBe(404);
    expect(r.body.error).toMatch(/no route GET \/api\/nothing-here/);
    expect((await s.api('POST', '/api/nothing-here', { as: 'viewer', body: {} })).status).toBe(404);
  });
});

describe('audit of changes', () => {
  it('writes every change with its actor, including refused ones, and never a token secret', async () => {
    const created = await s.api('POST', '/api/rules', { as: 'admin', body: { ...rule, id: 'audited-rule' } });
    expect(created.status).toBe(201);
    await s.api('DELETE', '/api/rules/audited-rule', { as: 'viewer' });
    const token = await s.api('POST', '/api/tokens', { body: { name: 'carol', role: 'supervisor' } });

    const entries = await s.store.queryAudit({ callSid: '', kind: 'supervisor' });
    const ruleCreated = entries.find((e) => e.data.change === 'created rule "audited-rule"');
    expect(ruleCreated).toMatchObject({ actor: 'supervisor:admin-sam', callSid: '', data: { request: 'POST /api/rules', status: 201, version: expect.any(Number) } });
    expect(entries.find((e) => e.data.request === 'DELETE /api/rules/:id' && e.data.status === 403)).toMatchObject({ actor: 'supervisor:viewer-sam' });
    expect(entries.find((e) => e.data.change === 'created token "carol" (supervisor)')).toBeDefined();
    expect(JSON.stringify(entries)).not.toContain(token.body.token);

    // The same entries through the API.
    const viaApi = await s.api('GET', '/api/audit?callSid=&kind=supervisor&limit=500', { as: 'viewer' });
    expect(viaApi.status).toBe(200);
    expect(viaApi.body.entries.some((e: { data: { change?: string } }) => e.data.change === 'created rule "audited-rule"')).toBe(true);
  });

  it('does not audit reads or the dry run', async () => {
    const before = (await s.store.queryAudit({ kind: 'supervisor', limit: 1000 })).length;
    await s.api('GET', '/api/rules', { as: 'viewer' });
    await s.api('POST', '/api/rules/dry-run', { as: 'viewer', body: { transcript: [{ track: 'inbound', text: 'hi' }] } });
    expect((await s.store.queryAudit({ kind: 'supervisor', limit: 1000 })).length).toBe(before);
  });
});

describe('without a trusted proxy', () => {
  it('does not let a client dodge the failure limit by forging X-Forwarded-For', async () => {
    const direct = await startApiStack();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const r = await direct.api('GET', '/api/rules', { token: 'tko_wrong', headers: { 'x-forwarded-for': `198.51.100.${i + 10}` } });
        statuses.push(r.status);
      }
      expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
      expect(statuses.slice(10)).toEqual([429, 429]);
    } finally {
      await direct.close();
    }
  });
});
