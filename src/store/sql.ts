// The Store over SQL through kysely: one code path for SQLite (embedded, one process) and PostgreSQL
// (several instances). Dialect differences stay in migrations.ts and createStore (index.ts).
// One file (over 300 lines): it is the Store interface (types.ts) for SQL, one short query per method; splitting
// it would split one implementation of one interface.
import type { ColumnType, Generated, Kysely, Selectable } from 'kysely';
import { sql } from 'kysely';
import type { Rule } from '../rules/schema.js';
import type { Track } from '../types.js';
import {
  RuleSetConflictError,
  type ApiToken,
  type AuditEntry,
  type AuditKind,
  type AuditQuery,
  type CallDataWrite,
  type CallRecord,
  type NewRuleSetVersion,
  type PurgeResult,
  type ResumePlan,
  type RuleSetVersion,
  type RuleSetVersionSummary,
  type Store,
  type StoredToken,
  type TokenRole,
  type TranscriptLine,
  type Verdict,
  type VerdictKind,
  type VerdictQuery,
} from './types.js';
import type { SqlDialect } from './migrations.js';

/** Epoch ms with fractions (double precision on PostgreSQL; SQLite keeps REAL). Reads go through Number(). */
type Millis = ColumnType<number | string, number, number>;
type MaybeMillis = ColumnType<number | string | null, number | null | undefined, number | null>;

export interface Database {
  calls: {
    call_sid: string;
    from_number: string | null;
    to_number: string | null;
    custom_parameters: string;
    started_at: Millis;
    ended_at: MaybeMillis;
    status: CallRecord['status'];
    instance_id: ColumnType<string | null, string | null | undefined, string | null>;
    paused_until: MaybeMillis;
    /** JSON of a ResumePlan. */
    resume_plan: ColumnType<string | null, string | null | undefined, string | null>;
  };
  transcript_lines: { id: Generated<number>; entry_id: string | null; call_sid: string; at: Millis; track: Track; text: string };
  audit_entries: {
    id: Generated<number>;
    entry_id: string | null;
    at: Millis;
    call_sid: string;
    kind: AuditKind;
    actor: string;
    decision_id: string | null;
    data: string;
  };
  verdicts: {
    id: string;
    call_sid: string;
    kind: VerdictKind;
    decision_id: string | null;
    rule_id: string | null;
    from_at: Millis;
    to_at: Millis;
    note: string | null;
    actor: string;
    at: Millis;
  };
  rule_set_versions: { version: number; actor: string; at: Millis; change: string; rules: string };
  api_tokens: {
    id: string;
    name: string;
    role: TokenRole;
    token_hash: string;
    created_at: Millis;
    last_used_at: MaybeMillis;
    revoked_at: MaybeMillis;
  };
}

const ms = (v: number | string): number => Number(v);
const maybeMs = (v: number | string | null): number | undefined => (v === null ? undefined : Number(v));

