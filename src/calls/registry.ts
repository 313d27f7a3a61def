// The calls this instance holds, from first word to end: creating a CallSession (once per call, across restarts),
// ending it, writing it to the store, a pause's due time, asking Twilio about calls that went quiet, the drain
// on SIGTERM and, at start-up, what the last process of this instance left. The pipeline is in monitor.ts.
// One file (just over 300 lines): all of these read and write the same map of calls and the same stored records,
// and recovery after a restart is the same creating and ending seen from the store.
import type { FastifyBaseLogger } from 'fastify';
import type { ActionExecutor } from '../actions/executor.js';
import type { Bus } from '../bus/types.js';
import type { AuditEntry, CallRecord, ResumePlan, Store } from '../store/types.js';
import { CallSession } from './call-session.js';

/** When none are given; CALL_IDLE_SECONDS's default is idleMs. */
export const REGISTRY_DEFAULTS = { endedGraceMs: 60_000, pausedCheckMs: 30_000, idleMs: 120_000 } as const;

export interface CallRegistryOptions {
  /** This instance's id: the store keeps which instance holds each call. */
  instanceId?: string;
  /** Keep ended calls this long so late callbacks are recognised and ignored. */
  endedGraceMs?: number;
  /** How often to ask Twilio whether a paused call is still there. */
  pausedCheckMs?: number;
  /** A call with no open stream and no transcription callback for this long is checked with Twilio. */
  idleMs?: number;
}

export interface CallRegistryDeps {
  executor: ActionExecutor;
  store: Store;
  bus: Bus;
  log: FastifyBaseLogger;
  /** Writes to the audit trail (the monitor waits for them in `settle`). */
  audit(entry: Omit<AuditEntry, 'at'>): void;
  /** Background work the monitor waits for in `settle`. */
  track(p: Promise<unknown>): void;
  /** The pipeline's share of ending a call: its transcribers. */
  ended(session: CallSession): void;
  /** Reopens a paused call (the pause's timer). */
  resume(callSid: string, actor: string): Promise<unknown>;
}

export class CallRegistry {
  readonly sessions = new Map<string, CallSession>();
  /** Set from SIGTERM on: no new calls, the live ones go on until they end or the deadline passes. */
  #drain?: Drain;

  constructor(
    private readonly deps: CallRegistryDeps,
    private readonly opts: CallRegistryOptions,
  ) {}

  /**
   * The call's session, created on its first stream or callback. A call the store knows already (this instance
   * restarted, or another one held it) keeps its first start, and its "call started" is not audited again.
   */
  open(callSid: string): CallSession {
    let s = this.sessions.get(callSid);
    if (s) return s;
    const session = (s = new CallSession(callSid));
    this.sessions.set(callSid, session);
    session.known = this.deps.store.getCall(callSid).then(
      (stored) => {
        if (!stored) return this.deps.audit({ kind: 'call', callSid, actor: 'twilio', data: { event: 'started' } });
        session.startedAt = stored.startedAt;
        session.customParameters = { ...stored.customParameters, ...session.customParameters };
        this.deps.audit({ kind: 'call', callSid, actor: 'system', data: { event: 'taken up again', was: stored.status, heldBy: stored.instanceId ?? null } });
        // Its stream came back here (a stream re-created after a pause or <Pay> lands where the load balancer sends
        // it): the instance that held it lets go, so that one instance decides for the call.
        const { instanceId } = this.opts;
        if (instanceId && stored.instanceId && stored.instanceId !== instanceId && stored.endedAt === undefined) {
          void this.deps.bus.request({ op: 'let-go', callSid, to: instanceId }).then((answer) => {
            if (answer.kind === 'unreachable') this.deps.log.warn({ callSid, heldBy: stored.instanceId, detail: answer.detail }, 'could not tell the instance that held the call to let go of it');
          });
        }
      },
      (err) => this.deps.log.error({ err, callSid }, 'could not read the call from the store'),
    );
    return s;
  }

