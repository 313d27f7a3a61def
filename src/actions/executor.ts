// Carries out Decisions on the live call through CallControl, with the guarantees of design.md:
// one action in flight per call, each decision at most once (a failed one may be tried again), retries with
// full-jitter backoff until the action's deadline, "call already ended" as a normal outcome, a handoff wins
// over a pause, and every attempt audited.
// One file (over 300 lines) because those guarantees are one state machine: the per-call queue, the idempotency
// keys, the deadline and the retry loop decide together whether a request is sent; the TwiML and REST calls it
// makes are in twiml.ts and twilio-rest.ts.
import type { Decision } from '../rules/decide.js';
import type { HandoffTarget } from '../rules/schema.js';
import type { AuditEntry } from '../store/types.js';
import type { Turn } from '../types.js';
import { classifyRestError, withDeadline, type CallControl, type RestFailure, type StreamSpec, type TranscriptionSpec } from './twilio-rest.js';
import { renderTwiml, TWIML_WEBHOOK_MAX_CHARS, TwimlTooLongError } from './twiml.js';
import { now } from '../clock.js';
import { retryDelay, type Backoff, type RandomSource } from '../backoff.js';

export interface ExecutorOptions {
  /** An action keeps retrying until this long after it started, and no request runs past it. */
  deadlineMs: number;
  keepListeningAfterHandoff: boolean;
  /** Where a secure capture flow (<Pay action=…>) returns to: takeover's /twilio/secure-capture. */
  secureCaptureActionUrl?: string;
  /** Backoff base; the n-th retry (from 0) waits random(0, min(cap, base·2^n)) ms, or Twilio's Retry-After if longer. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** The backoff's random source (tests). */
  random?: RandomSource;
}

/** The retries' backoff when none is given (and ACTION_RETRY_INITIAL_MS / ACTION_RETRY_MAX_MS's defaults). */
export const RETRY_DEFAULTS = { baseMs: 100, capMs: 2000 } as const;

/** An attempt is only sent with at least this long left before the deadline (the shortest request timeout). */
const MIN_ATTEMPT_MS = 200;

/** What the executor needs to know of a call at the moment it acts (read fresh, streams change). */
export interface CallHandle {
  readonly callSid: string;
  /** takeover's monitoring streams on the call now. */
  streams(): { sid: string; spec: StreamSpec }[];
  /** Twilio's real-time transcription feeding takeover, when that is the provider. */
  transcription(): { sid: string; spec: TranscriptionSpec } | undefined;
}

/** What a handoff tells the human who takes the call (all of it already redacted). */
export interface HandoffBrief {
  reason: string;
  ruleId: string;
  frustrationTrend: number[];
  summary: string;
  transcript: Turn[];
}

/** The brief, or a way to make it when it is needed. */
export type BriefSource = HandoffBrief | (() => Promise<HandoffBrief>);

const resolveBrief = async (b: BriefSource | undefined): Promise<HandoffBrief | undefined> =>
  typeof b === 'function' ? b() : b;

export type OutcomeResult = 'done' | 'gone' | 'failed' | 'skipped' | 'observed';
export interface ActionOutcome {
  result: OutcomeResult;
  detail: string;
  /** Why a `failed` action failed: what Twilio said, without anything of the call (numbers, text). */
  failure?: ActionFailure;
}

export interface ActionFailure {
  /** The step that failed, e.g. "update call TwiML", "pause recording". */
  step: string;
  /** Requests sent for that step (0: stopped before any was sent). */
  attempts: number;
  /** Of the last attempt: HTTP status and Twilio code, or the network error (ECONNREFUSED, ECONNRESET, ETIMEDOUT). */
  status?: number;
  code?: number;
  network?: string;
  /** In words: "Twilio answered 500 five times", "the connection was refused 9 times, then Twilio answered 503 twice". */
  summary: string;
}

