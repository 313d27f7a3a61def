// A Store kept in process memory: nothing survives a restart. For tests and one-off runs.
import {
  RuleSetConflictError,
  type ApiToken,
  type AuditEntry,
  type AuditQuery,
  type CallRecord,
  type NewRuleSetVersion,
  type PurgeResult,
  type RuleSetVersion,
  type RuleSetVersionSummary,
  type Store,
  type StoredToken,
  type TranscriptLine,
  type Verdict,
  type VerdictQuery,
} from './types.js';

export class MemoryStore implements Store {
  readonly calls = new Map<string, CallRecord>();
  readonly lines: TranscriptLine[] = [];
  readonly entries: AuditEntry[] = [];
  readonly ruleSets: RuleSetVersion[] = [];
  readonly tokens = new Map<string, StoredToken>();
  readonly verdictList: Verdict[] = [];
  /** Ids of the lines and entries written, so that a repeated write is stored once. */
  readonly #written = new Set<string>();

  async saveCall(call: CallRecord): Promise<void> {
    this.calls.set(call.callSid, structuredClone(call));
  }
  async appendTranscript(line: TranscriptLine): Promise<void> {
    if (this.#seen(line.id)) return;
    this.lines.push({ ...line });
  }
  async replaceTranscript(line: TranscriptLine): Promise<void> {
    const [from, to] = [Math.floor(line.at - 0.5), Math.ceil(line.at + 0.5)];
    const stored = this.lines.find((l) => l.callSid === line.callSid && l.track === line.track && l.at >= from && l.at <= to);
    if (stored) stored.text = line.text;
  }
  async appendAudit(entry: AuditEntry): Promise<void> {
    if (this.#seen(entry.id)) return;
    this.entries.push(structuredClone(entry));
  }
  #seen(id: string | undefined): boolean {
    if (id === undefined) return false;
    if (this.#written.has(id)) return true;
    this.#written.add(id);
    return false;
  }
  async getCall(callSid: string): Promise<CallRecord | undefined> {
    const call = this.calls.get(callSid);
    return call && structuredClone(call);
  }
  async listCalls({ limit = 100, before }: { limit?: number; before?: number } = {}): Promise<CallRecord[]> {
    return [...this.calls.values()]
      .filter((c) => before === undefined || c.startedAt < before)
      .sort((a, b) => b.startedAt - a.startedAt)
      .slice(0, limit)
      .map((c) => structuredClone(c));
  }
  async openCallsOf(instanceId: string): Promise<CallRecord[]> {
    return [...this.calls.values()]
      .filter((c) => c.instanceId === instanceId && c.endedAt === undefined)
      .sort((a, b) => a.startedAt - b.startedAt)
      .map((c) => structuredClone(c));
  }
  async transcript(callSid: string): Promise<TranscriptLine[]> {
    return this.lines.filter((l) => l.callSid === callSid).sort((a, b) => a.at - b.at);
  }
  async audit(callSid: string): Promise<AuditEntry[]> {
    return this.entries.filter((e) => e.callSid === callSid).sort((a, b) => a.at - b.at);
  }
  async queryAudit(q: AuditQuery = {}): Promise<AuditEntry[]> {
    return this.entries
      .map((e, i) => ({ e, i }))
      .filter(
        ({ e }) =>
          (q.callSid === undefined || e.callSid === q.callSid) &&
          (q.kind === undefined || e.kind === q.kind) &&
          (q.actor === undefined || e.actor === q.actor) &&
          (q.since === undefined || e.at >= q.since) &&
          (q.before === undefined || e.at < q.before),
      )
      // Newest first; entries written in the same millisecond keep their write order, reversed.
      .sort((a, b) => b.e.at - a.e.at || b.i - a.i)
      .slice(0, q.limit ?? 100)
      .map(({ e }) => structuredClone(e));
  }

  async currentRuleSet(): Promise<RuleSetVersion | undefined> {
    const last = this.ruleSets.at(-1);
    return last && structuredClone(last);
  }
  async ruleSetVersion(version: number): Promise<RuleSetVersion | undefined> {
    const found = this.ruleSets.find((v) => v.version === version);
    return found && structuredClone(found);
  }
  async listRuleSetVersions({ limit = 100 }: { limit?: number } = {}): Promise<RuleSetVersionSummary[]> {
    return this.ruleSets
      .slice()
      .reverse()
      .slice(0, limit)
      .map(({ rules: _rules, ...summary }) => summary);
  }
  async saveRuleSet(input: NewRuleSetVersion): Promise<RuleSetVersion> {
    const current = this.ruleSets.at(-1)?.version;
    if (input.basedOn !== undefined && input.basedOn !== (current ?? 0)) throw new RuleSetConflictError(input.basedOn, current);
    const saved: RuleSetVersion = {
      version: (current ?? 0) + 1,
      actor: input.actor,
      at: input.at ?? Date.now(),
      change: input.change,
      rules: structuredClone(input.rules),
    };
    this.ruleSets.push(saved);
    return structuredClone(saved);
  }

  async createToken(token: StoredToken): Promise<void> {
    if (this.tokens.has(token.id)) throw new Error(`a token with id ${token.id} exists already`);
    this.tokens.set(token.id, { ...token });
  }
  async findTokenByHash(hash: string): Promise<StoredToken | undefined> {
    for (const t of this.tokens.values()) if (t.hash === hash) return { ...t };
    return undefined;
  }
  async listTokens(): Promise<ApiToken[]> {
    return [...this.tokens.values()]
      .sort((a, b) => a.createdAt - b.createdAt)
      .map(({ hash: _hash, ...token }) => token);
  }
  async touchToken(id: string, at: number): Promise<void> {
    const t = this.tokens.get(id);
    if (t) t.lastUsedAt = at;
  }
  async revokeToken(id: string, at: number): Promise<boolean> {
    const t = this.tokens.get(id);
    if (!t) return false;
    t.revokedAt ??= at;
    return true;
  }

  async saveVerdict(verdict: Verdict): Promise<void> {
    if (this.verdictList.some((v) => v.id === verdict.id)) throw new Error(`a verdict with id ${verdict.id} exists already`);
    this.verdictList.push(structuredClone(verdict));
  }
  async verdicts(callSid: string): Promise<Verdict[]> {
    return this.verdictList.filter((v) => v.callSid === callSid).map((v) => structuredClone(v));
  }
  async queryVerdicts(q: VerdictQuery): Promise<Verdict[]> {
    return this.verdictList
      .filter((v) => (q.since === undefined || v.from >= q.since) && (q.before === undefined || v.from < q.before))
      .sort((a, b) => a.from - b.from || a.at - b.at)
      .slice(0, q.limit ?? 1000)
      .map((v) => structuredClone(v));
  }

  async purgeBefore(epochMs: number): Promise<PurgeResult> {
    let calls = 0;
    for (const [sid, c] of this.calls) {
      if ((c.endedAt ?? c.startedAt) < epochMs) {
        this.calls.delete(sid);
        calls++;
      }
    }
    // Splice in place: the public arrays are shared with tests that hold on to them.
    const transcriptLines = removeWhere(this.lines, (l) => l.at < epochMs);
    // Entries tied to no call are the change audit (rules, tokens): they stay.
    const auditEntries = removeWhere(this.entries, (e) => e.at < epochMs && e.callSid !== '');
    removeWhere(this.verdictList, (v) => v.from < epochMs);
    return { calls, transcriptLines, auditEntries };
  }

  async close(): Promise<void> {}
}

function removeWhere<T>(list: T[], test: (item: T) => boolean): number {
  const kept = list.filter((x) => !test(x));
  const removed = list.length - kept.length;
  list.splice(0, list.length, ...kept);
  return removed;
}
