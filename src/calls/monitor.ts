// The call pipeline (design.md data flow): stream events and Utterances in; privacy gate, classification,
// rules and actions in order; live events, redacted transcripts and the audit trail out.
import type { FastifyBaseLogger } from 'fastify';
import type { ActionExecutor, CallHandle, HandoffBrief } from '../actions/executor.js';
import type { HandoffSummarizer } from '../classification/summary.js';
import type { Metrics } from '../metrics.js';
import type { StreamSpec, TranscriptionSpec } from '../actions/twilio-rest.js';
import type { Bus, CallCommand } from '../bus/types.js';
import { redactTurns } from '../classification/redact.js';
import { decide, type Decision } from '../rules/decide.js';
import { evaluateRules, type AssessedTurn } from '../rules/evaluate.js';
import type { RuleBook } from '../rules/rule-book.js';
import type { Action } from '../rules/schema.js';
import type { AuditEntry, Store } from '../store/types.js';
import type { TranscriberFactory, TranscriberHealth } from '../transcription/transcriber.js';
import type { Assessment, Classifier, Track, Utterance } from '../types.js';
import { CallSession } from './call-session.js';
import { now as clock } from '../clock.js';

/** Stands in the transcript and the live feed for the utterance that paused the call. */
export const WITHHELD = '[withheld: transcription paused]';

/** Partials shorter than this are not classified. */
const MIN_PARTIAL_WORDS = 3;

export interface MonitorOptions {
  /** wss URL of /media-stream (re-created streams use it). */
  mediaStreamUrl: string;
  /** https URL of /twilio/transcription (re-created transcriptions post there). */
  transcriptionCallbackUrl: string;
  streamName: string;
  /** Keep ended calls this long so late callbacks are recognised and ignored. */
  endedGraceMs?: number;
  /** Recent turns passed to the classifier as context. */
  contextTurns?: number;
  /** How long a call's transcribers may still deliver after its stream stopped. */
  transcriberDrainMs?: number;
  /** How often to ask Twilio whether a paused call is still there. */
  pausedCheckMs?: number;
}

export interface StreamStart {
  callSid: string;
  streamSid: string;
  tracks: Track[];
  customParameters: Record<string, string>;
  /** The path and query of the WebSocket request (`/media-stream?tenant=…`). */
  path?: string;
}

