// The write queue in front of the store (src/store/queued-store.ts), on real PostgreSQL behind a TCP proxy that
// the tests cut: calls on the Twilio emulator through a 10 s outage, a restart with writes still queued on disk,
// a write whose answer was lost, a full queue, a write the database refuses. Nothing of the audit trail may be
// lost or stored twice, and no log line may carry what a caller said.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildService } from '../../src/app.js';
import { now } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import { createStore, QueuedStore, type AuditEntry, type Store } from '../../src/store/index.js';
import { safeError } from '../../src/store/queued-store.js';
import { WriteQueueFile, type PendingWrite } from '../../src/store/write-queue.js';
import { eventually } from '../support/twilio-client.js';
import { dropSchemas, IN_CI, newSchema, PG_URL, postgresAnswers, query } from './postgres.js';
import { asStored, byTime, captureServiceWrites, replay, type ServiceWrite } from './service-writes.js';
import { TcpProxy } from './tcp-proxy.js';

const pgReachable = await postgresAnswers();
const run = pgReachable || IN_CI ? it : it.skip;
const dirs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (pgReachable) await dropSchemas();
});

it('PostgreSQL is reachable when CI is set', () => {
  if (IN_CI) expect(pgReachable, `no PostgreSQL at TEST_DATABASE_URL=${PG_URL}; CI needs one`).toBe(true);
});

/** Log lines, as JSON text, to look for caller words in. */
function collectingLog() {
  const lines: string[] = [];
  const put = (level: string) => (obj: unknown, msg?: string) => void lines.push(JSON.stringify({ level, obj, msg }));
  return { lines, log: { error: put('error'), warn: put('warn'), info: put('info') } };
}

/** PostgreSQL through a proxy the test controls, in a schema of its own, with a write queue in a temp folder. */
async function queuedPostgres(options: { dir?: string; proxy?: TcpProxy; schema?: string; maxEntries?: number; writeTimeoutMs?: number } = {}) {
  const target = new URL(PG_URL);
  const proxy = options.proxy ?? (await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) }));
  const schema = options.schema ?? newSchema();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'takeover-queue-'));
  if (!options.dir) dirs.push(dir);
  const inner = await createStore({ databaseUrl: proxy.via(PG_URL), sqlitePath: 'unused', postgresSchema: schema, onError: () => undefined });
  const { lines, log } = collectingLog();
  const store = QueuedStore.open(inner, {
    dir,
    maxEntries: options.maxEntries ?? 10_000,
    log,
    retry: { initialMs: 50, maxMs: 500 },
    ...(options.writeTimeoutMs ? { writeTimeoutMs: options.writeTimeoutMs } : {}),
  });
  return { proxy, schema, dir, store, logLines: lines };
}

/** The store as the service sees it, noting every write of call data in the order the service made it. */
function noting(store: QueuedStore): { store: Store; made: (ServiceWrite & { madeAt: number })[] } {
  const made: (ServiceWrite & { madeAt: number })[] = [];
  const note = { saveCall: 'call', appendTranscript: 'line', appendAudit: 'entry' } as const;
  const wrapped = new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const field = note[prop as keyof typeof note];
      return (arg: never, ...rest: never[]) => {
        if (field) made.push({ op: prop, [field]: structuredClone(arg), madeAt: Date.now() } as never);
        return (value as (...a: unknown[]) => unknown).call(target, arg, ...rest);
      };
    },
  });
  return { store: wrapped, made };
}

const withoutId = <T extends { id?: string }>(list: T[]): Omit<T, 'id'>[] => list.map(({ id: _id, ...rest }) => rest);

