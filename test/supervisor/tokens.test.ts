// Tokens through the API and the CLI: the secret is shown once and stored only as its SHA-256;
// a revoked token stops working at once.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.js';
import { hashSecret } from '../../src/supervisor/tokens.js';
import { startApiStack, type ApiStack } from './api-stack.js';

let s: ApiStack;
beforeAll(async () => {
  s = await startApiStack();
});
afterAll(async () => {
  await s.close();
});

describe('tokens through the API', () => {
  it('creates a token whose secret works, is shown once and is stored only hashed', async () => {
    const created = await s.api('POST', '/api/tokens', { body: { name: 'dana', role: 'supervisor' } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.stringMatching(/^tok_/), name: 'dana', role: 'supervisor', token: expect.stringMatching(/^tko_[\w-]{43}$/) });

    const listed = await s.api('GET', '/api/tokens');
    const dana = listed.body.tokens.find((t: { id: string }) => t.id === created.body.id);
    expect(dana).toEqual({ id: created.body.id, name: 'dana', role: 'supervisor', createdAt: expect.any(Number), lastUsedAt: null, revokedAt: null });
    expect(JSON.stringify(listed.body)).not.toContain(created.body.token);

    const stored = await s.store.findTokenByHash(hashSecret(created.body.token));
    expect(stored?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(created.body.token);

    expect((await s.api('GET', '/api/calls', { token: created.body.token })).status).toBe(200);
  });

  it('revokes a token: 204, then the token gets 401 and the list shows when', async () => {
    const { body } = await s.api('POST', '/api/tokens', { body: { name: 'erin', role: 'viewer' } });
    expect((await s.api('DELETE', `/api/tokens/${body.id}`)).status).toBe(204);
    expect((await s.api('GET', '/api/rules', { token: body.token })).status).toBe(401);
    const listed = await s.api('GET', '/api/tokens');
    expect(listed.body.tokens.find((t: { id: string }) => t.id === body.id).revokedAt).toEqual(expect.any(Number));
    expect((await s.api('DELETE', '/api/tokens/tok_unknown')).status).toBe(404);
  });

  it('refuses a bad name or role, naming the field', async () => {
    const role = await s.api('POST', '/api/tokens', { body: { name: 'frank', role: 'owner' } });
    expect(role.status).toBe(400);
    expect(role.body.issues[0].path).toBe('role');
    const name = await s.api('POST', '/api/tokens', { body: { name: '<script>', role: 'viewer' } });
    expect(name.body.issues[0].path).toBe('name');
  });
});

describe('npm run token', () => {
  const dir = mkdtempSync(join(tmpdir(), 'takeover-cli-'));
  const env = { ...process.env, SQLITE_PATH: join(dir, 'cli.db'), DATABASE_URL: '' };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (...args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/token.ts', ...args], { env, cwd: process.cwd() });

  it('creates a token (printing the secret once), lists it and revokes it, in the service\'s store', async () => {
    const created = await run('create', '--name', 'alice', '--role', 'admin');
    const secret = /^(tko_\S+)$/m.exec(created.stdout)?.[1];
    const id = /\(id (tok_\w+)\)/.exec(created.stdout)?.[1];
    expect(secret).toBeDefined();

    const listed = await run('list');
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+admin\\s+alice`));
    expect(listed.stdout).not.toContain(secret!);

    const store = await createStore({ sqlitePath: env.SQLITE_PATH });
    expect((await store.findTokenByHash(hashSecret(secret!)))?.name).toBe('alice');
    await store.close();

    expect((await run('revoke', id!)).stdout).toMatch(/revoked/);
    const after = await createStore({ sqlitePath: env.SQLITE_PATH });
    expect((await after.listTokens())[0]?.revokedAt).toEqual(expect.any(Number));
    expect((await after.queryAudit({ actor: 'cli' })).map((e) => e.data.change)).toEqual([`revoked token ${id}`, 'created token "alice" (admin)']);
    await after.close();
    await expect(run('create', '--name', 'bob')).rejects.toMatchObject({ code: 2 });
  });
});