export class CallMonitor {
  readonly #sessions = new Map<string, CallSession>();
  readonly #streamToCall = new Map<string, string>();
  readonly #resumeTimers = new Map<string, NodeJS.Timeout>();
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
    this.#ticker = setInterval(() => this.tick(), 1000);
    this.#ticker.unref();
  }

  get sessions(): ReadonlyMap<string, CallSession> {
    return this.#sessions;
  }

  session(callSid: string): CallSession | undefined {
    return this.#sessions.get(callSid);
  }

  // ---- media (from src/media) -------------------------------------------------------------

  streamStarted(s: StreamStart): CallSession | undefined {
    const session = this.#sessionFor(s.callSid);
    if (session.state === 'ended' || session.state === 'handed_off') return undefined;
    session.customParameters = { ...session.customParameters, ...s.customParameters };
    session.streams.set(s.streamSid, { streamSid: s.streamSid, tracks: s.tracks, customParameters: s.customParameters, path: s.path, open: true });
    this.#streamToCall.set(s.streamSid, s.callSid);
    if (session.gate.isOpen) this.#openTranscribers(session, s.tracks);
    this.deps.log.info({ callSid: s.callSid, streamSid: s.streamSid, tracks: s.tracks }, 'stream started');
    this.#saveCall(session);
    return session;
  }

  /** The hot path: one 20 ms frame. No allocation beyond the provider's own. */
  streamMedia(session: CallSession, track: Track, payload: string, timestampMs: number): void {
    session.counters.frames++;
    if (!session.gate.admitFrame()) return;
    session.transcribers.get(track)?.pushAudio(payload, timestampMs);
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

  /** Twilio real-time transcription started/stopped for a call (learnt from its callbacks). */
  transcriptionStatus(callSid: string, event: 'started' | 'stopped', sid: string, track?: string): void {
    const session = this.#sessions.get(callSid) ?? (event === 'started' ? this.#sessionFor(callSid) : undefined);
    if (!session) return;
    if (event === 'started') session.transcription = { sid, track };
    else if (session.transcription?.sid === sid) {
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
    this.deps.bus.publish({ type: 'call', callSid, state: session.state, degraded, at: Date.now() });
    if (degraded) this.#evaluate(session, undefined, { transcriptAt: Date.now(), assessedAt: Date.now() });
  }

  /** Time-based rules (silence): evaluated for every monitored call, once a second. */
  tick(now = Date.now()): void {
    for (const session of this.#sessions.values()) {
      if (session.state === 'monitoring' && session.gate.isOpen) this.#evaluate(session, undefined, { transcriptAt: now, assessedAt: now });
      else if (session.state === 'paused' && !session.endedAt) this.#checkPausedCall(session, now);
    }
  }

  /**
   * A paused call has no stream to tell us the caller hung up, so ask Twilio now and then: a call that is
   * over ends here too (and its pause with it).
   */
  #checkPausedCall(session: CallSession, now: number): void {
    const every = this.opts.pausedCheckMs ?? 30_000;
    if (now - (session.pausedAt ?? now) < every || now - session.lastLivenessCheck < every) return;
    session.lastLivenessCheck = now;
    this.#track(
      this.deps.executor.isLive(session.callSid).then((live) => {
        if (!live && session.state === 'paused') this.#end(session, 'call ended while paused');
      }),
    );
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
    session.lastSpokeAt[u.track] = at;
    // A partial of a word or two says too little to act on (a lone "With" is not a request for a person).
    if (!u.final && text.split(/\s+/).length < MIN_PARTIAL_WORDS) return;

    const context = session.turns.slice(-(this.opts.contextTurns ?? 8)).map((t) => ({ track: t.track, text: t.text }));
    let assessment;
    if (u.track === 'inbound') {
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
    const turn: AssessedTurn = { at, track: u.track, text, assessment };
    if (u.final) session.addTurn(turn);
    // Rules first: if this very utterance pauses the call, its text goes no further than the classifier.
    // Every final caller turn's assessment is on record (numbers and cues, never text): the trend survives a reload.
    if (u.final && assessment) this.#auditAssessment(session, assessment);
    this.#evaluate(session, turn, { utteranceEndMs: u.endMs, transcriptAt: at, assessedAt }, u.final);
    const withheld = !session.gate.admits(epoch);
    // The words that closed the gate leave memory too: after a resume they would otherwise be classifier context,
    // and part of a later handoff's summary and TaskRouter task (health details have nothing to redact).
    if (withheld) turn.text = WITHHELD;
    // Redacted with its context: a card read out a few digits per turn is only recognisable across turns.
    const shown = withheld ? WITHHELD : redactTurns([...context, { track: u.track, text }]).at(-1)!.text;
    this.deps.bus.publish({ type: 'utterance', callSid: u.callSid, track: u.track, text: shown, final: u.final, at });
    if (assessment) {
      const { frustration, sentiment, wantsHuman, sensitive, source } = assessment;
      this.deps.bus.publish({ type: 'assessment', callSid: u.callSid, frustration, sentiment, wantsHuman, sensitive, source, at: assessedAt });
    }
    if (u.final) this.#track(this.deps.store.appendTranscript({ callSid: u.callSid, at, track: u.track, text: shown }));
  }

  #record(session: CallSession, u: Utterance, text: string): void {
    const context = session.turns.slice(-(this.opts.contextTurns ?? 8)).map((t) => ({ track: t.track, text: t.text }));
    const shown = redactTurns([...context, { track: u.track, text }]).at(-1)!.text;
    session.addTurn({ at: u.receivedAt, track: u.track, text });
    this.deps.bus.publish({ type: 'utterance', callSid: u.callSid, track: u.track, text: shown, final: true, at: u.receivedAt });
    this.#track(this.deps.store.appendTranscript({ callSid: u.callSid, at: u.receivedAt, track: u.track, text: shown }));
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
  command(command: CallCommand): Promise<{ result: string; detail: string }> {
    return command.op === 'resume'
      ? this.resume(command.callSid, command.actor)
      : this.manual(command.callSid, command.action, command.actor, command.reason);
  }

  /** Reopens a paused call now (a supervisor, or the pause's timer). */
  resume(callSid: string, actor: string): Promise<{ result: string; detail: string }> {
    const timer = this.#resumeTimers.get(callSid);
    if (timer) clearTimeout(timer);
    this.#resumeTimers.delete(callSid);
    return this.deps.executor.resume(callSid, actor, () => {
      const session = this.#sessions.get(callSid);
      if (!session) return;
      session.gate.open('resumed', actor);
      session.state = 'monitoring';
      session.pausedAt = undefined;
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
   * starts the stream again and returns the caller to the agent. Undefined if the call is not in one.
   */
  secureCaptureDone(callSid: string): string | undefined {
    return this.deps.executor.captureReturn(callSid, 'secure-capture', () => {
      const session = this.#sessions.get(callSid);
      if (!session) return;
      session.gate.open('secure capture finished', 'secure-capture');
      session.state = 'monitoring';
      session.pausedAt = undefined;
      this.#saveCall(session);
      this.#audit({ kind: 'gate', callSid, actor: 'secure-capture', data: { open: true, reason: 'secure capture finished' } });
      this.deps.bus.publish({ type: 'gate', callSid, open: true, reason: 'secure capture finished', by: 'secure-capture', at: Date.now() });
      this.#publishState(session);
    });
  }

  /** Waits for store writes and actions in flight (tests, shutdown). */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  async close(): Promise<void> {
    clearInterval(this.#ticker);
    for (const t of this.#resumeTimers.values()) clearTimeout(t);
    this.#resumeTimers.clear();
    await Promise.allSettled([...this.#sessions.values()].map((s) => this.#closeTranscribers(s)));
    await this.settle();
  }

  #evaluate(
    session: CallSession,
    turn: AssessedTurn | undefined,
    times: { utteranceEndMs?: number; transcriptAt: number; assessedAt: number },
    final = true,
  ): void {
    const now = clock();
    // A partial is judged as if it were the latest turn, without entering the history.
    const turns = turn && session.turns.at(-1) !== turn ? [...session.turns, turn] : session.turns;
    const matches = evaluateRules(this.deps.rules.rules, {
      call: { to: session.to, from: session.from, customParameters: session.customParameters },
      turns,
      event: turn ? 'turn' : 'tick',
      degraded: session.degraded !== undefined,
      now,
      startedAt: session.startedAt,
      lastSpokeAt: session.lastSpokeAt,
    });
    if (matches.length === 0) return;
    const { act, recorded } = decide(session.callSid, matches, session.firing, times, now);
    if (!act && recorded.length === 0) return;
    // Final turns are audited whether or not a rule fires (see utterance); a partial only when it fired one.
    if (turn?.assessment && !final) this.#auditAssessment(session, turn.assessment);
    for (const { decision, note } of recorded) {
      this.#recordDecision(decision, note);
      if (note !== 'outranked') this.#track(this.deps.executor.execute(decision, this.#handle(session)).then((o) => this.#publishOutcome(decision, o)));
    }
    if (act) void this.#act(session, act, turn);
  }

  /** Runs a decision. A pause closes the gate here, synchronously, before anything else can pass. */
  #act(session: CallSession, decision: Decision, turn: AssessedTurn | undefined): Promise<{ result: string; detail: string }> {
    const { action } = decision;
    if (action.type === 'pause' && session.state === 'monitoring') {
      session.gate.close('privacy pause', decision.actor);
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
    const run = this.deps.executor.execute(decision, this.#handle(session), brief).then((outcome) => {
      session.actionsInFlight--;
      this.#publishOutcome(decision, outcome);
      this.deps.metrics?.outcomes.inc({ action: action.type, result: outcome.result });
      const { requestSentAt, transcriptAt } = decision.timings;
      if (requestSentAt !== undefined && decision.origin === 'rule') this.deps.metrics?.decisionSeconds.observe((requestSentAt - transcriptAt) / 1000);
      this.#afterOutcome(session, decision, outcome.result);
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

  #afterOutcome(session: CallSession, decision: Decision, result: string): void {
    const { action } = decision;
    if (result === 'gone') return this.#end(session, 'call ended before the action');
    if (result !== 'done') return;
    if (action.type === 'handoff') {
      session.state = 'handed_off';
      this.#publishState(session);
      this.#saveCall(session);
    } else if (action.type === 'end_call') {
      this.#end(session, 'ended by takeover');
    } else if (action.type === 'pause' && !action.secureCapture && action.resumeAfterSeconds > 0 && session.state === 'paused') {
      const timer = setTimeout(() => void this.resume(session.callSid, 'timer'), action.resumeAfterSeconds * 1000);
      timer.unref();
      this.#resumeTimers.set(session.callSid, timer);
    }
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
    this.deps.bus.publish({ type: 'outcome', callSid: decision.callSid, decisionId: decision.id, ...outcome, at: Date.now() });
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

  #handle(session: CallSession): CallHandle {
    const { mediaStreamUrl, transcriptionCallbackUrl, streamName } = this.opts;
    return {
      callSid: session.callSid,
      streams: () =>
        session.openStreams.map((s) => ({
          sid: s.streamSid,
          spec: {
            // The same URL, query string included, on our public origin (the only one Twilio can reach).
            url: s.path ? new URL(s.path, mediaStreamUrl).toString() : mediaStreamUrl,
            name: streamName,
            track: toStreamTrack(s.tracks),
            parameters: s.customParameters,
          } satisfies StreamSpec,
        })),
      transcription: () =>
        session.transcription && {
          sid: session.transcription.sid,
          spec: {
            name: streamName,
            statusCallbackUrl: transcriptionCallbackUrl,
            track: (session.transcription.track as TranscriptionSpec['track'] | undefined) ?? 'both_tracks',
            partialResults: true,
          },
        },
    };
  }

  #sessionFor(callSid: string): CallSession {
    let s = this.#sessions.get(callSid);
    if (!s) {
      s = new CallSession(callSid);
      this.#sessions.set(callSid, s);
      this.#audit({ kind: 'call', callSid, actor: 'twilio', data: { event: 'started' } });
    }
    return s;
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

  #end(session: CallSession, why: string): void {
    if (session.endedAt) return;
    // Our own handoff stops the stream before its answer is in: the call is handed off, not ended.
    if (session.actionsInFlight > 0) {
      session.endPending = why;
      return;
    }
    session.endedAt = Date.now();
    if (session.state !== 'handed_off') session.state = 'ended';
    const timer = this.#resumeTimers.get(session.callSid);
    if (timer) clearTimeout(timer);
    this.#resumeTimers.delete(session.callSid);
    this.#closeTranscribersSoon(session);
    this.#audit({ kind: 'call', callSid: session.callSid, actor: 'system', data: { event: 'ended', why, state: session.state, counters: session.counters } });
    this.#publishState(session);
    this.#saveCall(session);
    const grace = setTimeout(() => {
      if (this.#sessions.get(session.callSid) !== session) return;
      this.#sessions.delete(session.callSid);
      this.deps.executor.forget(session.callSid);
    }, this.opts.endedGraceMs ?? 60_000);
    grace.unref();
  }

  #publishState(session: CallSession): void {
    this.deps.bus.publish({ type: 'call', callSid: session.callSid, state: session.state, degraded: session.degraded, at: Date.now() });
  }

  #saveCall(session: CallSession): void {
    this.#track(
      this.deps.store.saveCall({
        callSid: session.callSid,
        from: session.from,
        to: session.to,
        customParameters: session.customParameters,
        startedAt: session.startedAt,
        endedAt: session.endedAt,
        status: session.state,
      }),
    );
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

function toStreamTrack(tracks: Track[]): StreamSpec['track'] {
  if (tracks.includes('inbound') && tracks.includes('outbound')) return 'both_tracks';
  return tracks.includes('outbound') ? 'outbound_track' : 'inbound_track';
}
