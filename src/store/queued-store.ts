// A Store in front of another that loses no call data when the database is unreachable: audit entries,
// transcript lines and call records are written in the order they were made, one writer at a time; when a write
// fails, it and every later one go to a bounded queue on local disk (write-queue.ts) and are retried, oldest
// first, until the database takes them, also after a restart. Each entry and line gets an id when it is made, so
// a write whose answer was lost is stored once. Everything else (reads, rules, tokens) passes straight through.
// One file (over 300 lines): the order of writes is the whole point, so the writer, the fallback to the disk queue
// and the replay share one queue and one lock; the disk format is in write-queue.ts.
import { randomUUID } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { WriteQueueFile, type PendingWrite } from './write-queue.js';
import type {
  ApiToken,
  AuditEntry,
  AuditQuery,
  CallRecord,
  NewRuleSetVersion,
  PurgeResult,
  RuleSetVersion,
  RuleSetVersionSummary,
  Store,
  StoreHealth,
  StoredToken,
  TranscriptLine,
  Verdict,
  VerdictQuery,
} from './types.js';

export interface WriteQueueOptions {
  /** Folder of the queue file (created); one per instance. */
  dir: string;
  /** Writes kept waiting at most; when full the oldest are kept and newer ones are dropped, loudly. */
  maxEntries: number;
  log: Pick<FastifyBaseLogger, 'error' | 'warn' | 'info'>;
  /** A write that takes longer counts as failed (it is retried; its id keeps it from being stored twice). */
  writeTimeoutMs?: number;
  /** Retries of the oldest waiting write: from `initialMs`, doubling, at most `maxMs` apart. */
  retry?: { initialMs: number; maxMs: number };
}

interface Fresh {
  write: PendingWrite;
  done: () => void;
}

/** Writes per transaction at most: what piles up while one is under way goes in the next (7 columns × 200 rows). */
const BATCH = 200;

export class QueuedStore implements Store {
  readonly #inner: Store;
  readonly #file: WriteQueueFile;
  readonly #opts: Required<Omit<WriteQueueOptions, 'log'>> & Pick<WriteQueueOptions, 'log'>;
  /** Made, and neither in the database nor in the file yet. */
  #fresh: Fresh[] = [];
  #writer: Promise<void> | undefined;
  /** Set while the writer waits to retry: a new write wakes it to put the write on disk. */
  #retry: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  #retryDelay = 0;
  #closing = false;
  #state: StoreHealth = { up: true, waiting: 0, dropped: 0, rejected: 0 };
  /** The queue file is full: said once, until writes fit again. */
  #full = false;
  #fileOps: Promise<unknown> = Promise.resolve();
  #diskFailing = false;
  /** The writer is writing from the file: fresh writes belong behind it, on disk. */
  #retryingFile = false;

  /** Opens the queue in `options.dir`; what an earlier process left there is written first. */
  static open(inner: Store, options: WriteQueueOptions): QueuedStore {
    return new QueuedStore(inner, options);
  }

