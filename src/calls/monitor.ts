// The call pipeline (design.md data flow): stream events and Utterances in; privacy gate, classification,
// rules and actions in order; live events, redacted transcripts and the audit trail out. What the rules decide is
// pipeline.ts (pure, shared with the dry run), a call's life across restarts registry.ts, how its stream and
// transcription are re-created call-handle.ts; what is left is one file
// because streams, transcripts and actions all act on the same gate and the same pending work (settle, close).
import type { FastifyBaseLogger } from 'fastify';
import type { ActionExecutor, ActionOutcome, HandoffBrief } from '../actions/executor.js';
import type { HandoffSummarizer } from '../classification/summary.js';
import type { Metrics } from '../metrics.js';
import type { StreamSpec, TranscriptionSpec } from '../actions/twilio-rest.js';
import type { Bus, SupervisorCommand } from '../bus/types.js';
import { redactTurns } from '../classification/redact.js';
import type { Decided, Decision } from '../rules/decide.js';
import type { AssessedTurn } from '../rules/evaluate.js';
import type { RuleBook } from '../rules/rule-book.js';
import type { Action } from '../rules/schema.js';
import type { AuditEntry, Store, TranscriptLine } from '../store/types.js';
import type { TranscriberFactory, TranscriberHealth } from '../transcription/transcriber.js';
import type { StreamAdmission as MediaStreamAdmission, StreamNotice, StreamRefusal, StreamSink, StreamStart } from '../media/stream-sink.js';
import type { Assessment, Classifier, Track, Utterance } from '../types.js';
import { callHandle, recreates } from './call-handle.js';
import { CallSession } from './call-session.js';
import { CallRegistry, type CallRegistryOptions } from './registry.js';
import { contextOf, hear, judged, paused, rearmed, remember, resumed, tick, TICK_MS, withDegraded, WITHHELD, type CallFrame, type Step } from './pipeline.js';
import { now as clock } from '../clock.js';

export { WITHHELD } from './pipeline.js';

/** With the registry's: ended-call grace, paused-call checks, instance id, idle time (registry.ts). */
export interface MonitorOptions extends CallRegistryOptions {
  /** wss URL of /media-stream (re-created streams use it). */
  mediaStreamUrl: string;
  /** https URL of /twilio/transcription (re-created transcriptions post there). */
  transcriptionCallbackUrl: string;
  streamName: string;
  /** How long a call's transcribers may still deliver after its stream stopped. */
  transcriberDrainMs?: number;
}

type StreamAdmission = MediaStreamAdmission<CallSession>;

export class CallMonitor implements StreamSink<CallSession> {
  /** Creating, ending and storing calls, pause deadlines, the drain and start-up recovery. */
  readonly #calls: CallRegistry;
  readonly #sessions: Map<string, CallSession>;
  readonly #streamToCall = new Map<string, string>();
  readonly #pending = new Set<Promise<unknown>>();
  /** Per call, which transcription sources are down now, and why. */
  readonly #down = new WeakMap<CallSession, Map<Track | 'provider', string>>();
  readonly #ticker: NodeJS.Timeout;