describe('a PostgreSQL outage during live calls', () => {
  run(
    'keeps every audit entry, transcript line and call record, each once and in order; /readyz says not ready meanwhile',
    async () => {
      const { proxy, store: queued, logLines } = await queuedPostgres();
      const { store, made } = noting(queued);
      const scenarios = new Map((await loadScenarios()).map((s) => [s.name, s]));
      const stack: LocalStack = await startLocalStack({ speed: 3, env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' }, parts: { store } });
      cleanups.push(() => proxy.close(), () => stack.close());
      const get = async (path: string) => {
        const res = await fetch(`${stack.serviceUrl}${path}`);
        return { status: res.status, text: await res.text() };
      };
      expect((await get('/readyz')).status).toBe(200);

      const calls = ['frustrated-caller', 'reads-card-number', 'asks-for-human', 'calm-caller'].map((n) => stack.emulator.placeCall(scenarios.get(n)!));
      // The outage starts once the calls are talking: their first lines are in the database.
      await eventually(() => made.some((w) => w.op === 'appendTranscript') && queued.health().waiting === 0, 10_000, 'a first stored line');
      const cutAt = Date.now();
      proxy.cut();
      const readyDuring = await eventually(async () => {
        const r = await get('/readyz');
        return r.status === 503 ? r : undefined;
      }, 5000, '/readyz to say not ready');
      expect(JSON.parse(readyDuring.text)).toMatchObject({ ready: false, store: { ready: false, waiting: expect.any(Number) } });
      // Liveness is unchanged: the process is fine, only its database is not.
      expect((await get('/health')).status).toBe(200);
      // PostgreSQL stays unreachable for 10 s while the callers go on talking.
      await new Promise((r) => setTimeout(r, 10_000));
      const metricsDuring = (await get('/metrics')).text;
      const restoredAt = Date.now();
      proxy.restore();

      await Promise.all(calls.map((c) => c.done));
      await stack.service.monitor.settle();
      await eventually(() => queued.health().up && queued.health().waiting === 0, 20_000, 'the queue to drain');
      expect((await get('/readyz')).status).toBe(200);

      const during = made.filter((w) => w.madeAt >= cutAt && w.madeAt < restoredAt);
      expect(during.filter((w) => w.op === 'appendAudit').length).toBeGreaterThan(5);
      expect(metricsDuring).toMatch(/takeover_store_up 0/);
      expect(metricsDuring).toMatch(/takeover_store_writes_waiting [1-9]/);
      expect(proxy.refused).toBeGreaterThan(0);

      for (const call of calls) {
        const entries = byTime(made.flatMap((w) => (w.op === 'appendAudit' && w.entry.callSid === call.sid ? [w.entry] : [])));
        const stored = await queued.audit(call.sid);
        expect(new Set(stored.map((e) => e.id)).size).toBe(stored.length);
        expect(asStored(withoutId(stored))).toEqual(asStored(entries));
        const lines = byTime(made.flatMap((w) => (w.op === 'appendTranscript' && w.line.callSid === call.sid ? [w.line] : [])));
        expect(asStored(withoutId(await queued.transcript(call.sid)))).toEqual(asStored(lines));
        const last = made.flatMap((w) => (w.op === 'saveCall' && w.call.callSid === call.sid ? [w.call] : [])).at(-1);
        expect(asStored(await queued.getCall(call.sid))).toEqual(asStored(last));
      }
      // Decisions made during the outage are among them (the incident lost 8 of 12).
      expect(during.filter((w) => w.op === 'appendAudit' && w.entry.kind === 'decision').length).toBeGreaterThan(0);

      // The store's log lines say what failed, never what a caller said.
      expect(logLines.some((l) => l.includes('store unreachable'))).toBe(true);
      const words = made.flatMap((w) => (w.op === 'appendTranscript' ? [w.line.text] : []));
      for (const text of words) for (const line of logLines) expect(line).not.toContain(text);
    },
    60_000,
  );
});

describe('a restart with writes still queued on disk', () => {
  run('writes them once after start-up, the one whose answer was lost included', async () => {
    const writes = await captureServiceWrites();
    const first = await queuedPostgres({ writeTimeoutMs: 300 });
    const { proxy, schema, dir } = first;
    cleanups.push(() => proxy.close());
    const firstEntry = writes.find((w): w is Extract<ServiceWrite, { op: 'appendAudit' }> => w.op === 'appendAudit')!;

    // The database stores the first entry, but its answer never comes back: the write times out and is queued.
    proxy.swallowReplies();
    await replay(first.store, firstEntry);
    const reached = await query<{ n: string }>(schema, 'select count(*) as n from audit_entries where call_sid = $1', [firstEntry.entry.callSid]);
    expect(Number(reached[0]!.n)).toBe(1);
    expect(first.store.health()).toMatchObject({ up: false, waiting: 1 });

    // Then the database is gone altogether; the service goes on writing, and stops.
    proxy.cut();
    for (const w of writes) if (w !== firstEntry) await replay(first.store, w);
    expect(first.store.health().waiting).toBe(writes.length);
    await first.store.close();
    expect(readFileSync(join(dir, 'writes.jsonl'), 'utf8').trim().split('\n')).toHaveLength(writes.length);

    // A new process starts on the same folder with the database back.
    proxy.restore();
    const second = await queuedPostgres({ dir, proxy, schema });
    cleanups.push(() => second.store.close());
    await eventually(() => second.store.health().waiting === 0, 10_000, 'the queue left by the first run to drain');
    expect(second.logLines.some((l) => l.includes('earlier run left waiting'))).toBe(true);

    const callSids = [...new Set(writes.flatMap((w) => (w.op === 'appendAudit' ? [w.entry.callSid] : [])))];
    for (const callSid of callSids) {
      const entries = byTime(writes.flatMap((w) => (w.op === 'appendAudit' && w.entry.callSid === callSid ? [w.entry] : [])));
      expect(asStored(withoutId(await second.store.audit(callSid)))).toEqual(asStored(entries));
      const lines = byTime(writes.flatMap((w) => (w.op === 'appendTranscript' && w.line.callSid === callSid ? [w.line] : [])));
      expect(asStored(withoutId(await second.store.transcript(callSid)))).toEqual(asStored(lines));
      const last = writes.flatMap((w) => (w.op === 'saveCall' && w.call.callSid === callSid ? [w.call] : [])).at(-1);
      expect(asStored(await second.store.getCall(callSid))).toEqual(asStored(last));
    }
    // And a third start finds nothing left to write.
    expect(readFileSync(join(dir, 'writes.jsonl'), 'utf8')).toBe('');
  }, 30_000);
});

describe('a process killed with writes queued', () => {
  run('leaves them on disk, and the next process writes them once after start-up', async () => {
    const target = new URL(PG_URL);
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
    cleanups.push(() => proxy.close());
    const schema = newSchema();
    const dir = mkdtempSync(join(tmpdir(), 'takeover-queue-'));
    dirs.push(dir);
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/store/fixtures/queue-writer.ts', proxy.via(PG_URL), schema, dir, '20'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    cleanups.push(async () => void child.kill('SIGKILL'));
    const said = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    expect((await said.next()).value).toBe('open');
    proxy.cut();
    child.stdin!.write('write\n');
    expect((await said.next()).value).toBe('written');
    child.kill('SIGKILL');
    await once(child, 'exit');

    proxy.restore();
    const next = await queuedPostgres({ dir, proxy, schema });
    cleanups.push(() => next.store.close());
    await eventually(() => next.store.health().waiting === 0, 10_000, 'the killed process\'s queue to drain');
    expect((await next.store.audit('CAcrash')).map((e) => e.data.n)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  }, 30_000);
});

describe('limits', () => {
  const entry = (n: number): AuditEntry => ({ at: now(), callSid: 'CAlimits', kind: 'call', actor: 'system', data: { n } });

  run('when the queue is full keeps the oldest writes, counts the lost ones and says so', async () => {
    const { proxy, store, logLines } = await queuedPostgres({ maxEntries: 3 });
    cleanups.push(() => store.close(), () => proxy.close());
    proxy.cut();
    for (let n = 1; n <= 5; n++) await store.appendAudit(entry(n));
    expect(store.health()).toMatchObject({ up: false, waiting: 3, dropped: 2 });
    expect(logLines.filter((l) => l.includes('FULL'))).toHaveLength(1);
    proxy.restore();
    await eventually(() => store.health().waiting === 0, 10_000, 'the queue to drain');
    expect((await store.audit('CAlimits')).map((e) => e.data.n)).toEqual([1, 2, 3]);
  });

  run('sets aside a write the database refuses for its content, logs no caller text, and goes on', async () => {
    const { proxy, store, dir, logLines } = await queuedPostgres();
    cleanups.push(() => store.close(), () => proxy.close());
    // PostgreSQL cannot store a NUL character in text; a transcriber could hand one over. Fired without waiting,
    // as the monitor does: the second and third go in one transaction, which fails, then one by one.
    await Promise.all(
      ['hello', 'my name is Zed\u0000', 'and I need help'].map((text) => store.appendTranscript({ callSid: 'CAnul', at: now(), track: 'inbound', text })),
    );
    expect((await store.transcript('CAnul')).map((l) => l.text)).toEqual(['hello', 'and I need help']);
    expect(store.health()).toMatchObject({ up: true, waiting: 0, rejected: 1 });
    expect(readFileSync(join(dir, 'rejected.jsonl'), 'utf8')).toContain('my name is Zed');
    expect(logLines.join('\n')).not.toContain('Zed');
  });

  it('takes the values out of a database error before it is logged', () => {
    const err = Object.assign(new Error('invalid input syntax for type bigint: "1795522710354.6226"'), { code: '22P02' });
    expect(safeError(err)).toEqual({ code: '22P02', message: 'invalid input syntax for type bigint: …' });
    expect(safeError(new Error("Key (text)=(call me on 5550100) already exists")).message).not.toMatch(/5550100|call me/);
  });
});

describe('the queue file', () => {
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'takeover-queue-'));
    dirs.push(d);
    return d;
  };
  const write = (n: number): PendingWrite => ({ op: 'audit', entry: { id: `e${n}`, at: now(), callSid: 'CA1', kind: 'call', actor: 'system', data: { n } } });
  const ns = (q: WriteQueueFile) => q.peek(100).map((w) => (w.op === 'audit' ? w.entry.data.n : undefined));

  it('reads back what waits after a crash: the head moved past stored writes, a line cut mid-write ignored', async () => {
    const dir = tempDir();
    const first = WriteQueueFile.open(dir, 100, () => undefined);
    await first.append([write(1), write(2), write(3)]);
    await first.shift(1);
    // The process dies while writing a fourth line: no close, half a line at the end.
    appendFileSync(join(dir, 'writes.jsonl'), '{"op":"audit","entry":{"id":"e4"');
    const again = WriteQueueFile.open(dir, 100, () => undefined);
    expect(ns(again)).toEqual([2, 3]);
    await again.append([write(5)]);
    expect(ns(WriteQueueFile.open(dir, 100, () => undefined))).toEqual([2, 3, 5]);
  });

  it('skips a line it cannot read, says which, and passes over it next time too', async () => {
    const dir = tempDir();
    const q = WriteQueueFile.open(dir, 100, () => undefined);
    await q.append([write(1)]);
    appendFileSync(join(dir, 'writes.jsonl'), 'not json\n');
    const bad: number[] = [];
    const reopened = WriteQueueFile.open(dir, 100, (line) => bad.push(line));
    await reopened.append([write(2)]);
    expect(ns(reopened)).toEqual([1, 2]);
    expect(bad).toEqual([2]);
    await reopened.shift(1);
    expect(ns(WriteQueueFile.open(dir, 100, () => undefined))).toEqual([2]);
  });

  it('refuses a folder another running process uses', () => {
    const dir = tempDir();
    // PID 1 is always running.
    writeFileSync(join(dir, 'lock'), '1');
    expect(() => WriteQueueFile.open(dir, 100, () => undefined)).toThrow(/AUDIT_QUEUE_DIR=.* is in use by process 1: give each instance its own AUDIT_QUEUE_DIR/);
  });
});

describe('the service', () => {
  it('puts its store behind the write queue, beside the SQLite file, and answers /readyz', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'takeover-data-'));
    dirs.push(dir);
    const config = loadConfig({ ALLOW_UNSIGNED: '1', TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`, TWILIO_API_KEY_SID: `SK${'0'.repeat(32)}`, TWILIO_API_KEY_SECRET: 'x', LOG_LEVEL: 'silent', SQLITE_PATH: join(dir, 'takeover.db') });
    expect(config.auditQueue).toEqual({ dir: join(dir, 'audit-queue'), maxEntries: 100_000 });
    const service = await buildService(config);
    cleanups.push(() => service.close());
    expect(service.store.health?.()).toMatchObject({ up: true, waiting: 0 });
    expect(existsSync(join(dir, 'audit-queue', 'lock'))).toBe(true);
    const res = await service.app.inject({ method: 'GET', url: '/readyz' });
    expect([res.statusCode, res.json()]).toEqual([200, { ready: true, problems: [], store: { ready: true, waiting: 0 } }]);
    const metrics = await service.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/takeover_store_writes_waiting 0/);
  });
});