  /** The call is over for takeover (not while an action of it runs, unless `evenWithActionsInFlight`). */
  end(session: CallSession, why: string, evenWithActionsInFlight = false): void {
    if (session.endedAt) return;
    // Our own handoff stops the stream before its answer is in: the call is handed off, not ended.
    if (session.actionsInFlight > 0 && !evenWithActionsInFlight) {
      session.endPending = why;
      return;
    }
    session.endedAt = Date.now();
    if (session.state !== 'handed_off') session.state = 'ended';
    clearTimeout(session.resumeTimer);
    session.pausedUntil = undefined;
    this.deps.ended(session);
    this.deps.audit({ kind: 'call', callSid: session.callSid, actor: 'system', data: { event: 'ended', why, state: session.state, counters: session.counters } });
    this.publishState(session);
    this.save(session);
    const grace = setTimeout(() => {
      if (this.sessions.get(session.callSid) !== session) return;
      this.sessions.delete(session.callSid);
      this.deps.executor.forget(session.callSid);
    }, this.opts.endedGraceMs ?? REGISTRY_DEFAULTS.endedGraceMs);
    grace.unref();
    this.#drain?.check();
  }

  /**
   * The call's stream is held by another instance now: this one forgets the call without ending it (the record is
   * the new holder's to write), stops its timers and transcribers, and audits the move.
   */
  movedTo(session: CallSession, to: string): void {
    if (session.endedAt) return;
    session.endedAt = Date.now();
    clearTimeout(session.resumeTimer);
    this.deps.ended(session);
    this.deps.audit({ kind: 'call', callSid: session.callSid, actor: 'system', data: { event: 'moved', to } });
    this.sessions.delete(session.callSid);
    this.deps.executor.forget(session.callSid);
    this.#drain?.check();
  }

  publishState(session: CallSession): void {
    const { pausedUntil } = session;
    this.deps.bus.publish({ type: 'call', callSid: session.callSid, state: session.state, degraded: session.degraded, ...(pausedUntil !== undefined ? { pausedUntil } : {}), at: Date.now() });
  }

  /** Writes the call as it is now, with the instance that holds it and, while paused, its due time and resume plan. */
  save(session: CallSession): void {
    const paused = session.state === 'paused' && session.endedAt === undefined;
    const plan = paused ? this.deps.executor.pausePlan(session.callSid) : undefined;
    const record: Omit<CallRecord, 'startedAt' | 'customParameters'> = {
      callSid: session.callSid,
      from: session.from,
      to: session.to,
      endedAt: session.endedAt,
      status: session.state,
      instanceId: this.opts.instanceId,
      pausedUntil: paused ? session.pausedUntil : undefined,
      resume: plan && { ...plan, transcription: plan.transcription && { ...plan.transcription, sid: session.transcription?.sid } },
    };
    // Once the store has said whether it knew the call: a call taken up again keeps its first start.
    this.deps.track(session.known.then(() => this.deps.store.saveCall({ ...record, startedAt: session.startedAt, customParameters: session.customParameters })));
  }

  // ---- pauses ----------------------------------------------------------------------------

  /** The pause went through: its due time (none: a supervisor resumes it) and resume plan are stored, the timer set. */
  pauseDone(session: CallSession, resumeAfterMs: number | undefined): void {
    session.pausedUntil = resumeAfterMs === undefined ? undefined : Date.now() + resumeAfterMs;
    this.#armResume(session);
    this.save(session);
    this.publishState(session);
    this.#drain?.check();
  }

  /** The call is no longer paused (resumed, or back from secure capture). */
  unpaused(session: CallSession): void {
    clearTimeout(session.resumeTimer);
    session.pausedAt = undefined;
    session.pausedUntil = undefined;
  }

  /** Resumes the paused call at its due time. Not while draining: the due time is stored for the next start. */
  #armResume(session: CallSession): void {
    clearTimeout(session.resumeTimer);
    if (session.pausedUntil === undefined || this.#drain) return;
    session.resumeTimer = setTimeout(() => void this.deps.resume(session.callSid, 'timer'), Math.max(0, session.pausedUntil - Date.now()));
    session.resumeTimer.unref();
  }

  // ---- calls that may be over without telling us ----------------------------------------------