  private constructor(inner: Store, options: WriteQueueOptions) {
    this.#inner = inner;
    this.#opts = { writeTimeoutMs: 10_000, retry: { initialMs: 250, maxMs: 5000 }, ...options };
    this.#file = WriteQueueFile.open(options.dir, options.maxEntries, (n) =>
      options.log.error({ dir: options.dir, line: n }, 'store write queue: a line of the queue file is unreadable and was skipped'),
    );
    if (this.#file.size > 0) {
      options.log.warn({ dir: options.dir, waiting: this.#file.size }, 'store write queue: writing what an earlier run left waiting');
      this.#kick();
    }
  }

  health(): StoreHealth {
    return { ...this.#state, waiting: this.#fresh.length + this.#file.size };
  }

  // ---- call data: queued -----------------------------------------------------------------------

  saveCall(call: CallRecord): Promise<void> {
    return this.#enqueue(() => ({ op: 'call', call: structuredClone(call) }));
  }

  /** Queued like the append it replaces, so it is never written before that line. */
  replaceTranscript(line: TranscriptLine): Promise<void> {
    return this.#enqueue(() => ({ op: 'replaceTranscript', line: { ...line } }));
  }

  appendTranscript(line: TranscriptLine): Promise<void> {
    return this.#enqueue(() => ({ op: 'transcript', line: { ...line, id: line.id ?? randomUUID() } }));
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    // A copy now: callers go on changing the objects they put in `data` (a decision's timings).
    return this.#enqueue(() => ({ op: 'audit', entry: { ...structuredClone(entry), id: entry.id ?? randomUUID() } }));
  }

  /** Resolves once the write is in the database or in the queue file (or was dropped, which is logged). */
  #enqueue(make: () => PendingWrite): Promise<void> {
    let write: PendingWrite;
    try {
      write = make();
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#closing) return Promise.reject(new Error('the store is closed: no more writes'));
    if (this.#fresh.length >= this.#opts.maxEntries) {
      // Only when the queue file cannot be written either: memory is bounded like the file.
      this.#dropped([write]);
      return Promise.resolve();
    }
    return new Promise((done) => {
      this.#fresh.push({ write, done });
      this.#kick();
    });
  }

  #kick(): void {
    // While the writer retries the file's oldest write, a new write goes to disk now, not after that attempt.
    if (this.#retryingFile) void this.#spill();
    this.#retry?.wake();
    this.#writer ??= this.#run()
      .catch((err) => this.#opts.log.error({ err: safeError(err) }, 'store write queue: the writer stopped; writes wait until the next one'))
      .finally(() => {
        this.#writer = undefined;
        if (!this.#closing && (this.#fresh.length > 0 || this.#file.size > 0)) this.#kick();
      });
  }

  /** The one writer: fresh writes straight to the database while it is up and nothing waits; otherwise behind. */
  async #run(): Promise<void> {
    for (;;) {
      if (this.#closing && this.#fresh.length === 0) return;
      if (this.#file.size > 0 || !this.#state.up) {
        if (!(await this.#spill()) && !this.#closing) {
          await this.#waitToRetry();
          continue;
        }
        if (this.#closing || this.#file.size === 0) return;
        const batch = this.#file.peek(BATCH);
        this.#retryingFile = true;
        const stored = await this.#writeInOrder(batch).finally(() => (this.#retryingFile = false));
        if (stored > 0) await this.#serial(() => this.#file.shift(stored));
        if (stored < batch.length) await this.#waitToRetry();
        else if (this.#file.size === 0) this.#opts.log.info('store write queue: every waiting write is stored');
      } else if (this.#fresh.length > 0) {
        const batch = this.#fresh.splice(0, BATCH);
        const stored = await this.#writeInOrder(batch.map((f) => f.write));
        for (const f of batch.slice(0, stored)) f.done();
        // The first that failed and those after it: to the file next round (the database is down now).
        this.#fresh.unshift(...batch.slice(stored));
      } else {
        return;
      }
    }
  }

  /** Writes in order until one fails for want of a database; returns how many are done (stored or set aside). */
  async #writeInOrder(writes: PendingWrite[]): Promise<number> {
    if (writes.length > 1 && this.#inner.writeAll) {
      // One transaction for the lot; if the database refuses one of them, one by one finds which.
      try {
        await withTimeout(this.#inner.writeAll(writes), this.#opts.writeTimeoutMs);
        this.#stored();
        return writes.length;
      } catch (err) {
        if (!isRefusedForContent(err)) {
          this.#failed(err);
          return 0;
        }
      }
    }
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]!;
      try {
        await withTimeout(this.#apply(w), this.#opts.writeTimeoutMs);
        this.#stored();
      } catch (err) {
        if (isRefusedForContent(err)) {
          await this.#setAside(w, err);
          continue;
        }
        this.#failed(err);
        return i;
      }
    }
    return writes.length;
  }

  #stored(): void {
    if (!this.#state.up) this.#opts.log.info({ waiting: this.health().waiting }, 'store write queue: the database takes writes again');
    this.#state.up = true;
    this.#retryDelay = 0;
  }

  #failed(err: unknown): void {
    const why = safeError(err);
    if (this.#state.up) {
      this.#opts.log.error({ err: why, dir: this.#opts.dir }, 'store unreachable: writes wait in the queue file and are retried until it is back');
    }
    this.#state.up = false;
    this.#state.lastError = `${why.code ? `${why.code}: ` : ''}${why.message}`;
  }

  #apply(w: PendingWrite): Promise<void> {
    if (w.op === 'audit') return this.#inner.appendAudit(w.entry);
    if (w.op === 'transcript') return this.#inner.appendTranscript(w.line);
    if (w.op === 'replaceTranscript') return this.#inner.replaceTranscript(w.line);
    return this.#inner.saveCall(w.call);
  }

  /** One file operation at a time: a spill may come while the writer moves the head. */
  #serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.#fileOps.then(op);
    this.#fileOps = next.catch(() => undefined);
    return next;
  }

  /** Fresh writes go to the file, behind what waits there; each caller hears back once it is durable. */
  #spill(): Promise<boolean> {
    return this.#serial(() => this.#spillNow());
  }

  async #spillNow(): Promise<boolean> {
    if (this.#fresh.length === 0) return true;
    const batch = this.#fresh;
    this.#fresh = [];
    let dropped: number;
    try {
      dropped = await this.#file.append(batch.map((f) => f.write));
    } catch (err) {
      // Disk full or gone: they wait in memory (bounded, see #enqueue) and the next round tries again.
      this.#fresh.unshift(...batch);
      if (!this.#diskFailing) {
        this.#opts.log.error({ err: safeError(err), dir: this.#opts.dir }, 'store write queue: cannot write the queue file; waiting writes are held in memory only: free space or fix AUDIT_QUEUE_DIR');
      }
      this.#diskFailing = true;
      return false;
    }
    this.#diskFailing = false;
    if (dropped > 0) this.#dropped(batch.slice(batch.length - dropped).map((f) => f.write));
    else this.#full = false;
    for (const f of batch) f.done();
    return true;
  }

  #dropped(writes: PendingWrite[]): void {
    this.#state.dropped += writes.length;
    const first = !this.#full;
    this.#full = true;
    // Loud once when it fills, then a line per 1,000 lost: a flood of identical lines helps nobody.
    if (first || this.#state.dropped % 1000 < writes.length) {
      this.#opts.log.error(
        { dir: this.#opts.dir, maxEntries: this.#opts.maxEntries, droppedSinceStart: this.#state.dropped, kinds: [...new Set(writes.map((w) => w.op))] },
        'store write queue FULL: the database is still unreachable and new audit entries, transcript lines and call records are being LOST (the oldest are kept); bring the database back or raise AUDIT_QUEUE_MAX_ENTRIES',
      );
    }
  }

  /** A write the database refuses for what it holds would block the queue forever: it goes to `rejected.jsonl`. */
  async #setAside(w: PendingWrite, err: unknown): Promise<void> {
    this.#state.rejected++;
    const why = safeError(err);
    this.#opts.log.error({ err: why, op: w.op, dir: this.#opts.dir }, 'store refused a write for its content; it is kept in rejected.jsonl in the queue folder');
    try {
      await appendFile(join(this.#opts.dir, 'rejected.jsonl'), `${JSON.stringify({ at: Date.now(), error: why, write: w })}\n`);
    } catch (e) {
      this.#opts.log.error({ err: safeError(e), dir: this.#opts.dir }, 'could not keep a refused write in rejected.jsonl');
    }
  }

  /**
   * Waits before the next try, doubling up to the cap. Writes made meanwhile go to the file at once (a crash
   * must not lose them); `close` ends the wait.
   */
  async #waitToRetry(): Promise<void> {
    const { initialMs, maxMs } = this.#opts.retry;
    this.#retryDelay = Math.min(maxMs, this.#retryDelay === 0 ? initialMs : this.#retryDelay * 2);
    const until = Date.now() + this.#retryDelay;
    while (!this.#closing && Date.now() < until) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, until - Date.now());
        this.#retry = {
          timer,
          wake: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
      this.#retry = undefined;
      await this.#spill();
    }
  }

  // ---- the rest: straight through --------------------------------------------------------------

  getCall(callSid: string): Promise<CallRecord | undefined> {
    return this.#inner.getCall(callSid);
  }
  openCallsOf(instanceId: string): Promise<CallRecord[]> {
    return this.#inner.openCallsOf(instanceId);
  }
  listCalls(options?: { limit?: number; before?: number }): Promise<CallRecord[]> {
    return this.#inner.listCalls(options);
  }
  transcript(callSid: string): Promise<TranscriptLine[]> {
    return this.#inner.transcript(callSid);
  }
  audit(callSid: string): Promise<AuditEntry[]> {
    return this.#inner.audit(callSid);
  }
  queryAudit(query?: AuditQuery): Promise<AuditEntry[]> {
    return this.#inner.queryAudit(query);
  }
  currentRuleSet(): Promise<RuleSetVersion | undefined> {
    return this.#inner.currentRuleSet();
  }
  ruleSetVersion(version: number): Promise<RuleSetVersion | undefined> {
    return this.#inner.ruleSetVersion(version);
  }
  listRuleSetVersions(options?: { limit?: number }): Promise<RuleSetVersionSummary[]> {
    return this.#inner.listRuleSetVersions(options);
  }
  saveRuleSet(input: NewRuleSetVersion): Promise<RuleSetVersion> {
    return this.#inner.saveRuleSet(input);
  }
  createToken(token: StoredToken): Promise<void> {
    return this.#inner.createToken(token);
  }
  findTokenByHash(hash: string): Promise<StoredToken | undefined> {
    return this.#inner.findTokenByHash(hash);
  }
  listTokens(): Promise<ApiToken[]> {
    return this.#inner.listTokens();
  }
  touchToken(id: string, at: number): Promise<void> {
    return this.#inner.touchToken(id, at);
  }
  revokeToken(id: string, at: number): Promise<boolean> {
    return this.#inner.revokeToken(id, at);
  }
  /** A supervisor's verdict is written at once, like a rule change: the supervisor hears if the database refused it. */
  saveVerdict(verdict: Verdict): Promise<void> {
    return this.#inner.saveVerdict(verdict);
  }
  verdicts(callSid: string): Promise<Verdict[]> {
    return this.#inner.verdicts(callSid);
  }
  queryVerdicts(query: VerdictQuery): Promise<Verdict[]> {
    return this.#inner.queryVerdicts(query);
  }
  purgeBefore(epochMs: number): Promise<PurgeResult> {
    return this.#inner.purgeBefore(epochMs);
  }

  /** Writes what it can; what the database does not take now stays in the queue file for the next start. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#retry?.wake();
    this.#kick();
    await this.#writer;
    await this.#file.close();
    await this.#inner.close();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer from the database within ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * Refused for what the write holds (retrying cannot help): PostgreSQL data exceptions (22…) and integrity
 * violations (23…), SQLite constraint, type and size errors, and values that cannot be serialized.
 */
function isRefusedForContent(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string') return /^2[23][0-9A-Z]{3}$/.test(code) || /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code);
  return err instanceof TypeError || err instanceof RangeError;
}

/**
 * A store error fit for a log: its code and message with every quoted part and long number taken out.
 * Database messages quote the value they refused, which can be a caller's words or number.
 */
export function safeError(err: unknown): { code?: string; message: string } {
  const e = err as { code?: unknown; message?: unknown };
  const message = String(e?.message ?? err)
    .replace(/"[^"]*"|'[^']*'|\([^)]*\)=\([^)]*\)/g, '…')
    .replace(/\d{4,}/g, '…')
    .slice(0, 200);
  return typeof e?.code === 'string' ? { code: e.code, message } : { message };
}