/** A pause as the executor keeps it: what its resume re-creates, and whether it paused the recording. */
export interface PausePlan {
  streams: StreamSpec[];
  transcription?: TranscriptionSpec;
  returnUrl?: string;
  recordingPaused: boolean;
}

type Audit = (entry: Omit<AuditEntry, 'at' | 'callSid'> & { callSid?: string }) => void;

class CallGoneError extends Error {}
/** An action stopped before any request was made (a setting missing): not a network failure, never retried. */
class NotSentError extends Error {}
/** A pause that found none of takeover's streams or transcriptions to stop: the caller's words still go on. */
class NothingStoppedError extends Error {}
/** A step that Twilio refused, or that still failed when its deadline came: every failed attempt, in order. */
class StepFailedError extends Error {
  constructor(
    readonly step: string,
    readonly failures: RestFailure[],
  ) {
    super(`${step}: ${describeFailure(failures.at(-1)!)}`);
  }
}

/** What pausing a call has done so far: what resume must undo, and what a repeated pause still has to do. */
interface PauseState {
  /** takeover's streams when the pause began; those stopped (or gone) are created again on resume. */
  streams: { sid: string; spec: StreamSpec; stopped: boolean }[];
  transcription?: { sid: string; spec: TranscriptionSpec; stopped: boolean };
  returnUrl?: string;
  captureSent: boolean;
  /** Every request of the pause went through. */
  complete: boolean;
}

export class ActionExecutor {
  readonly #queues = new Map<string, Promise<unknown>>();
  /** Per call, the decisions already run (by id) and their outcome. */
  readonly #executed = new Map<string, Map<string, Promise<ActionOutcome>>>();
  readonly #handedOff = new Set<string>();
  readonly #ended = new Set<string>();
  readonly #recordingPaused = new Set<string>();
  readonly #paused = new Map<string, PauseState>();
  readonly #backoff: Backoff;

  constructor(
    private readonly control: CallControl,
    private readonly audit: Audit,
    private readonly opts: ExecutorOptions,
  ) {
    this.#backoff = { initialMs: opts.backoffBaseMs ?? RETRY_DEFAULTS.baseMs, maxMs: opts.backoffCapMs ?? RETRY_DEFAULTS.capMs, jitter: 'full' };
  }

  /** True once a handoff or end call went through (or found the call gone): no further action runs. */
  isFinished(callSid: string): boolean {
    return this.#handedOff.has(callSid) || this.#ended.has(callSid);
  }

  /** What a resume of the paused call will re-create (to be stored: another process may have to do it). */
  pausePlan(callSid: string): PausePlan | undefined {
    const state = this.#paused.get(callSid);
    if (!state) return undefined;
    return {
      streams: state.streams.filter((s) => s.stopped).map((s) => s.spec),
      transcription: state.transcription?.stopped ? state.transcription.spec : undefined,
      returnUrl: state.returnUrl,
      recordingPaused: this.#recordingPaused.has(callSid),
    };
  }

