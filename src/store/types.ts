// What takeover keeps: calls, redacted transcripts, the audit trail, rule-set versions and API tokens.
// Implementations: in memory (tests, one-off runs) and SQL through kysely (SQLite file or PostgreSQL).
import type { Rule } from '../rules/schema.js';
import type { Track } from '../types.js';

export type AuditKind =
  | 'assessment'
  | 'decision'
  | 'attempt'
  | 'outcome'
  | 'gate'
  | 'transcriber'
  | 'call'
  /** A change made through the supervisor API (rules, tokens, manual actions). */
  | 'supervisor';

/** One line of the audit trail. `data` never holds a sensitive value or an unredacted transcript. */
export interface AuditEntry {
  at: number;
  /** The call the entry is about; `''` for entries tied to no call (e.g. a rule edited through the API). */
  callSid: string;
  kind: AuditKind;
  /** `rule:<id>`, `supervisor:<name>`, `system`, `twilio`. */
  actor: string;
  decisionId?: string;
  data: Record<string, unknown>;
}

export interface AuditQuery {
  /** Only this call's entries; `''` selects the entries tied to no call. Absent: every entry. */
  callSid?: string;
  kind?: AuditKind;
  actor?: string;
  /** Entries at or after this time (epoch ms). */
  since?: number;
  /** Entries before this time (epoch ms), for paging back. */
  before?: number;
  /** At most this many, newest first (default 100). */
  limit?: number;
}

export interface CallRecord {
  callSid: string;
  from?: string;
  to?: string;
  customParameters: Record<string, string>;
  startedAt: number;
  endedAt?: number;
  status: 'monitoring' | 'paused' | 'handed_off' | 'ended';
}

/** A final turn, stored redacted only. */
export interface TranscriptLine {
  callSid: string;
  at: number;
  track: Track;
  text: string;
}

/** One version of the supervisors' rule set: every change makes a new one, a rollback too. */
export interface RuleSetVersion {
  version: number;
  /** Who made it: `supervisor:<name>`, `system`. */
  actor: string;
  at: number;
  /** What changed, in words (`created rule "x"`, `rolled back to version 3`). */
  change: string;
  rules: Rule[];
}

export type RuleSetVersionSummary = Omit<RuleSetVersion, 'rules'>;

export interface NewRuleSetVersion {
  actor: string;
  change: string;
  rules: Rule[];
  at?: number;
  /**
   * The version this change was made from. When given and another change came first, the save is refused
   * with RuleSetConflictError (no lost update between two supervisors or two instances).
   */
  basedOn?: number;
}

export class RuleSetConflictError extends Error {
  constructor(readonly expected: number | undefined, readonly current: number | undefined) {
    super(
      `the rule set changed meanwhile (now version ${current ?? 'none'}, the change was made from version ${expected ?? 'none'}): reload the rules and make the change again`,
    );
    this.name = 'RuleSetConflictError';
  }
}

export const TOKEN_ROLES = ['viewer', 'supervisor', 'admin'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** An API token as listed: never its secret, never its hash. */
export interface ApiToken {
  id: string;
  name: string;
  role: TokenRole;
  createdAt: number;
  lastUsedAt?: number;
  revokedAt?: number;
}

/** What the store keeps of a token: the SHA-256 of its secret (hex), never the secret. */
export interface StoredToken extends ApiToken {
  hash: string;
}

export interface PurgeResult {
  calls: number;
  transcriptLines: number;
  /** Audit entries of calls; the change audit (entries tied to no call) is never purged. */
  auditEntries: number;
}

export interface Store {
  // calls, transcripts and the audit trail
  /** Creates or updates the call (same callSid: the latest save wins). */
  saveCall(call: CallRecord): Promise<void>;
  /** `line.text` must already be redacted; the store keeps it as given and never logs it. */
  appendTranscript(line: TranscriptLine): Promise<void>;
  appendAudit(entry: AuditEntry): Promise<void>;
  getCall(callSid: string): Promise<CallRecord | undefined>;
  /** Newest first; `before` pages back by start time. */
  listCalls(options?: { limit?: number; before?: number }): Promise<CallRecord[]>;
  /** The call's lines, oldest first. */
  transcript(callSid: string): Promise<TranscriptLine[]>;
  /** The call's audit trail, oldest first. */
  audit(callSid: string): Promise<AuditEntry[]>;
  /** Audit entries matching the query, newest first. */
  queryAudit(query?: AuditQuery): Promise<AuditEntry[]>;

  // rule sets
  /** The running rule set as stored, or undefined before the store was first seeded. */
  currentRuleSet(): Promise<RuleSetVersion | undefined>;
  ruleSetVersion(version: number): Promise<RuleSetVersion | undefined>;
  /** Newest first. */
  listRuleSetVersions(options?: { limit?: number }): Promise<RuleSetVersionSummary[]>;
  /** Appends the next version (current + 1). Throws RuleSetConflictError when `basedOn` is not the current version. */
  saveRuleSet(input: NewRuleSetVersion): Promise<RuleSetVersion>;

  // API tokens
  createToken(token: StoredToken): Promise<void>;
  /** The token whose secret hashes to `hash`, revoked or not (the caller decides). */
  findTokenByHash(hash: string): Promise<StoredToken | undefined>;
  listTokens(): Promise<ApiToken[]>;
  /** Marks it used at `at`. */
  touchToken(id: string, at: number): Promise<void>;
  /** False when no token has that id. Revoking twice keeps the first time. */
  revokeToken(id: string, at: number): Promise<boolean>;

  // retention
  /**
   * Deletes call data: calls that ended (or, never ended, started) before `epochMs`, and transcript lines and the
   * audit entries of calls (assessments, decisions, outcomes, actions on a call…) older than it. Entries tied to no
   * call (`callSid` `''`: who changed a rule or a token) are kept.
   */
  purgeBefore(epochMs: number): Promise<PurgeResult>;

  close(): Promise<void>;
}