  /** Once a second: asks Twilio about paused calls now and then, and about calls with no stream that went quiet. */
  checkLiveness(now: number): void {
    for (const session of this.sessions.values()) {
      if (session.endedAt) continue;
      if (session.state === 'paused') this.#checkPausedCall(session, now);
      else if (session.openStreams.length === 0) this.#checkIdleCall(session, now);
    }
    this.#drain?.check();
  }

  /**
   * A paused call has no stream to tell us the caller hung up, so ask Twilio now and then: a call that is
   * over ends here too (and its pause with it).
   */
  #checkPausedCall(session: CallSession, now: number): void {
    const every = this.opts.pausedCheckMs ?? REGISTRY_DEFAULTS.pausedCheckMs;
    if (now - (session.pausedAt ?? now) < every || now - session.lastLivenessCheck < every) return;
    session.lastLivenessCheck = now;
    this.deps.track(
      this.deps.executor.isLive(session.callSid).then((live) => {
        if (!live && session.state === 'paused') this.end(session, 'call ended while paused');
      }),
    );
  }

  /**
   * A call with no stream (one rebuilt from transcription callbacks after a restart) that has been quiet for a
   * while: ask Twilio whether it is still there, and end it here when it is not.
   */
  #checkIdleCall(session: CallSession, now: number): void {
    const idle = this.opts.idleMs ?? REGISTRY_DEFAULTS.idleMs;
    if (now - session.lastHeardAt < idle || now - session.lastLivenessCheck < idle || session.actionsInFlight > 0) return;
    session.lastLivenessCheck = now;
    this.deps.track(
      this.deps.executor.isLive(session.callSid).then((live) => {
        if (!live && session.openStreams.length === 0 && session.state !== 'paused') {
          this.end(session, `no stream and no transcription callback for ${Math.round(idle / 1000)} s, and Twilio has ended the call`);
        }
      }),
    );
  }

  // ---- shutdown and restarts -----------------------------------------------------------------

  /** True from the start of a drain (SIGTERM): this instance takes no new call. */
  get draining(): boolean {
    return this.#drain !== undefined;
  }

  /** Seconds a caller turned away during a drain should wait (Retry-After). */
  get drainSecondsLeft(): number {
    return this.#drain?.secondsLeft ?? 0;
  }

  /** Whether a stream or callback for `callSid` (unknown: a new stream) is served: during a drain, only for calls held here. */
  accepts(callSid: string | undefined): boolean {
    return !this.#drain || (callSid !== undefined && this.sessions.has(callSid));
  }

  /**
   * Takes no new call from now on and resolves when every call held here has ended, or `ms` has passed. A paused
   * call does not hold the drain up: its due time is in the store, and the next start of this instance resumes it.
   */
  drain(ms: number): Promise<void> {
    if (!this.#drain) {
      this.#drain = new Drain(ms, () => [...this.sessions.values()].every((s) => s.endedAt !== undefined || this.#handedOverPause(s)));
      for (const session of this.sessions.values()) clearTimeout(session.resumeTimer);
      this.deps.log.info({ calls: [...this.sessions.values()].filter((s) => !s.endedAt).length, seconds: ms / 1000 }, 'draining: no new calls');
    }
    this.#drain.check();
    return this.#drain.done;
  }

  /**
   * A paused call left to the store: its due time or a supervisor resumes it. Not one in a secure capture flow:
   * the caller comes back through this instance's /twilio/secure-capture, so the drain waits for it.
   */
  #handedOverPause(s: CallSession): boolean {
    return s.state === 'paused' && s.actionsInFlight === 0 && !this.deps.executor.pausePlan(s.callSid)?.returnUrl;
  }

  /**
   * At start-up: the calls the store says this instance held and never ended died with its last process. A paused
   * one is taken over (resumed at its due time: stream, transcription and recording re-created); the others are
   * ended on record. Calls of other instances are never touched.
   */
  async recover(): Promise<{ ended: number; pausesTakenOver: number }> {
    const { instanceId } = this.opts;
    if (!instanceId) return { ended: 0, pausesTakenOver: 0 };
    return this.takeOverCallsOf(instanceId, 'its instance stopped before the call ended (found at start-up)');
  }

  /**
   * The calls the store says `instanceId` holds and never ended, which no longer have an instance (this one's last
   * process, or another instance that stopped sending heartbeats): a paused one is taken over here (resumed at its
   * due time), the others are ended on record, `why` in the audit.
   */
  async takeOverCallsOf(instanceId: string, why: string): Promise<{ ended: number; pausesTakenOver: number }> {
    const open = await this.deps.store.openCallsOf(instanceId);
    let ended = 0;
    let pausesTakenOver = 0;
    for (const record of open) {
      // A callback of the call got here first: it is held again already.
      if (this.sessions.has(record.callSid)) continue;
      if (recoveryOf(record) === 'take-over-pause') {
        this.#takeOverPause(record);
        pausesTakenOver++;
      } else {
        const state = record.status === 'handed_off' ? 'handed_off' : 'ended';
        const endedAt = Date.now();
        this.deps.track(this.deps.store.saveCall({ ...record, status: state, endedAt, pausedUntil: undefined, resume: undefined }));
        this.deps.audit({ kind: 'call', callSid: record.callSid, actor: 'system', data: { event: 'ended', why, state, heldBy: instanceId } });
        this.deps.bus.publish({ type: 'call', callSid: record.callSid, state, at: endedAt });
        ended++;
      }
    }
    return { ended, pausesTakenOver };
  }

  /** A pause stored by this instance's previous process: held here now, and resumed at its due time. */
  #takeOverPause(record: CallRecord): void {
    const plan = record.resume!;
    const session = new CallSession(record.callSid);
    session.startedAt = record.startedAt;
    session.customParameters = record.customParameters;
    session.gate.close();
    session.state = 'paused';
    session.pausedAt = Date.now();
    session.pausedUntil = record.pausedUntil;
    this.deps.executor.restorePause(record.callSid, {
      streams: plan.streams,
      transcription: plan.transcription && withoutSid(plan.transcription),
      returnUrl: plan.returnUrl,
      recordingPaused: plan.recordingPaused,
    });
    this.sessions.set(record.callSid, session);
    this.deps.audit({ kind: 'call', callSid: record.callSid, actor: 'system', data: { event: 'pause taken over after a restart', heldBy: record.instanceId ?? null, pausedUntil: record.pausedUntil ?? null } });
    this.#armResume(session);
    this.save(session);
    this.publishState(session);
  }

  /**
   * Stops the timers. Calls still live here are ended on record (their streams go with the process); a paused
   * call keeps its stored due time, for the next start of this instance to resume.
   */
  close(): void {
    for (const session of this.sessions.values()) {
      clearTimeout(session.resumeTimer);
      if (!session.endedAt && session.state !== 'paused') this.end(session, 'the instance stopped', true);
    }
  }
}