  /** Takes over a pause made by an earlier process of this instance, as stored: `resume` can then undo it. */
  restorePause(callSid: string, plan: PausePlan): void {
    // The SIDs died with the old streams; resume creates new ones from the specs.
    this.#paused.set(callSid, {
      streams: plan.streams.map((spec) => ({ sid: '', spec, stopped: true })),
      transcription: plan.transcription && { sid: '', spec: plan.transcription, stopped: true },
      returnUrl: plan.returnUrl,
      captureSent: plan.returnUrl !== undefined,
      complete: true,
    });
    if (plan.recordingPaused) this.#recordingPaused.add(callSid);
  }

  /**
   * Runs `decision` once. A second call with the same decision id returns the first outcome, unless that
   * one failed: a failed action changed nothing (as far as Twilio answered), so it may be tried again.
   * Observe-mode decisions are recorded and change nothing.
   */
  execute(decision: Decision, call: CallHandle, brief?: BriefSource): Promise<ActionOutcome> {
    let runs = this.#executed.get(decision.callSid);
    if (!runs) this.#executed.set(decision.callSid, (runs = new Map()));
    const existing = runs.get(decision.id);
    if (existing) return existing;
    const run = this.#serial(decision.callSid, () => this.#run(decision, call, brief));
    runs.set(decision.id, run);
    void run.then((o) => {
      if (o.result === 'failed' && runs.get(decision.id) === run) runs.delete(decision.id);
    });
    return run;
  }

  /** Reopens a paused call: the streams (and Twilio transcription) come back with the same URL, name and parameters. */
  resume(callSid: string, actor: string, onResumed: () => void): Promise<ActionOutcome> {
    return this.#serial(callSid, async () => {
      const paused = this.#paused.get(callSid);
      if (!paused) return this.#outcome(callSid, actor, undefined, { result: 'skipped', detail: 'not paused' });
      if (this.isFinished(callSid)) {
        this.#paused.delete(callSid);
        return this.#outcome(callSid, actor, undefined, { result: 'skipped', detail: 'call already handed off or ended' });
      }
      try {
        const deadline = Date.now() + this.opts.deadlineMs;
        // Only what the pause stopped comes back (a stream it could not stop is still running), each once: a
        // resume that failed half-way and is asked again creates only what is still missing.
        for (const s of paused.streams.filter((x) => x.stopped)) {
          await this.#attempt(callSid, actor, undefined, `create stream ${s.spec.name}`, deadline, () =>
            this.control.createStream(callSid, s.spec),
          );
          s.stopped = false;
        }
        const t = paused.transcription;
        if (t?.stopped) {
          await this.#attempt(callSid, actor, undefined, 'create transcription', deadline, () =>
            this.control.createTranscription(callSid, t.spec),
          );
          t.stopped = false;
        }
        await this.#resumeRecording(callSid, actor, deadline);
        this.#paused.delete(callSid);
        onResumed();
        return this.#outcome(callSid, actor, undefined, { result: 'done', detail: 'resumed' });
      } catch (err) {
        return this.#failure(callSid, actor, undefined, err);
      }
    });
  }

  /**
   * The secure capture flow of a paused call has finished: the TwiML that starts takeover's stream (and
   * transcription) again and returns the caller to the agent. Undefined when the call was not in one.
   */
  captureReturn(callSid: string, actor: string, onResumed: () => void): string | undefined {
    const paused = this.#paused.get(callSid);
    if (!paused?.returnUrl || this.isFinished(callSid)) return undefined;
    const twiml = renderTwiml(
      'secure-capture-return',
      {
        streams: paused.streams
          .filter((s) => s.stopped)
          .map(({ spec }) => ({ ...spec, parameters: Object.entries(spec.parameters).map(([name, value]) => ({ name, value })) })),
        transcription: paused.transcription?.stopped ? paused.transcription.spec : undefined,
        returnUrl: paused.returnUrl,
      },
      { maxChars: TWIML_WEBHOOK_MAX_CHARS },
    );
    this.#paused.delete(callSid);
    onResumed();
    this.audit({ kind: 'outcome', callSid, actor, data: { result: 'done', detail: 'resumed after secure capture' } });
    if (this.#recordingPaused.has(callSid)) {
      // Every attempt is audited; a failure here must not undo a return the caller has already made.
      void this.#serial(callSid, () => this.#resumeRecording(callSid, actor, Date.now() + this.opts.deadlineMs).catch(() => undefined));
    }
    return twiml;
  }

  /** Starts the call's recording again if a privacy pause paused it. */
  async #resumeRecording(callSid: string, actor: string, deadline: number): Promise<void> {
    if (!this.#recordingPaused.delete(callSid)) return;
    await this.#attempt(callSid, actor, undefined, 'resume recording', deadline, () => this.control.setRecording(callSid, 'in-progress'));
  }

  /** Whether Twilio still has the call in progress (false when it is gone; true when unsure). */
  async isLive(callSid: string): Promise<boolean> {
    try {
      return (await this.control.status(callSid)) === 'in-progress';
    } catch (err) {
      return classifyRestError(err).kind !== 'gone';
    }
  }

  /** Forgets everything about a call that ended a while ago (keeps memory bounded on a long-running service). */
  forget(callSid: string): void {
    this.#paused.delete(callSid);
    this.#recordingPaused.delete(callSid);
    this.#executed.delete(callSid);
    this.#handedOff.delete(callSid);
    this.#ended.delete(callSid);
  }

  #serial<T>(callSid: string, task: () => Promise<T>): Promise<T> {
    const prev = this.#queues.get(callSid);
    // Nothing in flight for the call: start now, in the caller's tick, up to the first request. (A hop through the
    // microtask queue would wait behind whatever the caller still does after deciding, e.g. redacting for the feed.)
    const next = prev ? prev.then(task, task) : task();
    const tail = next.catch(() => undefined);
    this.#queues.set(callSid, tail);
    void tail.then(() => {
      if (this.#queues.get(callSid) === tail) this.#queues.delete(callSid);
    });
    return next;
  }

  async #run(decision: Decision, call: CallHandle, brief?: BriefSource): Promise<ActionOutcome> {
    const { callSid, action, actor } = decision;
    if (decision.mode === 'observe') {
      return this.#outcome(callSid, actor, decision, { result: 'observed', detail: `would have run ${describe(decision)}` });
    }
    if (action.type === 'alert') return this.#outcome(callSid, actor, decision, { result: 'done', detail: 'alert sent' });
    if (this.isFinished(callSid)) {
      return this.#outcome(callSid, actor, decision, { result: 'skipped', detail: 'call already handed off or ended' });
    }
    const deadline = Date.now() + this.opts.deadlineMs;
    const step = <T>(label: string, fn: () => Promise<T>) =>
      this.#attempt(callSid, actor, decision, label, deadline, fn);
    try {
      switch (action.type) {
        case 'handoff': {
          const note = await this.#handoff(decision, action.to, action.say, call, brief, step);
          return this.#outcome(callSid, actor, decision, { result: 'done', detail: `handed off: ${describeTarget(action.to)}${note}` });
        }
        case 'end_call':
          await step('end call', () => this.control.end(callSid));
          this.#ended.add(callSid);
          return this.#outcome(callSid, actor, decision, { result: 'done', detail: 'call ended' });
        case 'pause':
          // A pause that failed half-way is not "already paused": this one does what it could not.
          if (this.#paused.get(callSid)?.complete) {
            return this.#outcome(callSid, actor, decision, { result: 'skipped', detail: 'already paused' });
          }
          await this.#pause(callSid, call, step, action.secureCapture);
          return this.#outcome(callSid, actor, decision, {
            result: 'done',
            detail: action.secureCapture ? 'transcription paused; caller sent to secure capture' : 'transcription paused',
          });
      }
    } catch (err) {
      return this.#failure(callSid, actor, decision, err);
    }
  }

  async #handoff(
    decision: Decision,
    to: HandoffTarget,
    say: string,
    call: CallHandle,
    brief: BriefSource | undefined,
    step: <T>(label: string, fn: () => Promise<T>) => Promise<T>,
  ): Promise<string> {
    const { callSid } = decision;
    if ('redirect' in to) {
      await step('redirect call', () => this.control.redirect(callSid, to.redirect));
    } else {
      // Only a TaskRouter task carries the brief, so only then is it worth waiting for (an LLM summary may take a moment).
      const twiml =
        'queue' in to
          ? enqueueTwiml(decision, to, say, to.workflowSid ? await resolveBrief(brief) : undefined)
          : renderTwiml('handoff-dial', { say, ...to.dial });
      await step('update call TwiML', () => this.control.updateTwiml(callSid, twiml));
    }
    // The caller is with a person from here on, whatever happens to our stream: no further action may touch the call.
    this.#handedOff.add(callSid);
    if (this.opts.keepListeningAfterHandoff) return '';
    // A <Start><Stream> fork outlives the TwiML it came from, so stop ours by SID (twilio-facts.md §2.1).
    try {
      await this.#stopListening(callSid, call, step, 'after handoff');
      return '';
    } catch (err) {
      const f = err instanceof StepFailedError ? err.failures.at(-1)! : classifyRestError(err);
      return `; our stream could not be stopped (${describeFailure(f)})`;
    }
  }

  async #pause(
    callSid: string,
    call: CallHandle,
    step: <T>(label: string, fn: () => Promise<T>) => Promise<T>,
    capture?: { returnUrl: string; template: string; say: string },
  ): Promise<void> {
    if (capture && !this.opts.secureCaptureActionUrl) throw new NotSentError('secure capture needs the public URL of /twilio/secure-capture');
    let state = this.#paused.get(callSid);
    if (!state) {
      const streams = call.streams().map((s) => ({ ...s, stopped: false }));
      const t = call.transcription();
      state = { streams, transcription: t && { ...t, stopped: false }, returnUrl: capture?.returnUrl, captureSent: false, complete: false };
      this.#paused.set(callSid, state);
    }
    // Every step is tried even when one before it failed (each stop keeps less of the caller on Twilio's side);
    // the first failure is what the pause reports, and a later pause does what is still left.
    let failed: unknown;
    const tryStep = async (fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        if (err instanceof CallGoneError) throw err;
        failed ??= err;
      }
    };
    // The recording first: it is what keeps the caller's words on Twilio's side (our gate already keeps them from us).
    if (!this.#recordingPaused.has(callSid)) {
      await tryStep(async () => {
        try {
          await step('pause recording', () => this.control.setRecording(callSid, 'paused'));
          this.#recordingPaused.add(callSid);
        } catch (err) {
          // No recording running is the common case: a 404 on Twilio.CURRENT, not a failed pause.
          if (!(err instanceof CallGoneError)) throw err;
        }
      });
    }
    if (capture && !state.captureSent) {
      // The return URL rides along (Twilio signs the whole URL), so the caller gets back to the agent even if this
      // process lost the call in between. Sent before our streams stop: the AI agent stops hearing the caller now.
      const actionUrl = `${this.opts.secureCaptureActionUrl}?return=${encodeURIComponent(capture.returnUrl)}`;
      const twiml = renderTwiml(capture.template, { say: capture.say, actionUrl });
      await tryStep(async () => {
        await step('send caller to secure capture', () => this.control.updateTwiml(callSid, twiml));
        state.captureSent = true;
      });
    }
    // A stream that closed meanwhile needs no stop; it is ours all the same, and comes back on resume.
    const open = new Set(call.streams().map((s) => s.sid));
    for (const s of state.streams) {
      if (s.stopped) continue;
      await tryStep(async () => {
        if (open.has(s.sid)) await step(`stop stream ${s.spec.name} for privacy`, () => this.control.stopStream(callSid, s.sid)).catch(ignoreGone);
        s.stopped = true;
      });
    }
    const t = state.transcription;
    if (t && !t.stopped) {
      await tryStep(async () => {
        await step('stop transcription for privacy', () => this.control.stopTranscription(callSid, t.sid)).catch(ignoreGone);
        t.stopped = true;
      });
    }
    if (failed !== undefined) throw failed;
    // After a restart the stream died with the old process and only Twilio's transcription may be known: what is
    // known is stopped, and a pause that stopped nothing is never called done.
    if (!capture && state.streams.length === 0 && !state.transcription) {
      throw new NothingStoppedError('no stream or transcription of takeover is known on this call, so none was stopped');
    }
    state.complete = true;
  }

  async #stopListening(
    callSid: string,
    call: CallHandle,
    step: <T>(label: string, fn: () => Promise<T>) => Promise<T>,
    why: string,
  ): Promise<void> {
    for (const s of call.streams()) {
      await step(`stop stream ${s.spec.name} ${why}`, () => this.control.stopStream(callSid, s.sid)).catch(ignoreGone);
    }
    const t = call.transcription();
    if (t) await step(`stop transcription ${why}`, () => this.control.stopTranscription(callSid, t.sid)).catch(ignoreGone);
  }

  /**
   * One REST operation, retried with backoff (or after Twilio's Retry-After) for as long as the deadline allows;
   * each attempt is audited. Throws CallGoneError when Twilio says the call is gone, StepFailedError otherwise.
   */
  async #attempt<T>(
    callSid: string,
    actor: string,
    decision: Decision | undefined,
    label: string,
    deadline: number,
    fn: () => Promise<T>,
  ): Promise<T> {
    const failures: RestFailure[] = [];
    for (let attempt = 1; ; attempt++) {
      const sentAt = now();
      if (decision && decision.timings.requestSentAt === undefined) decision.timings.requestSentAt = sentAt;
      try {
        const value = await withDeadline(deadline, fn);
        const answeredAt = now();
        if (decision && decision.timings.answeredAt === undefined) decision.timings.answeredAt = answeredAt;
        this.audit({ kind: 'attempt', callSid, actor, decisionId: decision?.id, data: { step: label, attempt, ok: true, ms: answeredAt - sentAt } });
        return value;
      } catch (err) {
        const f = classifyRestError(err);
        this.audit({
          kind: 'attempt',
          callSid,
          actor,
          decisionId: decision?.id,
          data: {
            step: label,
            attempt,
            ok: false,
            failure: f.kind,
            status: f.status,
            code: f.code,
            network: f.network,
            retryAfterMs: f.retryAfterMs,
            message: f.message,
            ms: Date.now() - sentAt,
          },
        });
        if (f.kind === 'gone') throw new CallGoneError(`${label}: ${f.message}`);
        failures.push(f);
        const wait =
          f.kind === 'retry'
            ? retryDelay(attempt - 1, this.#backoff, { now: Date.now(), deadline, retryAfterMs: f.retryAfterMs, minAttemptMs: MIN_ATTEMPT_MS }, this.opts.random)
            : undefined;
        if (wait === undefined) throw new StepFailedError(label, failures);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  #failure(callSid: string, actor: string, decision: Decision | undefined, err: unknown): ActionOutcome {
    if (err instanceof CallGoneError) {
      this.#ended.add(callSid);
      return this.#outcome(callSid, actor, decision, { result: 'gone', detail: `call already ended (${err.message})` });
    }
    if (err instanceof NothingStoppedError) {
      return this.#outcome(callSid, actor, decision, {
        result: 'failed',
        detail: `nothing stopped: ${err.message}`,
        failure: { step: 'stop listening for privacy', attempts: 0, summary: err.message },
      });
    }
    if (err instanceof NotSentError || err instanceof TwimlTooLongError) {
      // Stopped here, before any request: nothing to do with Twilio or the network.
      return this.#outcome(callSid, actor, decision, {
        result: 'failed',
        detail: `not sent: ${err.message}`,
        failure: { step: 'not sent', attempts: 0, summary: `nothing was sent: ${err.message}` },
      });
    }
    if (!(err instanceof StepFailedError)) {
      // Not a request that failed: something in takeover went wrong on the way to one (it is audited, not retried).
      const name = err instanceof Error ? err.name : 'error';
      return this.#outcome(callSid, actor, decision, {
        result: 'failed',
        detail: `failed in takeover: ${err instanceof Error ? err.message : String(err)}`,
        failure: { step: 'internal', attempts: 0, summary: `takeover failed on its side (${name})` },
      });
    }
    const failures = err.failures;
    const last = failures.at(-1)!;
    const attempts = failures.length;
    return this.#outcome(callSid, actor, decision, {
      result: 'failed',
      detail: `${last.kind === 'fatal' ? 'refused' : 'gave up'} after ${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}: ${describeFailure(last)}`,
      failure: {
        step: err.step,
        attempts,
        ...(last.status !== undefined ? { status: last.status } : {}),
        ...(last.code !== undefined ? { code: last.code } : {}),
        ...(last.network !== undefined ? { network: last.network } : {}),
        summary: summarizeFailures(failures),
      },
    });
  }

  /** Audits the outcome; for a decision, with the time of every stage from transcript to Twilio's answer. */
  #outcome(callSid: string, actor: string, decision: Decision | undefined, outcome: ActionOutcome): ActionOutcome {
    const data = decision ? { ...outcome, timings: { ...decision.timings } } : { ...outcome };
    this.audit({ kind: 'outcome', callSid, actor, decisionId: decision?.id, data });
    return outcome;
  }
}

