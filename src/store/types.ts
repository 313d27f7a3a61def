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
  /**
   * Given once, when the entry is made (the store's write queue does it): a write repeated with the same id,
   * after a lost answer or a restart, is stored once. Entries written without one are stored as they come.
   */
  id?: string;
  /** Epoch ms, fractions kept (the service's clock has sub-millisecond resolution). */
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
  /** The instance (INSTANCE_ID) that holds the call now; a restart of it ends or resumes the calls it held. */
  instanceId?: string;
  /** While paused: when the pause ends by itself (epoch ms). Absent: only a supervisor resumes it. */
  pausedUntil?: number;
  /** While paused: what a resume re-creates, so that another process of the same instance can do it. */
  resume?: ResumePlan;
}

/** takeover's stream and transcription as they ran before a privacy pause, and whether the recording was paused. */
export interface ResumePlan {
  streams: {
    url: string;
    name: string;
    track: 'inbound_track' | 'outbound_track' | 'both_tracks';
    parameters: Record<string, string>;
    statusCallback?: string;
  }[];
  transcription?: {
    /** The transcription the pause stopped (GT…); a resume creates a new one with the same settings. */
    sid?: string;
    name: string;
    statusCallbackUrl: string;
    track: 'inbound_track' | 'outbound_track' | 'both_tracks';
    partialResults: boolean;
    languageCode?: string;
  };
  recordingPaused: boolean;
  /** A secure capture flow's return URL (the caller comes back through Twilio's action callback). */
  returnUrl?: string;
}

/** A final turn, stored redacted only. */
export interface TranscriptLine {
  /** As AuditEntry.id: a line written twice with the same id is stored once. */
  id?: string;
  callSid: string;
  /** Epoch ms, fractions kept. */
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

/** What a supervisor says of a rule's call: it was right to act (or not to), it should not have acted, or it should have. */
export const VERDICT_KINDS = ['right', 'should_not_have_acted', 'should_have_acted'] as const;
export type VerdictKind = (typeof VERDICT_KINDS)[number];

/**
 * A supervisor's verdict on one decision of a call, or on a stretch of the call where no rule fired. Verdicts are
 * only added (a second one on the same decision is a change of mind: the latest counts). Labels for the rules'
 * health and for training (npm run export-labels); the note is the supervisor's own words, never a transcript.
 */
export interface Verdict {
  /** Given when it is made (`vd_…`). */
  id: string;
  callSid: string;
  kind: VerdictKind;
  /** The decision judged; absent for a stretch. */
  decisionId?: string;
  /** The decision's rule, or for a stretch the rule that should have acted (absent: none named). */
  ruleId?: string;
  /** What is judged, epoch ms: the decision's turn (`from` = `to` = the time of the line that fired it), or the stretch. */
  from: number;
  to: number;
  note?: string;
  /** `supervisor:<name>`. */
  actor: string;
  /** When it was given, epoch ms. */
  at: number;
}

export interface VerdictQuery {
  /** Verdicts on what happened (`from`) at or after this time. */
  since?: number;
  /** … and before this time. */
  before?: number;
  /** At most this many, oldest `from` first (default 1,000). */
  limit?: number;
}

export interface PurgeResult {
  calls: number;
  transcriptLines: number;
  /** Audit entries of calls; the change audit (entries tied to no call) is never purged. */
  auditEntries: number;
}

/** One write of call data, as QueuedStore keeps it until the database takes it. */
export type CallDataWrite =
  | { op: 'audit'; entry: AuditEntry }
  | { op: 'transcript'; line: TranscriptLine }
  | { op: 'replaceTranscript'; line: TranscriptLine }
  | { op: 'call'; call: CallRecord };

/** Whether the store takes writes, for /readyz and /metrics. */
export interface StoreHealth {
  /** False from a write that failed for want of a database until one succeeds again. */
  up: boolean;
  /** Writes not yet in the database (held for a moment, or in the write queue file). */
  waiting: number;
  /** Writes lost because the write queue was full (since start). */
  dropped: number;
  /** Writes the database refused for their content (since start); kept in `rejected.jsonl` beside the queue. */
  rejected: number;
  /** The last failure, fit for a log or an answer: no values, no caller text. */
  lastError?: string;
}

export interface Store {
  // calls, transcripts and the audit trail
  /** Creates or updates the call (same callSid: the latest save wins). */
  saveCall(call: CallRecord): Promise<void>;
  /** `line.text` must already be redacted; the store keeps it as given and never logs it. */
  appendTranscript(line: TranscriptLine): Promise<void>;
  /**
   * Replaces the text of the call's line on `line.track` written at `line.at` (give or take a millisecond: a store
   * that keeps whole milliseconds finds it too) — a partial transcript's, when its final version arrives. Redacted text only, as
   * for appendTranscript; changes nothing when there is no such line.
   */
  replaceTranscript(line: TranscriptLine): Promise<void>;
  appendAudit(entry: AuditEntry): Promise<void>;
  getCall(callSid: string): Promise<CallRecord | undefined>;
  /** Newest first; `before` pages back by start time. */
  listCalls(options?: { limit?: number; before?: number }): Promise<CallRecord[]>;
  /** Calls not ended that `instanceId` holds (after a restart: the ones it must end or resume). */
  openCallsOf(instanceId: string): Promise<CallRecord[]>;
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

  // verdicts
  saveVerdict(verdict: Verdict): Promise<void>;
  /** The call's verdicts, in the order they were given. */
  verdicts(callSid: string): Promise<Verdict[]>;
  /** Verdicts on what happened in a period (by `from`), oldest first. */
  queryVerdicts(query: VerdictQuery): Promise<Verdict[]>;

  // retention
  /**
   * Deletes call data: calls that ended (or, never ended, started) before `epochMs`, and transcript lines and the
   * audit entries of calls (assessments, decisions, outcomes, actions on a call…) and verdicts on calls older than it.
   * Entries tied to no call (`callSid` `''`: who changed a rule or a token) are kept.
   */
  purgeBefore(epochMs: number): Promise<PurgeResult>;

  /**
   * Several writes of call data in one transaction, all or none, in order (the latest of a call's records wins).
   * Optional: one commit for many rows is what lets a database that syncs each commit keep up.
   */
  writeAll?(writes: CallDataWrite[]): Promise<void>;

  /** Stores that can be unreachable say so here (QueuedStore); absent means always up. */
  health?(): StoreHealth;

  close(): Promise<void>;
}