  constructor(
    private readonly deps: {
      classifier: Classifier;
      rules: RuleBook;
      executor: ActionExecutor;
      store: Store;
      bus: Bus;
      log: FastifyBaseLogger;
      transcribers: TranscriberFactory;
      summarizer: HandoffSummarizer;
      metrics?: Metrics;
    },
    private readonly opts: MonitorOptions,
  ) {
    this.#calls = new CallRegistry(
      {
        ...deps,
        audit: (entry) => this.#audit(entry),
        track: (p) => this.#track(p),
        ended: (session) => this.#closeTranscribersSoon(session),
        resume: (callSid, actor) => this.resume(callSid, actor),
      },
      opts,
    );
    this.#sessions = this.#calls.sessions;
    this.#ticker = setInterval(() => this.tick(), TICK_MS);
    this.#ticker.unref();
  }

  get sessions(): ReadonlyMap<string, CallSession> {
    return this.#sessions;
  }

  session(callSid: string): CallSession | undefined {
    return this.#sessions.get(callSid);
  }

  // ---- media (from src/media) -------------------------------------------------------------

  /**
   * A stream belongs to its call: one live stream per call, each streamSid once. A stream that would join a call
   * that has a live one, reuse a streamSid, or join a call whose stream stopped without being the one takeover
   * re-creates (same path and parameters) is refused and changes nothing (no session, audio or parameters).
   * (src/media refuses another account's stream before it gets here.)
   */
  streamStarted(s: StreamStart): StreamAdmission {
    if (this.#streamSeen(s.streamSid)) return this.streamRefused(s, 'stream reused');
    const existing = this.#sessions.get(s.callSid);
    if (existing && existing.openStreams.length > 0) return this.streamRefused(s, 'second stream');
    if (existing?.state === 'ended' || existing?.state === 'handed_off') return { accepted: false, why: 'call not monitored' };
    // Once its stream has stopped (a pause), a call takes only the one takeover re-creates: same URL and parameters.
    if (existing && existing.streams.size > 0 && !recreates(existing, s)) return this.streamRefused(s, 'not a re-created stream');
    const session = existing ?? this.#sessionFor(s.callSid);
    if (session.streams.size === 0) session.customParameters = { ...session.customParameters, ...s.customParameters };
    session.streams.set(s.streamSid, { streamSid: s.streamSid, tracks: s.tracks, customParameters: s.customParameters, path: s.path, open: true });
    this.#streamToCall.set(s.streamSid, s.callSid);
    if (session.gate.isOpen) this.#openTranscribers(session, s.tracks);
    this.deps.log.info({ callSid: s.callSid, streamSid: s.streamSid, tracks: s.tracks }, 'stream started');
    this.#saveCall(session);
    // Announced at once: dashboards show the call from its first moment, and a Twilio callback about it that landed on
    // another instance before the stream did is handed over now (src/holders.ts).
    this.#publishState(session);
    return { accepted: true, session };
  }

  /** Counts, audits and logs (SIDs only, never parameters) a stream that may not join the call it names. */
  streamRefused(s: Pick<StreamStart, 'callSid' | 'streamSid'>, why: StreamRefusal): StreamAdmission {
    this.deps.metrics?.streamsRefused.inc({ reason: why });
    this.#audit({ kind: 'call', callSid: s.callSid, actor: 'twilio', data: { event: 'stream refused', reason: why, streamSid: s.streamSid } });
    this.deps.log.warn({ callSid: s.callSid, streamSid: s.streamSid, reason: why }, 'refused a Media Stream');
    return { accepted: false, why };
  }

  /** Whether a call still held here (live, or ended within the grace period) has had a stream of that SID. */
  #streamSeen(streamSid: string): boolean {
    if (this.#streamToCall.has(streamSid)) return true;
    for (const session of this.#sessions.values()) if (session.streams.has(streamSid)) return true;
    return false;
  }

  /** The hot path: one 20 ms frame. No allocation beyond the provider's own. */
  streamMedia(session: CallSession, track: Track, payload: string, timestampMs: number): void {
    session.counters.frames++;
    if (!session.gate.admitFrame()) return;
    session.transcribers.get(track)?.pushAudio(payload, timestampMs);
  }

  /** A frame without audio: counted on the call (dashboard, metrics). */
  streamNoticed(session: CallSession, notice: StreamNotice): void {
    if (notice === 'bad frame') session.counters.badFrames++;
    else if (notice === 'dtmf') session.counters.dtmf++;
    else session.counters.marks++;
  }

  streamStopped(streamSid: string): void {
    const callSid = this.#streamToCall.get(streamSid);
    if (!callSid) return;
    this.#streamToCall.delete(streamSid);
    const session = this.#sessions.get(callSid);
    const stream = session?.streams.get(streamSid);
    if (!session || !stream) return;
    stream.open = false;
    this.deps.log.info({ callSid, streamSid }, 'stream stopped');
    if (session.openStreams.length === 0) {
      // A pause closed them already; otherwise transcripts of the last words may still be on their way.
      this.#closeTranscribersSoon(session);
      // A paused call stopped its own stream and will create it again; any other call is over for us.
      if (session.state !== 'paused') this.#end(session, 'stream stopped');
    }
  }

  // ---- transcripts (from src/transcription) ------------------------------------------------

  /**
   * Twilio real-time transcription started, runs (a content callback) or stopped for a call, learnt from its
   * callbacks. After a restart only content callbacks come: they tell which transcription a pause must stop.
   */
  transcriptionStatus(callSid: string, event: 'started' | 'running' | 'stopped', sid: string, track?: string): void {
    const session = this.#sessions.get(callSid) ?? (event !== 'stopped' ? this.#sessionFor(callSid) : undefined);
    if (!session) return;
    session.lastHeardAt = Date.now();
    if (event === 'started') session.transcription = { sid, track };
    else if (event === 'running') session.transcription ??= { sid };
    else if (!session.transcription || session.transcription.sid === sid) {
      if (session.state !== 'paused' && session.openStreams.length === 0) this.#end(session, 'transcription stopped');
    }
  }

  /**
   * A transcriber (one per track) or the provider as a whole (`source` left out) went down or came back.
   * The call is degraded while any of them is down.
   */
  transcriberHealth(callSid: string, health: TranscriberHealth, source: Track | 'provider' = 'provider'): void {
    const session = this.#sessions.get(callSid);
    if (!session) return;
    let down = this.#down.get(session);
    if (!down) this.#down.set(session, (down = new Map()));
    if (health.state === 'degraded') down.set(source, health.reason);
    else down.delete(source);
    const degraded = down.values().next().value;
    if (degraded === session.degraded) return;
    session.degraded = degraded;
    this.#audit({ kind: 'transcriber', callSid, actor: 'system', data: health });
    session.rules = withDegraded(session.rules, degraded !== undefined);
    this.deps.bus.publish({ type: 'call', callSid, state: session.state, degraded, at: Date.now() });
    if (degraded) this.#apply(session, tick(this.#frame(session), session.rules, Date.now()));
  }

  /** Time-based rules (silence): evaluated for every monitored call, once a second. */
  tick(now = Date.now()): void {
    for (const session of this.#sessions.values()) {
      if (session.state === 'monitoring' && session.gate.isOpen) this.#apply(session, tick(this.#frame(session), session.rules, now));
    }
    this.#calls.checkLiveness(now);
  }

  /** A transcript a provider's route kept from the call (heard before or during a pause that has ended since). */
  utteranceWithheld(callSid: string): void {
    const session = this.#sessions.get(callSid);
    if (session) session.counters.utterancesDropped++;
  }

  /**
   * One transcript from any provider. Dropped, untouched, while the call's gate is closed; discarded
   * if the gate moved while it was being classified.
   */
  async utterance(u: Utterance): Promise<void> {
    const session = this.#sessions.get(u.callSid) ?? this.#sessionFor(u.callSid);
    if (!session.gate.isOpen) {
      session.counters.utterancesDropped++;
      return;
    }
    const text = u.text.trim();
    if (text === '') return;
    if (session.state !== 'monitoring') {
      // Words still in flight when the call ended or was handed off: kept for the record, judged by no rule.
      if (u.final && (session.state === 'ended' || session.state === 'handed_off')) this.#record(session, u, text);
      return;
    }
    const epoch = session.gate.epoch;
    const at = u.receivedAt;
    const context = contextOf(session.rules);
    let assessment;
    if (u.track === 'inbound' && judged(text, u.final)) {
      try {
        assessment = await this.deps.classifier.classify({ callSid: u.callSid, text, track: u.track, final: u.final, context });
      } catch (err) {
        // The turn still counts (phrase and silence rules, the transcript); only the assessment is missing.
        session.counters.classifierErrors++;
        this.deps.log.warn({ callSid: u.callSid, err: (err as Error).name, kind: (err as { kind?: string }).kind }, 'classifier failed on an utterance');
      }
      if (!session.gate.admits(epoch) || session.state !== 'monitoring') {
        session.counters.utterancesDropped++;
        return;
      }
    }
    const assessedAt = clock();
    const step = hear(this.#frame(session), session.rules, { track: u.track, text, final: u.final, at, assessment }, clock(), {
      utteranceEndMs: u.endMs,
      transcriptAt: at,
      assessedAt,
    });
    session.rules = step.state;
    if (!step.heard) return;
    const fired = step.decided.act !== undefined || step.decided.recorded.length > 0;
    // Every final caller turn's assessment is on record (numbers and cues, never text): the trend survives a reload.
    // A partial's only when it fired a rule.
    if (assessment && (u.final || fired)) this.#auditAssessment(session, assessment);
    // Rules first: if this very utterance pauses the call, its text goes no further than the classifier.
    this.#apply(session, step);
    // Redacted with its context: a card read out a few digits per turn is only recognisable across turns.
    const shown = step.withheld ? WITHHELD : redactTurns([...context, { track: u.track, text }]).at(-1)!.text;
    this.deps.bus.publish({ type: 'utterance', callSid: u.callSid, track: u.track, text: shown, final: u.final, at });
    if (assessment) {
      const { frustration, sentiment, wantsHuman, sensitive, source } = assessment;
      this.deps.bus.publish({ type: 'assessment', callSid: u.callSid, frustration, sentiment, wantsHuman, sensitive, source, at: assessedAt });
    }
    // A partial that decided something is kept (a replay of the call must hear it): its final replaces it.
    if (u.final || fired) this.#store(session, { callSid: u.callSid, at, track: u.track, text: shown }, !u.final && !step.withheld, epoch);
  }

  #record(session: CallSession, u: Utterance, text: string): void {
    const shown = redactTurns([...contextOf(session.rules), { track: u.track, text }]).at(-1)!.text;
    session.rules = remember(session.rules, { at: u.receivedAt, track: u.track, text });
    this.deps.bus.publish({ type: 'utterance', callSid: u.callSid, track: u.track, text: shown, final: true, at: u.receivedAt });
    this.#store(session, { callSid: u.callSid, at: u.receivedAt, track: u.track, text: shown }, false);
  }

  /**
   * Writes a transcript line. A partial's line (one that decided something) is replaced by the next line of its
   * track, its final version, unless the gate moved meanwhile (the words after a resume are another utterance).
   * `replaceable`: a partial's line, which the final version replaces (never the withheld marker). `epoch`: the gate's
   * when the utterance was heard (the marker of a pause it caused replaces that utterance's earlier partial line).
   */
  #store(session: CallSession, line: TranscriptLine, replaceable: boolean, epoch = session.gate.epoch): void {
    const earlier = session.partialLines.get(line.track);
    session.partialLines.delete(line.track);
    let written: Promise<void>;
    if (earlier && earlier.epoch === epoch) {
      // The line keeps the time it was first heard: when the decision was taken.
      written = earlier.written.then(() => this.deps.store.replaceTranscript({ ...line, at: earlier.at }));
      line = { ...line, at: earlier.at };
    } else {
      written = this.deps.store.appendTranscript(line);
    }
    this.#track(written);
    if (replaceable) session.partialLines.set(line.track, { at: line.at, epoch: session.gate.epoch, written: written.catch(() => undefined) });
  }

  // ---- decisions -------------------------------------------------------------------------

  /** A supervisor's action: the same execution guarantees as a rule's. */
  manual(callSid: string, action: Action, actor: string, reason = 'supervisor'): Promise<{ result: string; detail: string }> {
    const session = this.#sessions.get(callSid);
    if (!session) return Promise.resolve({ result: 'skipped', detail: 'no live call with that SID' });
    const now = Date.now();
    const decision: Decision = {
      id: `${callSid}:manual:${now}:${Math.random().toString(36).slice(2, 8)}`,
      callSid,
      ruleId: 'manual',
      origin: 'manual',
      mode: 'enforce',
      action,
      reason,
      actor,
      timings: { transcriptAt: now, assessedAt: now, decidedAt: now },
    };
    return this.#act(session, decision, undefined);
  }

  /** Runs a supervisor's command on a call this instance holds (from the API here, or from another instance). */
  command(command: SupervisorCommand): Promise<{ result: string; detail: string }> {
    return command.op === 'resume'
      ? this.resume(command.callSid, command.actor)
      : this.manual(command.callSid, command.action, command.actor, command.reason);
  }

  /** Reopens a paused call now (a supervisor, or the pause's timer). */
  resume(callSid: string, actor: string): Promise<{ result: string; detail: string }> {
    if (this.#calls.draining) {
      // The re-created stream would come back to an instance that turns streams away; the due time is stored.
      return Promise.resolve({ result: 'skipped', detail: 'this instance is shutting down: the call resumes at its due time on the next start, or by a supervisor then' });
    }
    const held = this.#sessions.get(callSid);
    if (held) clearTimeout(held.resumeTimer);
    return this.deps.executor.resume(callSid, actor, () => {
      const session = this.#sessions.get(callSid);
      if (!session) return;
      session.gate.open();
      session.rules = resumed(session.rules);
      session.state = 'monitoring';
      this.#calls.unpaused(session);
      this.#saveCall(session);
      // The re-created stream may have started while the gate was still closed, and got no transcribers then.
      for (const stream of session.openStreams) this.#openTranscribers(session, stream.tracks);
      this.#audit({ kind: 'gate', callSid, actor, data: { open: true, reason: 'resumed' } });
      this.deps.bus.publish({ type: 'gate', callSid, open: true, reason: 'resumed', by: actor, at: Date.now() });
      this.#publishState(session);
    });
  }

  /**
   * Twilio finished a paused call's secure capture flow: reopen the gate and answer with the TwiML that
   * starts the stream again and returns the caller to the agent (none if the call is not in one). A replay of a request
   * already taken (same `requestId`) changes nothing.
   */
  secureCaptureDone(callSid: string, requestId: string): { replayed: boolean; twiml?: string } {
    const taken = this.#sessions.get(callSid)?.callbacksTaken;
    if (taken?.has(requestId)) return { replayed: true };
    taken?.add(requestId);
    const twiml = this.deps.executor.captureReturn(callSid, 'secure-capture', () => {
      const session = this.#sessions.get(callSid);
      if (!session) return;
      session.gate.open();
      session.rules = resumed(session.rules);
      session.state = 'monitoring';
      this.#calls.unpaused(session);
      this.#saveCall(session);
      this.#audit({ kind: 'gate', callSid, actor: 'secure-capture', data: { open: true, reason: 'secure capture finished' } });
      this.deps.bus.publish({ type: 'gate', callSid, open: true, reason: 'secure capture finished', by: 'secure-capture', at: Date.now() });
      this.#publishState(session);
    });
    return { replayed: false, twiml };
  }

  /** Waits for store writes and actions in flight (tests, shutdown). */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /**
   * Stops the pipeline. Calls still live here are ended on record (their streams go with the process); a paused
   * call keeps its stored due time, for the next start of this instance to resume.
   */
  async close(): Promise<void> {
    clearInterval(this.#ticker);
    this.#calls.close();
    await Promise.allSettled([...this.#sessions.values()].map((s) => this.#closeTranscribers(s)));
    await this.settle();
  }

  // ---- restarts and shutdown (registry.ts) ---------------------------------------------------

  /** True from the start of a drain (SIGTERM): this instance takes no new call. */
  get draining(): boolean {
    return this.#calls.draining;
  }

  /** Seconds a caller turned away during a drain should wait (Retry-After). */
  get drainSecondsLeft(): number {
    return this.#calls.drainSecondsLeft;
  }

  /** Whether a stream or callback for `callSid` (unknown: a new stream) is served: during a drain, only for calls held here. */
  accepts(callSid: string | undefined): boolean {
    return this.#calls.accepts(callSid);
  }

  /** No new calls from now on; resolves when the calls held here have ended (paused ones aside) or `ms` has passed. */
  drain(ms: number): Promise<void> {
    return this.#calls.drain(ms);
  }

  /** Another instance (`to`) holds the call's stream now: this one forgets the call, without ending it. */
  letGo(callSid: string, to: string): Promise<{ result: string; detail: string }> | undefined {
    const session = this.#sessions.get(callSid);
    if (!session) return undefined;
    this.#calls.movedTo(session, to);
    return Promise.resolve({ result: 'let go', detail: `the call is held by ${to} now` });
  }

  /** Another instance stopped sending heartbeats: ends the calls it left open, and takes over its pauses. */
  takeOverCallsOf(instanceId: string): Promise<{ ended: number; pausesTakenOver: number }> {
    return this.#calls.takeOverCallsOf(instanceId, 'its instance stopped sending heartbeats before the call ended');
  }

  /** At start-up: ends the calls this instance's last process left open, and takes over its pauses. */
  recover(): Promise<{ ended: number; pausesTakenOver: number }> {
    return this.#calls.recover();
  }

  /** The rules as this call sees them now: its scope attributes and the running rule set. */
  #frame(session: CallSession): CallFrame {
    return { callSid: session.callSid, call: { to: session.to, from: session.from, customParameters: session.customParameters }, rules: this.deps.rules.rules };
  }

  /** Takes a step's new state and runs what it decided: the decisions only recorded, then the one that acts. */
  #apply(session: CallSession, step: Step): void {
    session.rules = step.state;
    const { act, recorded }: Decided = step.decided;
    for (const { decision, note } of recorded) {
      this.#recordDecision(decision, note);
      if (note !== 'outranked') this.#track(this.deps.executor.execute(decision, callHandle(session, this.opts)).then((o) => this.#publishOutcome(decision, o)));
    }
    if (act) void this.#act(session, act, step.turn);
  }

  /** Runs a decision. A pause closes the gate here, synchronously, before anything else can pass. */
  #act(session: CallSession, decision: Decision, turn: AssessedTurn | undefined): Promise<{ result: string; detail: string }> {
    const { action } = decision;
    if (action.type === 'pause' && session.state === 'monitoring') {
      session.gate.close();
      session.rules = paused(session.rules, action, decision.timings.decidedAt);
      session.state = 'paused';
      void this.#closeTranscribers(session);
      this.#audit({ kind: 'gate', callSid: session.callSid, actor: decision.actor, decisionId: decision.id, data: { open: false, reason: decision.reason } });
      this.deps.bus.publish({ type: 'gate', callSid: session.callSid, open: false, reason: decision.reason, by: decision.actor, at: Date.now() });
      session.pausedAt = Date.now();
      this.#publishState(session);
      this.#saveCall(session);
    }
    this.#recordDecision(decision);
    session.actionsInFlight++;
    const brief = action.type === 'handoff' ? () => this.#brief(session, decision, turn) : undefined;
    const run = this.deps.executor.execute(decision, callHandle(session, this.opts), brief).then((outcome) => {
      session.actionsInFlight--;
      this.#publishOutcome(decision, outcome);
      this.deps.metrics?.outcomes.inc({ action: action.type, result: outcome.result });
      const { requestSentAt, transcriptAt } = decision.timings;
      if (requestSentAt !== undefined && decision.origin === 'rule') this.deps.metrics?.decisionSeconds.observe((requestSentAt - transcriptAt) / 1000);
      this.#afterOutcome(session, decision, outcome);
      if (session.endPending && session.actionsInFlight === 0 && session.state !== 'paused' && session.openStreams.length === 0) {
        this.#end(session, session.endPending);
      }
      this.deps.log.info(
        { callSid: session.callSid, decisionId: decision.id, action: action.type, result: outcome.result, ms: (decision.timings.answeredAt ?? Date.now()) - decision.timings.transcriptAt },
        'decision executed',
      );
      return outcome;
    });
    this.#track(run);
    return run;
  }

  #afterOutcome(session: CallSession, decision: Decision, outcome: ActionOutcome): void {
    const { action } = decision;
    const { result } = outcome;
    if (result === 'gone') return this.#end(session, 'call ended before the action');
    if (result === 'failed') return this.#failed(session, decision, outcome);
    if (result !== 'done') return;
    if (action.type === 'handoff') {
      session.state = 'handed_off';
      this.#publishState(session);
      this.#saveCall(session);
    } else if (action.type === 'end_call') {
      this.#end(session, 'ended by takeover');
    } else if (action.type === 'pause' && session.state === 'paused') {
      this.#calls.pauseDone(session, !action.secureCapture && action.resumeAfterSeconds > 0 ? action.resumeAfterSeconds * 1000 : undefined);
    }
  }

  /**
   * An action failed after all its retries: the rule is re-armed (the caller's next trigger tries again), and the
   * failure is loud: an error log, a metric and an alert for supervisors. A failed pause keeps the gate closed
   * (nothing the caller says reaches anything) and is a privacy alert: Twilio may still be recording.
   */
  #failed(session: CallSession, decision: Decision, outcome: ActionOutcome): void {
    const { callSid } = session;
    const action = decision.action.type;
    const f = outcome.failure;
    session.rules = rearmed(session.rules, decision);
    const privacy = action === 'pause' && !session.gate.isOpen;
    const what = action === 'handoff' ? 'handoff' : action === 'end_call' ? 'ending the call' : action === 'pause' ? 'pause' : action;
    const why = f ? `${f.summary}${f.attempts > 0 ? ` (${f.step})` : ''}` : outcome.detail;
    const reason = privacy
      ? `${what} failed: Twilio's recording and transcription may still be running; ${why}. Transcription stays paused here until a supervisor resumes the call or pauses it again`
      : `${what} failed: ${why}${decision.origin === 'rule' ? '; the rule will act again on the next trigger' : ''}`;
    this.deps.metrics?.actionFailures.inc({ action, code: String(f?.code ?? f?.status ?? f?.network ?? 'not_sent') });
    this.deps.log.error(
      { callSid, decisionId: decision.id, action, alert: privacy ? 'privacy' : 'action', step: f?.step, attempts: f?.attempts, status: f?.status, code: f?.code, network: f?.network },
      privacy ? 'privacy pause failed: Twilio may still be recording or transcribing the call' : 'action on the call failed',
    );
    this.deps.bus.publish({ type: 'alert', callSid, kind: privacy ? 'privacy' : 'action', action, decisionId: decision.id, reason, at: Date.now() });
  }

  #auditAssessment(session: CallSession, assessment: Assessment): void {
    this.#audit({
      kind: 'assessment',
      callSid: session.callSid,
      actor: `classifier:${assessment.source}`,
      data: {
        frustration: assessment.frustration,
        sentiment: assessment.sentiment,
        wantsHuman: assessment.wantsHuman,
        sensitive: assessment.sensitive,
        intent: assessment.intent,
        triggers: assessment.triggers,
        confidence: assessment.confidence,
        latencyMs: assessment.latencyMs,
        promptVersion: assessment.promptVersion,
        fallback: assessment.fallback,
      },
    });
  }

  #recordDecision(decision: Decision, note?: string): void {
    this.deps.metrics?.decisions.inc({ action: decision.action.type, mode: decision.mode });
    this.#audit({
      kind: 'decision',
      callSid: decision.callSid,
      actor: decision.actor,
      decisionId: decision.id,
      data: { ruleId: decision.ruleId, mode: decision.mode, action: decision.action, reason: decision.reason, note, timings: decision.timings },
    });
    this.deps.bus.publish({
      type: 'decision',
      callSid: decision.callSid,
      decisionId: decision.id,
      ruleId: decision.ruleId,
      action: decision.action.type,
      mode: decision.mode,
      reason: decision.reason,
      note,
      at: decision.timings.decidedAt,
    });
  }

  #publishOutcome(decision: Decision, outcome: { result: string; detail: string }): void {
    this.deps.bus.publish({ type: 'outcome', callSid: decision.callSid, decisionId: decision.id, result: outcome.result, detail: outcome.detail, at: Date.now() });
  }

  /** `turn` is the utterance that fired the rule; a partial one is not in the history yet but belongs in the brief. */
  async #brief(session: CallSession, decision: Decision, turn: AssessedTurn | undefined): Promise<HandoffBrief> {
    const recent = turn && session.turns.at(-1) !== turn ? [...session.turns, turn] : session.turns;
    const turns = recent.slice(-8).map((t) => ({ track: t.track, text: t.text }));
    const summary = await this.deps.summarizer.summarize(decision.reason, turns);
    if (summary.fallback) this.#audit({ kind: 'decision', callSid: session.callSid, actor: 'system', decisionId: decision.id, data: { summary: summary.fallback } });
    return {
      reason: decision.reason,
      ruleId: decision.ruleId,
      frustrationTrend: session.frustrationTrend(),
      summary: summary.text,
      transcript: redactTurns(turns),
    };
  }

  #sessionFor(callSid: string): CallSession {
    return this.#calls.open(callSid);
  }

  #openTranscribers(session: CallSession, tracks: Track[]): void {
    // A transcriber speaks for the gate epoch it was opened in: once the gate has moved (a pause), whatever it
    // still delivers is dropped here, whatever the provider does after being closed.
    const epoch = session.gate.epoch;
    for (const track of tracks) {
      if (session.transcribers.has(track)) continue;
      const t = this.deps.transcribers.create({
        callSid: session.callSid,
        track,
        onUtterance: (u) => {
          if (!session.gate.admits(epoch)) {
            session.counters.utterancesDropped++;
            return;
          }
          void this.utterance(u).catch((err) => this.deps.log.error({ err, callSid: session.callSid }, 'utterance failed'));
        },
        onHealth: (h) => this.transcriberHealth(session.callSid, h, track),
      });
      if (t) session.transcribers.set(track, t);
    }
  }

  /** Closes the call's transcribers after their last transcripts had time to arrive (no audio reaches them any more). */
  #closeTranscribersSoon(session: CallSession): void {
    if (session.transcribers.size === 0) return;
    if (!session.gate.isOpen) return void this.#closeTranscribers(session);
    // Detached at once, so a stream that starts meanwhile gets transcribers of its own.
    const draining = [...session.transcribers.values()];
    session.transcribers.clear();
    const timer = setTimeout(() => void Promise.allSettled(draining.map((t) => t.close())), this.opts.transcriberDrainMs ?? 1500);
    timer.unref();
  }

  async #closeTranscribers(session: CallSession): Promise<void> {
    const all = [...session.transcribers.values()];
    session.transcribers.clear();
    await Promise.allSettled(all.map((t) => t.close()));
  }

  #end(session: CallSession, why: string, evenWithActionsInFlight = false): void {
    this.#calls.end(session, why, evenWithActionsInFlight);
  }

  #publishState(session: CallSession): void {
    this.#calls.publishState(session);
  }

  #saveCall(session: CallSession): void {
    this.#calls.save(session);
  }

  #audit(entry: Omit<AuditEntry, 'at'>): void {
    this.#track(this.deps.store.appendAudit({ at: Date.now(), ...entry }));
  }

  #track(p: Promise<unknown>): void {
    const tracked = p.catch((err) => this.deps.log.error({ err }, 'background task failed'));
    this.#pending.add(tracked);
    void tracked.finally(() => this.#pending.delete(tracked));
  }
}