export class SqlStore implements Store {
  /**
   * Writes about one call run in the order they were made: the monitor fires them without waiting, and a pool
   * could reorder them (two transcript lines can share a time: the later one must still come second).
   */
  readonly #callWrites = new Map<string, Promise<void>>();

  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: SqlDialect,
  ) {}

  // ---- calls, transcripts, audit ------------------------------------------------------------

  saveCall(call: CallRecord): Promise<void> {
    return this.#inOrder(call.callSid, () => this.#upsertCall(call));
  }

  #inOrder(callSid: string, write: () => Promise<void>): Promise<void> {
    const prev = this.#callWrites.get(callSid) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(write);
    this.#callWrites.set(callSid, next);
    void next.catch(() => undefined).then(() => {
      if (this.#callWrites.get(callSid) === next) this.#callWrites.delete(callSid);
    });
    return next;
  }

  async #upsertCall(call: CallRecord): Promise<void> {
    const row = callRow(call);
    await this.db
      .insertInto('calls')
      .values(row)
      .onConflict((oc) =>
        oc.column('call_sid').doUpdateSet({
          from_number: row.from_number,
          to_number: row.to_number,
          custom_parameters: row.custom_parameters,
          started_at: row.started_at,
          ended_at: row.ended_at,
          status: row.status,
          instance_id: row.instance_id,
          paused_until: row.paused_until,
          resume_plan: row.resume_plan,
        }),
      )
      .execute();
  }

  appendTranscript(line: TranscriptLine): Promise<void> {
    // A line whose id is stored already was written before (its answer lost): nothing to do.
    const row = transcriptRow(line);
    return this.#inOrder(line.callSid, async () => {
      await this.db.insertInto('transcript_lines').values(row).onConflict((oc) => oc.column('entry_id').doNothing()).execute();
    });
  }

  async replaceTranscript(line: TranscriptLine): Promise<void> {
    await replaceLine(this.db, line);
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    let row: ReturnType<typeof auditRow>;
    try {
      // Now, not when its turn comes: the entry says what was true when it was made (callers go on changing objects).
      row = auditRow(entry);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#inOrder(entry.callSid, async () => {
      await this.db.insertInto('audit_entries').values(row).onConflict((oc) => oc.column('entry_id').doNothing()).execute();
    });
  }

  /** One transaction: a row per entry and line (in order; ids already stored are skipped), the last record per call. */
  async writeAll(writes: CallDataWrite[]): Promise<void> {
    const audit = writes.flatMap((w) => (w.op === 'audit' ? [auditRow(w.entry)] : []));
    const lines = writes.flatMap((w) => (w.op === 'transcript' ? [transcriptRow(w.line)] : []));
    const calls = [...new Map(writes.flatMap((w) => (w.op === 'call' ? [[w.call.callSid, callRow(w.call)] as const] : []))).values()];
    await this.db.transaction().execute(async (trx) => {
      if (audit.length > 0) await trx.insertInto('audit_entries').values(audit).onConflict((oc) => oc.column('entry_id').doNothing()).execute();
      if (lines.length > 0) await trx.insertInto('transcript_lines').values(lines).onConflict((oc) => oc.column('entry_id').doNothing()).execute();
      // After the lines: a replacement always names a line appended before it (in this batch or an earlier one).
      for (const w of writes) if (w.op === 'replaceTranscript') await replaceLine(trx, w.line);
      if (calls.length > 0) {
        await trx
          .insertInto('calls')
          .values(calls)
          .onConflict((oc) =>
            oc.column('call_sid').doUpdateSet((eb) => ({
              from_number: eb.ref('excluded.from_number'),
              to_number: eb.ref('excluded.to_number'),
              custom_parameters: eb.ref('excluded.custom_parameters'),
              started_at: eb.ref('excluded.started_at'),
              ended_at: eb.ref('excluded.ended_at'),
              status: eb.ref('excluded.status'),
              instance_id: eb.ref('excluded.instance_id'),
              paused_until: eb.ref('excluded.paused_until'),
              resume_plan: eb.ref('excluded.resume_plan'),
            })),
          )
          .execute();
      }
    });
  }

  async getCall(callSid: string): Promise<CallRecord | undefined> {
    const row = await this.db.selectFrom('calls').selectAll().where('call_sid', '=', callSid).executeTakeFirst();
    return row && toCall(row);
  }

  async listCalls({ limit = 100, before }: { limit?: number; before?: number } = {}): Promise<CallRecord[]> {
    let q = this.db.selectFrom('calls').selectAll();
    if (before !== undefined) q = q.where('started_at', '<', before);
    const rows = await q.orderBy('started_at', 'desc').orderBy('call_sid').limit(limit).execute();
    return rows.map(toCall);
  }

  async openCallsOf(instanceId: string): Promise<CallRecord[]> {
    const rows = await this.db.selectFrom('calls').selectAll().where('instance_id', '=', instanceId).where('ended_at', 'is', null).orderBy('started_at').execute();
    return rows.map(toCall);
  }

  async transcript(callSid: string): Promise<TranscriptLine[]> {
    const rows = await this.db
      .selectFrom('transcript_lines')
      .selectAll()
      .where('call_sid', '=', callSid)
      .orderBy('at')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ ...(r.entry_id !== null ? { id: r.entry_id } : {}), callSid: r.call_sid, at: ms(r.at), track: r.track, text: r.text }));
  }

  async audit(callSid: string): Promise<AuditEntry[]> {
    const rows = await this.db
      .selectFrom('audit_entries')
      .selectAll()
      .where('call_sid', '=', callSid)
      .orderBy('at')
      .orderBy('id')
      .execute();
    return rows.map(toAudit);
  }

  async queryAudit(q: AuditQuery = {}): Promise<AuditEntry[]> {
    let query = this.db.selectFrom('audit_entries').selectAll();
    if (q.callSid !== undefined) query = query.where('call_sid', '=', q.callSid);
    if (q.kind !== undefined) query = query.where('kind', '=', q.kind);
    if (q.actor !== undefined) query = query.where('actor', '=', q.actor);
    if (q.since !== undefined) query = query.where('at', '>=', q.since);
    if (q.before !== undefined) query = query.where('at', '<', q.before);
    const rows = await query
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(q.limit ?? 100)
      .execute();
    return rows.map(toAudit);
  }

  // ---- rule sets -----------------------------------------------------------------------------

  async currentRuleSet(): Promise<RuleSetVersion | undefined> {
    const row = await this.db.selectFrom('rule_set_versions').selectAll().orderBy('version', 'desc').limit(1).executeTakeFirst();
    return row && toRuleSet(row);
  }

  async ruleSetVersion(version: number): Promise<RuleSetVersion | undefined> {
    const row = await this.db.selectFrom('rule_set_versions').selectAll().where('version', '=', version).executeTakeFirst();
    return row && toRuleSet(row);
  }

  async listRuleSetVersions({ limit = 100 }: { limit?: number } = {}): Promise<RuleSetVersionSummary[]> {
    const rows = await this.db
      .selectFrom('rule_set_versions')
      .select(['version', 'actor', 'at', 'change'])
      .orderBy('version', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ version: r.version, actor: r.actor, at: ms(r.at), change: r.change }));
  }

  async saveRuleSet(input: NewRuleSetVersion): Promise<RuleSetVersion> {
    // Two writers can both read version n and insert n + 1: the primary key lets only one win.
    // With `basedOn` the loser gets a conflict; without it, it simply takes the next number.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.db.transaction().execute(async (trx) => {
          const top = await trx
            .selectFrom('rule_set_versions')
            .select('version')
            .orderBy('version', 'desc')
            .limit(1)
            .executeTakeFirst();
          const current = top?.version;
          if (input.basedOn !== undefined && input.basedOn !== (current ?? 0)) {
            throw new RuleSetConflictError(input.basedOn, current);
          }
          const saved: RuleSetVersion = {
            version: (current ?? 0) + 1,
            actor: input.actor,
            at: input.at ?? Date.now(),
            change: input.change,
            rules: input.rules,
          };
          await trx
            .insertInto('rule_set_versions')
            .values({ version: saved.version, actor: saved.actor, at: saved.at, change: saved.change, rules: JSON.stringify(saved.rules) })
            .execute();
          return structuredClone(saved);
        });
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        if (input.basedOn !== undefined) throw new RuleSetConflictError(input.basedOn, (await this.currentRuleSet())?.version);
        if (attempt >= 5) throw err;
      }
    }
  }

  // ---- tokens --------------------------------------------------------------------------------

  async createToken(t: StoredToken): Promise<void> {
    await this.db
      .insertInto('api_tokens')
      .values({
        id: t.id,
        name: t.name,
        role: t.role,
        token_hash: t.hash,
        created_at: t.createdAt,
        last_used_at: t.lastUsedAt ?? null,
        revoked_at: t.revokedAt ?? null,
      })
      .execute();
  }

  async findTokenByHash(hash: string): Promise<StoredToken | undefined> {
    const row = await this.db.selectFrom('api_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    return row && { ...toToken(row), hash: row.token_hash };
  }

  async listTokens(): Promise<ApiToken[]> {
    const rows = await this.db.selectFrom('api_tokens').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(toToken);
  }

  async touchToken(id: string, at: number): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    const r = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: sql<number>`coalesce(revoked_at, ${at})` })
      .where('id', '=', id)
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  // ---- verdicts ------------------------------------------------------------------------------

  async saveVerdict(v: Verdict): Promise<void> {
    await this.db
      .insertInto('verdicts')
      .values({
        id: v.id,
        call_sid: v.callSid,
        kind: v.kind,
        decision_id: v.decisionId ?? null,
        rule_id: v.ruleId ?? null,
        from_at: v.from,
        to_at: v.to,
        note: v.note ?? null,
        actor: v.actor,
        at: v.at,
      })
      .execute();
  }

  async verdicts(callSid: string): Promise<Verdict[]> {
    const rows = await this.db.selectFrom('verdicts').selectAll().where('call_sid', '=', callSid).orderBy('at').orderBy('id').execute();
    return rows.map(toVerdict);
  }

  async queryVerdicts(q: VerdictQuery): Promise<Verdict[]> {
    let query = this.db.selectFrom('verdicts').selectAll();
    if (q.since !== undefined) query = query.where('from_at', '>=', q.since);
    if (q.before !== undefined) query = query.where('from_at', '<', q.before);
    const rows = await query.orderBy('from_at').orderBy('at').orderBy('id').limit(q.limit ?? 1000).execute();
    return rows.map(toVerdict);
  }

  // ---- retention -----------------------------------------------------------------------------

  async purgeBefore(epochMs: number): Promise<PurgeResult> {
    return this.db.transaction().execute(async (trx) => {
      const calls = await trx
        .deleteFrom('calls')
        .where(sql<number>`coalesce(ended_at, started_at)`, '<', epochMs)
        .executeTakeFirst();
      const lines = await trx.deleteFrom('transcript_lines').where('at', '<', epochMs).executeTakeFirst();
      // Entries tied to no call (callSid '') are the change audit: who changed a rule or a token. They stay.
      const audit = await trx.deleteFrom('audit_entries').where('at', '<', epochMs).where('call_sid', '<>', '').executeTakeFirst();
      await trx.deleteFrom('verdicts').where('from_at', '<', epochMs).execute();
      return {
        calls: Number(calls.numDeletedRows),
        transcriptLines: Number(lines.numDeletedRows),
        auditEntries: Number(audit.numDeletedRows),
      };
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#callWrites.values()]);
    await this.db.destroy();
  }
}

function callRow(call: CallRecord) {
  return {
    call_sid: call.callSid,
    from_number: call.from ?? null,
    to_number: call.to ?? null,
    custom_parameters: JSON.stringify(call.customParameters ?? {}),
    started_at: call.startedAt,
    ended_at: call.endedAt ?? null,
    status: call.status,
    instance_id: call.instanceId ?? null,
    paused_until: call.pausedUntil ?? null,
    resume_plan: call.resume ? JSON.stringify(call.resume) : null,
  };
}

/** The final text of a line stored earlier (the partial that decided, or the withheld marker): same call, track and time. */
async function replaceLine(db: Kysely<Database>, line: TranscriptLine): Promise<void> {
  await db
    .updateTable('transcript_lines')
    .set({ text: line.text })
    .where('call_sid', '=', line.callSid)
    .where('track', '=', line.track)
    // Within half a millisecond either side: the time the line was appended with, give or take float rounding.
    .where('at', '>=', line.at - 0.5)
    .where('at', '<=', line.at + 0.5)
    .execute();
}

function transcriptRow(line: TranscriptLine) {
  return { entry_id: line.id ?? null, call_sid: line.callSid, at: line.at, track: line.track, text: line.text };
}

function auditRow(entry: AuditEntry) {
  return {
    entry_id: entry.id ?? null,
    at: entry.at,
    call_sid: entry.callSid,
    kind: entry.kind,
    actor: entry.actor,
    decision_id: entry.decisionId ?? null,
    data: JSON.stringify(entry.data ?? {}),
  };
}

function toCall(r: Selectable<Database['calls']>): CallRecord {
  const call: CallRecord = {
    callSid: r.call_sid,
    customParameters: JSON.parse(r.custom_parameters) as Record<string, string>,
    startedAt: ms(r.started_at),
    status: r.status,
  };
  if (r.from_number !== null) call.from = r.from_number;
  if (r.to_number !== null) call.to = r.to_number;
  const endedAt = maybeMs(r.ended_at);
  if (endedAt !== undefined) call.endedAt = endedAt;
  if (r.instance_id !== null) call.instanceId = r.instance_id;
  const pausedUntil = maybeMs(r.paused_until);
  if (pausedUntil !== undefined) call.pausedUntil = pausedUntil;
  if (r.resume_plan !== null) call.resume = JSON.parse(r.resume_plan) as ResumePlan;
  return call;
}

function toAudit(r: Selectable<Database['audit_entries']>): AuditEntry {
  const entry: AuditEntry = {
    ...(r.entry_id !== null ? { id: r.entry_id } : {}),
    at: ms(r.at),
    callSid: r.call_sid,
    kind: r.kind,
    actor: r.actor,
    data: JSON.parse(r.data) as Record<string, unknown>,
  };
  if (r.decision_id !== null) entry.decisionId = r.decision_id;
  return entry;
}

function toVerdict(r: Selectable<Database['verdicts']>): Verdict {
  const v: Verdict = { id: r.id, callSid: r.call_sid, kind: r.kind, from: ms(r.from_at), to: ms(r.to_at), actor: r.actor, at: ms(r.at) };
  if (r.decision_id !== null) v.decisionId = r.decision_id;
  if (r.rule_id !== null) v.ruleId = r.rule_id;
  if (r.note !== null) v.note = r.note;
  return v;
}

function toRuleSet(r: Selectable<Database['rule_set_versions']>): RuleSetVersion {
  // Not validated here: a version saved under an older schema must still be readable; whoever runs it validates it.
  return { version: r.version, actor: r.actor, at: ms(r.at), change: r.change, rules: JSON.parse(r.rules) as Rule[] };
}

function toToken(r: Selectable<Database['api_tokens']>): ApiToken {
  const t: ApiToken = { id: r.id, name: r.name, role: r.role, createdAt: ms(r.created_at) };
  const lastUsedAt = maybeMs(r.last_used_at);
  const revokedAt = maybeMs(r.revoked_at);
  if (lastUsedAt !== undefined) t.lastUsedAt = lastUsedAt;
  if (revokedAt !== undefined) t.revokedAt = revokedAt;
  return t;
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string };
  // PostgreSQL: 23505 unique_violation; better-sqlite3: SQLITE_CONSTRAINT_PRIMARYKEY / _UNIQUE.
  return e?.code === '23505' || (typeof e?.code === 'string' && /^SQLITE_CONSTRAINT_(PRIMARYKEY|UNIQUE)$/.test(e.code));
}