function withoutSid({ sid: _stopped, ...spec }: NonNullable<ResumePlan['transcription']>) {
  return spec;
}

/**
 * A call the store says this instance held and never ended: its stream died with the process. A paused call
 * whose resume can be re-created (stream, transcription, recording) is taken over and resumed on time; any
 * other is over for takeover.
 */
function recoveryOf(record: CallRecord): 'take-over-pause' | 'end' {
  return record.status === 'paused' && record.resume ? 'take-over-pause' : 'end';
}

/**
 * From SIGTERM until every live call has ended (`isOver`) or the deadline passes. `check` is called whenever a
 * call ends or pauses; the deadline settles it regardless.
 */
export class Drain {
  readonly deadline: number;
  readonly done: Promise<void>;
  #resolve!: () => void;
  readonly #timer: NodeJS.Timeout;

  constructor(
    ms: number,
    private readonly isOver: () => boolean,
  ) {
    this.deadline = Date.now() + ms;
    this.done = new Promise((r) => (this.#resolve = r));
    this.#timer = setTimeout(() => this.#resolve(), ms);
    void this.done.then(() => clearTimeout(this.#timer));
  }

  check(): void {
    if (this.isOver()) this.#resolve();
  }

  /** Whole seconds until the deadline (at least 1): a Retry-After for whoever this instance turns away. */
  get secondsLeft(): number {
    return Math.max(1, Math.ceil((this.deadline - Date.now()) / 1000));
  }
}
