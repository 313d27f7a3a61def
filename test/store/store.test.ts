// One suite, three stores: every case runs against MemoryStore, SQLite (a temp file) and PostgreSQL.
// PostgreSQL runs whenever TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) answers,
// and must answer when CI is set. Each run keeps its tables in a schema of its own and drops it after.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rule } from '../../src/rules/schema.js';
import { parseRule } from '../../src/rules/schema.js';
import { now } from '../../src/clock.js';
import { RuleBook } from '../../src/rules/rule-book.js';
import { createStore, MemoryStore, RuleSetConflictError, type Store } from '../../src/store/index.js';
import { IN_CI, PG_URL, postgresAnswers } from './postgres.js';
import { asCallData, asStored, byTime, canonical, captureServiceWrites, replay, type ServiceWrite } from './service-writes.js';

const pgReachable = await postgresAnswers(PG_URL);
const schema = `takeover_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const sqliteDir = mkdtempSync(join(tmpdir(), 'takeover-store-'));

interface Backend {
  name: string;
  open(): Promise<Store>;
  skip?: boolean;
}

const backends: Backend[] = [
  { name: 'memory', open: async () => new MemoryStore() },
  { name: 'sqlite', open: () => createStore({ sqlitePath: join(sqliteDir, `t-${Math.random().toString(36).slice(2)}.db`) }) },
  {
    name: 'postgres',
    // In CI an unreachable server fails the run (below) instead of skipping it.
    skip: !pgReachable && !IN_CI,
    open: async () => {
      // Each store gets its own schema so that cases start empty and parallel runs never meet.
      const own = `${schema}_${Math.random().toString(36).slice(2, 8)}`;
      pgSchemas.push(own);
      return createStore({ databaseUrl: PG_URL, sqlitePath: 'unused', postgresSchema: own });
    },
  },
];
const pgSchemas: string[] = [];

afterAll(async () => {
  rmSync(sqliteDir, { recursive: true, force: true });
  if (pgSchemas.length === 0 || !pgReachable) return;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const s of pgSchemas) await client.query(`drop schema if exists "${s}" cascade`);
  await client.end();
});

it('PostgreSQL is reachable when CI is set', () => {
  if (IN_CI) expect(pgReachable, `no PostgreSQL at TEST_DATABASE_URL=${PG_URL}; CI needs one`).toBe(true);
});

const rule = (id: string, extra: Partial<Rule> = {}): Rule =>
  parseRule({ id, when: { type: 'wants_human' }, action: { type: 'handoff', to: { queue: 'support' } }, ...extra });

// The service's own clock (src/clock.ts): fractional milliseconds, as every time the service stores.
const T0 = now();

// Two real calls (a handoff and a privacy pause) through the whole pipeline: what the service writes, in its order.
const serviceWrites: ServiceWrite[] = await captureServiceWrites();
const serviceCalls = [...new Set(serviceWrites.map((w) => (w.op === 'saveCall' ? w.call.callSid : w.op === 'appendTranscript' ? w.line.callSid : w.entry.callSid)))];
const written = {
  lines: (callSid: string) => byTime(serviceWrites.flatMap((w) => (w.op === 'appendTranscript' && w.line.callSid === callSid ? [w.line] : []))),
  audit: (callSid: string) => byTime(serviceWrites.flatMap((w) => (w.op === 'appendAudit' && w.entry.callSid === callSid ? [w.entry] : []))),
  lastCall: (callSid: string) => serviceWrites.flatMap((w) => (w.op === 'saveCall' && w.call.callSid === callSid ? [w.call] : [])).at(-1),
};
const defaultRules = (await RuleBook.fromFile('rules/default.json', { HANDOFF_QUEUE: 'support' })).rules;

it('the captured calls carry what the store must keep: fractional times, decisions, actions, a paused gate', () => {
  expect(serviceCalls).toHaveLength(2);
  expect(serviceWrites.some((w) => w.op === 'appendTranscript' && !Number.isInteger(w.line.at))).toBe(true);
  const kinds = new Set(serviceWrites.flatMap((w) => (w.op === 'appendAudit' ? [w.entry.kind] : [])));
  for (const kind of ['call', 'assessment', 'decision', 'attempt', 'outcome', 'gate']) expect(kinds).toContain(kind);
});

describe.each(backends)('$name store', (backend) => {
  let store: Store;
  beforeAll(async () => {
    if (backend.name === 'postgres' && IN_CI && !pgReachable) throw new Error(`no PostgreSQL at ${PG_URL}; CI needs one`);
  });
  const open = async () => {
    store = await backend.open();
    return store;
  };
  const run = backend.skip ? it.skip : it;

  describe('calls, transcripts and audit', () => {
    run('saves a call, updates it in place, and lists calls newest first', async () => {
      await open();
      await store.saveCall({ callSid: 'CA1', from: '+15550100001', to: '+15550100099', customParameters: { tier: 'gold' }, startedAt: T0, status: 'monitoring' });
      await store.saveCall({ callSid: 'CA2', customParameters: {}, startedAt: T0 + 1000, status: 'monitoring' });
      await store.saveCall({ callSid: 'CA1', from: '+15550100001', to: '+15550100099', customParameters: { tier: 'gold' }, startedAt: T0, endedAt: T0 + 5000, status: 'handed_off' });

      expect(await store.getCall('CA1')).toEqual({
        callSid: 'CA1', from: '+15550100001', to: '+15550100099', customParameters: { tier: 'gold' }, startedAt: T0, endedAt: T0 + 5000, status: 'handed_off',
      });
      expect(await store.getCall('CA2')).toEqual({ callSid: 'CA2', customParameters: {}, startedAt: T0 + 1000, status: 'monitoring' });
      expect(await store.getCall('CAnone')).toBeUndefined();
      expect((await store.listCalls()).map((c) => c.callSid)).toEqual(['CA2', 'CA1']);
      expect((await store.listCalls({ limit: 1 })).map((c) => c.callSid)).toEqual(['CA2']);
      expect((await store.listCalls({ before: T0 + 1000 })).map((c) => c.callSid)).toEqual(['CA1']);
      await store.close();
    });

    run('keeps the last of many saves fired without waiting (the monitor does that)', async () => {
      await open();
      const states = ['monitoring', 'paused', 'monitoring', 'handed_off', 'ended'] as const;
      await Promise.all(states.map((status, i) => store.saveCall({ callSid: 'CA3', customParameters: {}, startedAt: T0, endedAt: i === 4 ? T0 + 9 : undefined, status })));
      expect((await store.getCall('CA3'))?.status).toBe('ended');
      await store.close();
    });

    run('returns a call\'s transcript and audit trail oldest first', async () => {
      await open();
      await store.appendTranscript({ callSid: 'CA1', at: T0 + 2, track: 'inbound', text: 'my card is [card]' });
      await store.appendTranscript({ callSid: 'CA1', at: T0 + 1, track: 'outbound', text: 'How can I help?' });
      await store.appendTranscript({ callSid: 'CA2', at: T0, track: 'inbound', text: 'other call' });
      expect(await store.transcript('CA1')).toEqual([
        { callSid: 'CA1', at: T0 + 1, track: 'outbound', text: 'How can I help?' },
        { callSid: 'CA1', at: T0 + 2, track: 'inbound', text: 'my card is [card]' },
      ]);

      await store.appendAudit({ at: T0 + 5, callSid: 'CA1', kind: 'decision', actor: 'rule:x', decisionId: 'CA1:x:1', data: { reason: 'asked', nested: { n: 1 } } });
      await store.appendAudit({ at: T0 + 3, callSid: 'CA1', kind: 'call', actor: 'twilio', data: { event: 'started' } });
      const trail = await store.audit('CA1');
      expect(trail.map((e) => e.kind)).toEqual(['call', 'decision']);
      expect(trail[1]).toEqual({ at: T0 + 5, callSid: 'CA1', kind: 'decision', actor: 'rule:x', decisionId: 'CA1:x:1', data: { reason: 'asked', nested: { n: 1 } } });
      expect(trail[0]).not.toHaveProperty('decisionId');
      await store.close();
    });

    run('queries the audit trail by call, kind, actor and time, newest first', async () => {
      await open();
      await store.appendAudit({ at: T0, callSid: '', kind: 'supervisor', actor: 'supervisor:alice', data: { route: 'POST /api/rules' } });
      await store.appendAudit({ at: T0 + 10, callSid: 'CA1', kind: 'supervisor', actor: 'supervisor:bob', data: { route: 'POST /api/calls/:callSid/takeover' } });
      await store.appendAudit({ at: T0 + 20, callSid: '', kind: 'supervisor', actor: 'supervisor:alice', data: { route: 'DELETE /api/tokens/:id' } });
      await store.appendAudit({ at: T0 + 20, callSid: 'CA1', kind: 'gate', actor: 'system', data: {} });

      const notTied = await store.queryAudit({ callSid: '' });
      expect(notTied.map((e) => e.data.route)).toEqual(['DELETE /api/tokens/:id', 'POST /api/rules']);
      expect((await store.queryAudit({ kind: 'supervisor' })).map((e) => e.at)).toEqual([T0 + 20, T0 + 10, T0]);
      expect((await store.queryAudit({ actor: 'supervisor:bob' })).map((e) => e.callSid)).toEqual(['CA1']);
      expect((await store.queryAudit({ since: T0 + 10, before: T0 + 20 })).map((e) => e.at)).toEqual([T0 + 10]);
      // Same millisecond: the later write comes first.
      expect((await store.queryAudit({ limit: 2 })).map((e) => e.kind)).toEqual(['gate', 'supervisor']);
      await store.close();
    });
  });

  describe('as the running service writes', () => {
    run('keeps two real calls exactly: fractional times, transcripts and audit trails in order, the last call state', async () => {
      await open();
      for (const w of serviceWrites) await replay(store, w);
      for (const callSid of serviceCalls) {
        expect(asStored(await store.transcript(callSid))).toEqual(asStored(written.lines(callSid)));
        expect(asStored(await store.audit(callSid))).toEqual(asStored(written.audit(callSid)));
        expect(asStored(await store.getCall(callSid))).toEqual(asStored(written.lastCall(callSid)));
      }
      const all = await store.queryAudit({ since: serviceWrites.find((w) => w.op === 'appendAudit')!.entry.at, limit: 1000 });
      expect(all).toHaveLength(serviceWrites.filter((w) => w.op === 'appendAudit').length);
      await store.close();
    });

    run('keeps them when they are fired without waiting, as the monitor fires them', async () => {
      await open();
      await Promise.all(serviceWrites.map((w) => replay(store, w)));
      // Entries of the same millisecond may land in any order when inserts interleave: compare them as sets.
      const sorted = <T>(list: T[]) => list.map(canonical).sort();
      for (const callSid of serviceCalls) {
        // Transcript times are distinct to the fraction: the order holds however the inserts interleave.
        expect(asStored(await store.transcript(callSid))).toEqual(asStored(written.lines(callSid)));
        expect(sorted(asStored(await store.audit(callSid)))).toEqual(sorted(asStored(written.audit(callSid))));
        expect(asStored(await store.getCall(callSid))).toEqual(asStored(written.lastCall(callSid)));
      }
      await store.close();
    });

    run('takes them all in one transaction (SQL stores), and the same batch again adds nothing', async () => {
      await open();
      if (!store.writeAll) return void (await store.close());
      const withIds = serviceWrites.map((w, i) =>
        w.op === 'appendAudit' ? { ...w, entry: { ...w.entry, id: `e${i}` } } : w.op === 'appendTranscript' ? { ...w, line: { ...w.line, id: `l${i}` } } : w,
      );
      await store.writeAll(withIds.map(asCallData));
      await store.writeAll(withIds.map(asCallData));
      const ids = (list: { id?: string }[]) => list.map(({ id: _id, ...rest }) => rest);
      for (const callSid of serviceCalls) {
        expect(asStored(ids(await store.transcript(callSid)))).toEqual(asStored(written.lines(callSid)));
        expect(asStored(ids(await store.audit(callSid)))).toEqual(asStored(written.audit(callSid)));
        expect(asStored(await store.getCall(callSid))).toEqual(asStored(written.lastCall(callSid)));
      }
      await store.close();
    });

    run('stores a line or an entry written twice with the same id once', async () => {
      await open();
      const line = { id: 'line-1', callSid: 'CA1', at: now(), track: 'inbound' as const, text: 'I want a refund' };
      const entry = { ...written.audit(serviceCalls[0]!)[0]!, id: 'entry-1', callSid: 'CA1' };
      await store.appendTranscript(line);
      await store.appendTranscript(line);
      await store.appendAudit(entry);
      await store.appendAudit(entry);
      expect(await store.transcript('CA1')).toEqual([line]);
      expect(asStored(await store.audit('CA1'))).toEqual([asStored(entry)]);
      await store.close();
    });

    run('keeps the shipped rules file as a version, at the time it was saved', async () => {
      await open();
      const at = now();
      const saved = await store.saveRuleSet({ actor: 'system', change: 'seeded from rules/default.json', rules: [...defaultRules], at, basedOn: 0 });
      expect(await store.currentRuleSet()).toEqual(saved);
      expect(saved.at).toBe(at);
      // Without a time the store takes its own.
      expect((await store.saveRuleSet({ actor: 'system', change: 'again', rules: [...defaultRules] })).version).toBe(2);
      await store.close();
    });
  });

  describe('rule sets', () => {
    run('starts without a rule set, then keeps every version', async () => {
      await open();
      expect(await store.currentRuleSet()).toBeUndefined();
      expect(await store.listRuleSetVersions()).toEqual([]);

      const v1 = await store.saveRuleSet({ actor: 'system', change: 'seeded from rules/default.json', rules: [rule('a')], at: T0 });
      const v2 = await store.saveRuleSet({ actor: 'supervisor:alice', change: 'created rule "b"', rules: [rule('a'), rule('b', { priority: 5 })], at: T0 + 1, basedOn: 1 });
      expect(v1.version).toBe(1);
      expect(v2.version).toBe(2);
      expect(await store.currentRuleSet()).toEqual(v2);
      expect((await store.ruleSetVersion(1))?.rules).toEqual([rule('a')]);
      expect(await store.ruleSetVersion(9)).toBeUndefined();
      expect(await store.listRuleSetVersions()).toEqual([
        { version: 2, actor: 'supervisor:alice', at: T0 + 1, change: 'created rule "b"' },
        { version: 1, actor: 'system', at: T0, change: 'seeded from rules/default.json' },
      ]);
      expect(await store.listRuleSetVersions({ limit: 1 })).toHaveLength(1);
      await store.close();
    });

    run('refuses a change made from a version that is no longer current', async () => {
      await open();
      await store.saveRuleSet({ actor: 'system', change: 'seed', rules: [] });
      await store.saveRuleSet({ actor: 'supervisor:alice', change: 'first', rules: [rule('a')], basedOn: 1 });
      await expect(store.saveRuleSet({ actor: 'supervisor:bob', change: 'second', rules: [rule('b')], basedOn: 1 })).rejects.toBeInstanceOf(RuleSetConflictError);
      expect((await store.currentRuleSet())?.rules.map((r) => r.id)).toEqual(['a']);
      await store.close();
    });

    run('gives concurrent changes without a base distinct versions', async () => {
      await open();
      const saved = await Promise.all([1, 2, 3, 4].map((n) => store.saveRuleSet({ actor: 'system', change: `change ${n}`, rules: [] })));
      expect(saved.map((v) => v.version).sort()).toEqual([1, 2, 3, 4]);
      await store.close();
    });
  });

  describe('tokens', () => {
    run('finds a token by its hash, lists it without the hash, marks use and revocation', async () => {
      await open();
      await store.createToken({ id: 'tok1', name: 'alice', role: 'admin', hash: 'a'.repeat(64), createdAt: T0 });
      await store.createToken({ id: 'tok2', name: 'bob', role: 'viewer', hash: 'b'.repeat(64), createdAt: T0 + 1 });

      expect(await store.findTokenByHash('a'.repeat(64))).toEqual({ id: 'tok1', name: 'alice', role: 'admin', hash: 'a'.repeat(64), createdAt: T0 });
      expect(await store.findTokenByHash('c'.repeat(64))).toBeUndefined();

      await store.touchToken('tok1', T0 + 50);
      expect(await store.revokeToken('tok2', T0 + 60)).toBe(true);
      expect(await store.revokeToken('tok2', T0 + 70)).toBe(true);
      expect(await store.revokeToken('nope', T0)).toBe(false);

      const listed = await store.listTokens();
      expect(listed).toEqual([
        { id: 'tok1', name: 'alice', role: 'admin', createdAt: T0, lastUsedAt: T0 + 50 },
        { id: 'tok2', name: 'bob', role: 'viewer', createdAt: T0 + 1, revokedAt: T0 + 60 },
      ]);
      expect(JSON.stringify(listed)).not.toContain('aaaa');
      await store.close();
    });

    run('refuses a second token with the same hash', async () => {
      await open();
      await store.createToken({ id: 'tok1', name: 'alice', role: 'admin', hash: 'd'.repeat(64), createdAt: T0 });
      // The memory store checks ids; SQL stores also keep hashes unique.
      await expect(store.createToken({ id: 'tok1', name: 'again', role: 'admin', hash: 'e'.repeat(64), createdAt: T0 })).rejects.toThrow();
      await store.close();
    });
  });

  describe('retention', () => {
    run('purges calls, transcript lines and call audit entries older than the cut-off, and nothing newer', async () => {
      await open();
      const cut = T0 + 1000;
      await store.saveCall({ callSid: 'CAold', customParameters: {}, startedAt: T0, endedAt: T0 + 500, status: 'ended' });
      await store.saveCall({ callSid: 'CAlong', customParameters: {}, startedAt: T0, endedAt: cut + 500, status: 'ended' });
      await store.saveCall({ callSid: 'CAstale', customParameters: {}, startedAt: T0, status: 'monitoring' });
      await store.saveCall({ callSid: 'CAnew', customParameters: {}, startedAt: cut + 1, status: 'monitoring' });
      await store.appendTranscript({ callSid: 'CAold', at: T0 + 1, track: 'inbound', text: 'old' });
      await store.appendTranscript({ callSid: 'CAnew', at: cut + 2, track: 'inbound', text: 'new' });
      await store.appendAudit({ at: T0 + 1, callSid: 'CAold', kind: 'call', actor: 'twilio', data: {} });
      await store.appendAudit({ at: T0 + 2, callSid: 'CAold', kind: 'assessment', actor: 'classifier:local', data: { frustration: 0.9 } });
      await store.appendAudit({ at: T0 + 3, callSid: 'CAold', kind: 'decision', actor: 'rule:x', decisionId: 'CAold:x:1', data: {} });
      // A supervisor's action on a call is that call's data.
      await store.appendAudit({ at: T0 + 4, callSid: 'CAold', kind: 'supervisor', actor: 'supervisor:bob', data: { request: 'POST /api/calls/:callSid/takeover' } });
      // The change audit, tied to no call: who changed a rule or a token, however old.
      await store.appendAudit({ at: T0 + 5, callSid: '', kind: 'supervisor', actor: 'supervisor:alice', data: { change: 'created rule "x"' } });
      await store.appendAudit({ at: T0 + 6, callSid: '', kind: 'supervisor', actor: 'cli', data: { change: 'revoked token tok_1' } });
      await store.appendAudit({ at: cut, callSid: 'CAnew', kind: 'call', actor: 'twilio', data: {} });
      await store.saveRuleSet({ actor: 'system', change: 'seed', rules: [], at: T0 });
      await store.createToken({ id: 'tok_1', name: 'old-token', role: 'viewer', hash: 'f'.repeat(64), createdAt: T0, revokedAt: T0 + 6 });

      expect(await store.purgeBefore(cut)).toEqual({ calls: 2, transcriptLines: 1, auditEntries: 4 });
      expect((await store.listCalls()).map((c) => c.callSid).sort()).toEqual(['CAlong', 'CAnew']);
      expect(await store.transcript('CAold')).toEqual([]);
      expect(await store.transcript('CAnew')).toHaveLength(1);
      expect(await store.audit('CAold')).toEqual([]);
      expect((await store.queryAudit()).map((e) => [e.callSid, e.data.change ?? e.kind])).toEqual([
        ['CAnew', 'call'],
        ['', 'revoked token tok_1'],
        ['', 'created rule "x"'],
      ]);
      // Rule history and tokens are configuration, not call data: retention leaves them alone.
      expect(await store.currentRuleSet()).toBeDefined();
      expect((await store.listTokens()).map((t) => t.id)).toEqual(['tok_1']);
      // A second purge finds nothing more: the change audit is never counted as purged.
      expect(await store.purgeBefore(cut)).toEqual({ calls: 0, transcriptLines: 0, auditEntries: 0 });
      await store.close();
    });
  });
});

describe('sqlite file', () => {
  it('creates its folder and keeps data across a restart', async () => {
    const path = join(sqliteDir, 'nested', 'deeper', 'takeover.db');
    const first = await createStore({ sqlitePath: path });
    await first.saveRuleSet({ actor: 'system', change: 'seed', rules: [rule('kept')] });
    await first.close();
    const second = await createStore({ sqlitePath: path });
    expect((await second.currentRuleSet())?.rules.map((r) => r.id)).toEqual(['kept']);
    await second.close();
  });

  it('says which setting to fix when the file cannot be opened', async () => {
    const aFile = join(sqliteDir, 'plain-file');
    writeFileSync(aFile, '');
    await expect(createStore({ sqlitePath: join(aFile, 'takeover.db') })).rejects.toThrow(/^SQLITE_PATH=.*plain-file\/takeover\.db: cannot open/);
  });
});

describe('postgres connection', () => {
  it('names DATABASE_URL without its password when the server does not answer', async () => {
    await expect(
      createStore({ databaseUrl: 'postgres://user:secret@127.0.0.1:1/nothing', sqlitePath: 'unused', postgresSchema: 'x' }),
    ).rejects.toThrow(/DATABASE_URL=postgres:\/\/user:\*\*\*@127\.0\.0\.1:1\/nothing.*cannot reach/);
  });
});