/** "500 20500 Service unavailable", "network timeout of 200ms exceeded": status (or network), Twilio code, message. */
function describeFailure(f: RestFailure): string {
  return [f.status ?? 'network', f.code, f.message].filter((x) => x !== undefined && x !== '').join(' ');
}

const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'a request timed out',
};
const TIMES = ['', 'once', 'twice', 'three times', 'four times', 'five times', 'six times', 'seven times', 'eight times', 'nine times', 'ten times'];

/** Failed attempts in words, runs of the same answer together: "the connection was refused 9 times, then Twilio answered 500 twice". */
function summarizeFailures(failures: readonly RestFailure[]): string {
  const runs: { what: string; n: number }[] = [];
  for (const f of failures) {
    const what = f.status !== undefined ? `Twilio answered ${f.status}` : (NETWORK_WORDS[f.network ?? ''] ?? `a network error (${f.network ?? 'unknown'})`);
    const last = runs.at(-1);
    if (last?.what === what) last.n++;
    else runs.push({ what, n: 1 });
  }
  return runs.map((r) => `${r.what} ${TIMES[r.n] ?? `${r.n} times`}`).join(', then ');
}

function ignoreGone(err: unknown): void {
  if (!(err instanceof CallGoneError)) throw err;
}

/** The Task carries as much of the recent transcript as fits in Twilio's TwiML limit, newest lines kept. */
function enqueueTwiml(decision: Decision, to: { queue: string; workflowSid?: string }, say: string, brief?: HandoffBrief): string {
  const attrs = taskAttributes(decision, brief);
  for (;;) {
    try {
      return renderTwiml('handoff-enqueue', { say, queue: to.queue, workflowSid: to.workflowSid, task: JSON.stringify(attrs) });
    } catch (err) {
      const transcript = attrs.transcript as Turn[];
      if (!(err instanceof TwimlTooLongError) || transcript.length === 0) throw err;
      attrs.transcript = transcript.slice(1);
    }
  }
}

function taskAttributes(decision: Decision, brief: HandoffBrief | undefined): Record<string, unknown> {
  return {
    type: 'takeover',
    callSid: decision.callSid,
    reason: brief?.reason ?? decision.reason,
    rule: decision.ruleId,
    frustrationTrend: brief?.frustrationTrend ?? [],
    summary: brief?.summary ?? '',
    transcript: brief?.transcript ?? [],
  };
}

function describeTarget(to: HandoffTarget): string {
  if ('queue' in to) return to.workflowSid ? `workflow ${to.workflowSid}` : `queue ${to.queue}`;
  if ('dial' in to) return `dial ${to.dial.number ?? to.dial.client ?? to.dial.sip}`;
  return `redirect ${to.redirect}`;
}

function describe(d: Decision): string {
  const a = d.action;
  if (a.type === 'handoff') return `handoff (${describeTarget(a.to)})`;
  return a.type.replace('_', ' ');
}
