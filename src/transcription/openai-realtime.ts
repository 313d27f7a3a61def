// OpenAI Realtime transcription (twilio-facts.md §3a): one transcription session per call track over a
// WebSocket; Twilio's μ-law goes out as it came (audio/pcmu), transcripts come back as Utterances in turn order.
//
// Plain `ws`, not the openai SDK's OpenAIRealtimeWS helper: Node 20 pins us to openai 6.x, whose helper can only
// open a conversation session (`?model=…`; `intent: 'transcription'` arrived in 7.5), and it forces the URL to
// wss://, which a local ws:// double (tests, benchmark, demo) cannot serve. The wire types still come from the SDK.
//
// One file (over 300 lines): a track's socket, its backlog of unsent audio and its turns are one state machine (a
// reconnect resends exactly the audio the dead session had not transcribed, and its turns keep their order);
// the backlog's storage is audio-backlog.ts, the turn ordering turn-order.ts.
import type {
  ConversationItemInputAudioTranscriptionCompletedEvent,
  ConversationItemInputAudioTranscriptionDeltaEvent,
  ConversationItemInputAudioTranscriptionFailedEvent,
  InputAudioBufferCommittedEvent,
  InputAudioBufferSpeechStartedEvent,
  InputAudioBufferSpeechStoppedEvent,
  RealtimeErrorEvent,
  RealtimeTranscriptionSessionCreateRequest,
  SessionUpdateEvent,
} from 'openai/resources/realtime/realtime';
import WebSocket from 'ws';
import { now } from '../clock.js';
import { backoffDelay } from '../backoff.js';
import type { Track, Utterance } from '../types.js';
import { AudioBacklog, BYTES_PER_MS } from './audio-backlog.js';
import type { Transcriber, TranscriberContext, TranscriberFactory, TranscriberHealth } from './transcriber.js';
import { TurnOrder } from './turn-order.js';

/** pino's logger fits; so does any `{ info, warn, error }` taking (object, message). */
export interface TranscriptionLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface OpenAIRealtimeOptions {
  apiKey: string;
  /** No `model` in the URL: that opens a conversation. */
  url?: string;
  model?: string;
  /** ISO-639-1, e.g. `en`; improves accuracy and latency. */
  language?: string;
  prompt?: string;
  /** Server VAD: when a turn starts and ends (and so when it is transcribed). */
  vad?: { threshold?: number; prefixPaddingMs?: number; silenceDurationMs?: number };
  /** Off (null) by default: phone audio is already band-limited and Twilio applies its own processing. */
  noiseReduction?: 'near_field' | 'far_field' | null;
  /**
   * 0: one append per Twilio frame (20 ms). More: frames are joined into appends of about this much audio. The
   * default, 100: a frame then waits at most 80 ms (40 on average) before it goes out, and the service spends about
   * 40% less CPU per frame than with one append, which is one socket write, per frame.
   */
  batchMs?: number;
  /** Which call tracks to transcribe. Both by default: rules may match the agent's words too. */
  tracks?: Track[];
  /** From opening the socket to `session.updated` (ms). */
  connectTimeoutMs?: number;
  /** Backoff between reconnect attempts (src/backoff.ts, half jitter): random in [½, 1] × min(max, initial × 2^attempt). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Audio held per track while the provider is unreachable or slow (ms). */
  maxBufferedAudioMs?: number;
  /** How long a later turn's transcript waits for an earlier one that is late (ms). */
  turnWaitMs?: number;
  /**
   * Deltas arrive token by token; a partial Utterance goes out at most this often per turn (ms), carrying all the
   * text so far. 0: one partial per delta (a classifier then sees one-word fragments, and many of them).
   */
  partialIntervalMs?: number;
  logger?: TranscriptionLogger;
}

/** What every transcriber of one factory did, added up (tests, benchmark, metrics). */
export interface TranscriptionTotals {
  sessions: number;
  framesIn: number;
  framesSent: number;
  appends: number;
  bytesSent: number;
  /** Frames lost: the backlog was full (an outage or a slow provider longer than maxBufferedAudioMs). */
  framesDropped: number;
  msDropped: number;
  /** Frames sent again to a new session because the old one died before transcribing them. */
  framesReplayed: number;
  reconnects: number;
  errors: number;
  failedTurns: number;
}

export interface OpenAIRealtimeTranscription extends TranscriberFactory {
  readonly provider: 'openai';
  readonly totals: TranscriptionTotals;
}

const DEFAULT_REALTIME_URL = 'wss://api.openai.com/v1/realtime?intent=transcription';

/**
 * Every option's default, written once: config.ts takes its TRANSCRIBE_* / OPENAI_* defaults from here, and an option
 * left out (a test, the benchmark, an embedding application) gets the same value the service runs with.
 */
export const REALTIME_DEFAULTS = {
  url: DEFAULT_REALTIME_URL,
  model: 'gpt-4o-transcribe',
  vad: { threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 500 },
  noiseReduction: null,
  batchMs: 100,
  tracks: ['inbound', 'outbound'],
  connectTimeoutMs: 5000,
  reconnect: { initialDelayMs: 250, maxDelayMs: 5000 },
  maxBufferedAudioMs: 10_000,
  turnWaitMs: 1500,
  partialIntervalMs: 200,
} as const satisfies Required<Omit<OpenAIRealtimeOptions, 'apiKey' | 'language' | 'prompt' | 'logger'>>;

/** Above this many bytes queued on the socket, the provider is not keeping up: frames wait in the backlog. */
const SOCKET_HIGH_WATER = 64 * 1024;

const silentLogger: TranscriptionLogger = { info() {}, warn() {}, error() {} };

export function createOpenAIRealtimeTranscription(options: OpenAIRealtimeOptions): OpenAIRealtimeTranscription {
  if (!options.apiKey) throw new Error('OpenAI Realtime transcription needs an API key (OPENAI_API_KEY)');
  const settings = resolve(options);
  const totals: TranscriptionTotals = {
    sessions: 0,
    framesIn: 0,
    framesSent: 0,
    appends: 0,
    bytesSent: 0,
    framesDropped: 0,
    msDropped: 0,
    framesReplayed: 0,
    reconnects: 0,
    errors: 0,
    failedTurns: 0,
  };
  return {
    provider: 'openai',
    totals,
    create(context) {
      if (!settings.tracks.includes(context.track)) return undefined;
      return new RealtimeTrackTranscriber(context, settings, totals);
    },
  };
}

type Settings = ReturnType<typeof resolve>;

function resolve(o: OpenAIRealtimeOptions) {
  const d = REALTIME_DEFAULTS;
  const url = o.url ?? d.url;
  if (!/^wss?:\/\/[^/]/.test(url)) {
    throw new Error(`OpenAI Realtime URL "${url}" must start with wss:// (or ws:// for a local server), e.g. ${DEFAULT_REALTIME_URL}`);
  }
  const model = o.model ?? d.model;
  const noiseReduction = o.noiseReduction ?? d.noiseReduction;
  const session: RealtimeTranscriptionSessionCreateRequest = {
    type: 'transcription',
    audio: {
      input: {
        format: { type: 'audio/pcmu' },
        transcription: { model, ...(o.language ? { language: o.language } : {}), ...(o.prompt ? { prompt: o.prompt } : {}) },
        turn_detection: {
          type: 'server_vad',
          threshold: o.vad?.threshold ?? d.vad.threshold,
          prefix_padding_ms: o.vad?.prefixPaddingMs ?? d.vad.prefixPaddingMs,
          silence_duration_ms: o.vad?.silenceDurationMs ?? d.vad.silenceDurationMs,
        },
        // Left out when off: a new session starts without noise reduction.
        ...(noiseReduction ? { noise_reduction: { type: noiseReduction } } : {}),
      },
    },
  };
  const update: SessionUpdateEvent = { type: 'session.update', session };
  return {
    apiKey: o.apiKey,
    url,
    sessionUpdate: JSON.stringify(update),
    // whisper-1 sends the whole turn so far in each delta rather than an increment [unconfirmed, twilio-facts §3a].
    wholeDeltas: model === 'whisper-1',
    prefixPaddingMs: o.vad?.prefixPaddingMs ?? d.vad.prefixPaddingMs,
    batchBytes: Math.max(0, Math.round((o.batchMs ?? d.batchMs) * BYTES_PER_MS)),
    tracks: o.tracks ?? (d.tracks as readonly Track[]),
    connectTimeoutMs: o.connectTimeoutMs ?? d.connectTimeoutMs,
    initialDelayMs: o.reconnect?.initialDelayMs ?? d.reconnect.initialDelayMs,
    maxDelayMs: o.reconnect?.maxDelayMs ?? d.reconnect.maxDelayMs,
    maxBufferedAudioMs: o.maxBufferedAudioMs ?? d.maxBufferedAudioMs,
    turnWaitMs: o.turnWaitMs ?? d.turnWaitMs,
    partialIntervalMs: o.partialIntervalMs ?? d.partialIntervalMs,
    log: o.logger ?? silentLogger,
  };
}

type ServerEvent =
  | { type: 'session.created' | 'session.updated' | 'transcription_session.updated' }
  | InputAudioBufferSpeechStartedEvent
  | InputAudioBufferSpeechStoppedEvent
  | InputAudioBufferCommittedEvent
  | ConversationItemInputAudioTranscriptionDeltaEvent
  | ConversationItemInputAudioTranscriptionCompletedEvent
  | ConversationItemInputAudioTranscriptionFailedEvent
  | RealtimeErrorEvent;

/** An append event is this, the audio's base64, and `"}`: built as bytes (base64 is ASCII), sent as a text frame. */
const APPEND_HEAD = Buffer.from('{"type":"input_audio_buffer.append","audio":"', 'latin1');
const QUOTE = 0x22;
const BRACE = 0x7d;
const TEXT = { binary: false } as const;
/** The batch buffer's room beyond a batch: one more frame of any size Twilio might send. */
const BATCH_SLACK = 4096;

/**
 * One track of one call. The hot path (`pushAudio`) never waits: audio goes straight to the socket when a
 * session is ready and keeping up, otherwise into a bounded backlog that the next frame drains.
 */
export class RealtimeTrackTranscriber implements Transcriber {
  #ws: WebSocket | undefined;
  #ready = false;
  #closed = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #degraded: string | undefined;
  /** Frames not yet sent: no session, or the socket is backed up. */
  readonly #backlog: AudioBacklog;
  /**
   * Frames sent to the current session whose turns are not transcribed yet; sent again if the session dies.
   * Twilio's base64 is decoded straight into it, and its newest `#batchLength` bytes are the batch not sent yet.
   */
  readonly #unconfirmed: AudioBacklog;
  #batchLength = 0;
  /** A batch is sent once it holds this much; what it can hold (a batch plus one more frame of any size). */
  readonly #batchBytes: number;
  readonly #batchRoom: number;
  /**
   * The socket had more than SOCKET_HIGH_WATER queued after our last write. Only our writes add to it, so while
   * this is false there is no need to ask again (the hot path then touches no socket state).
   */
  #backedUp = false;
  #framesIn = 0;
  #framesSent = 0;
  /** Session audio time (ms) up to which everything was sent (or put in the batch). */
  #sentMs = 0;
  /**
   * Session audio time (ms) the provider has shown it heard: the latest audio_start_ms / audio_end_ms of its VAD
   * events. Audio sent is not audio heard: a provider behind (or this process busy) reports a turn's start seconds of
   * audio after it was sent.
   */
  #heardMs = 0;
  /** Twilio timestamp of the session's first frame: session audio times are relative to it. */
  #sessionBaseMs: number | undefined;
  /** Turns spoken but not transcribed yet: item id → session audio time of their start. */
  readonly #pendingTurns = new Map<string, number>();
  readonly #times = new Map<string, { startMs?: number; endMs?: number }>();
  #reportedOk = false;
  readonly #idleKeepMs: number;
  readonly #order: TurnOrder;
  /** The newest partial not yet delivered, and the timer that delivers it. */
  #partial: { itemId: string; text: string; sequence: number } | undefined;
  #partialTimer: NodeJS.Timeout | undefined;
  readonly #stats = { framesDropped: 0, msDropped: 0, reconnects: 0, errors: 0 };

  constructor(
    private readonly context: TranscriberContext,
    private readonly settings: Settings,
    private readonly totals: TranscriptionTotals,
  ) {
    this.#backlog = new AudioBacklog(settings.maxBufferedAudioMs);
    this.#batchBytes = settings.batchBytes;
    this.#batchRoom = settings.batchBytes + BATCH_SLACK;
    // Never smaller than a batch: the bound then never drops a frame of the batch not sent yet.
    this.#unconfirmed = new AudioBacklog(Math.max(settings.maxBufferedAudioMs, this.#batchRoom / BYTES_PER_MS));
    this.#idleKeepMs = settings.prefixPaddingMs + 1500;
    this.#order = new TurnOrder((t) => this.#transcript(t.itemId, t.text, t.final, t.sequence), settings.turnWaitMs);
    this.#connect();
  }

  get degraded(): string | undefined {
    return this.#degraded;
  }

  get stats(): { framesIn: number; framesSent: number; framesDropped: number; msDropped: number; reconnects: number; errors: number } {
    return { framesIn: this.#framesIn, framesSent: this.#framesSent, ...this.#stats };
  }

  pushAudio(payload: string, timestampMs: number): void {
    if (this.#closed) return;
    this.#framesIn++;
    this.totals.framesIn++;
    if (this.#ready && this.#backlog.length === 0 && !(this.#backedUp && this.#stillBackedUp())) {
      this.#sendPayload(this.#ws!, payload, timestampMs);
      return;
    }
    this.#hold(payload, timestampMs);
    if (this.#ready) this.#drain();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Synchronous up to here: a privacy pause closes us in the same tick, and nothing below sends audio.
    this.#closed = true;
    this.#ready = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#partialTimer);
    this.#partial = undefined;
    this.#backlog.clear();
    this.#unconfirmed.clear();
    this.#batchLength = 0;
    this.#backedUp = false;
    this.#order.close();
    this.#pendingTurns.clear();
    this.#times.clear();
    const ws = this.#ws;
    this.#ws = undefined;
    this.settings.log.info(
      { callSid: this.context.callSid, track: this.context.track, ...this.stats },
      'OpenAI transcription session closed',
    );
    if (ws) await shut(ws);
  }

  // ---- sending ---------------------------------------------------------------------------

  #hold(payload: string, timestampMs: number): void {
    const before = { ms: this.#backlog.droppedMs, frames: this.#backlog.droppedFrames };
    this.#backlog.push(payload, timestampMs);
    const frames = this.#backlog.droppedFrames - before.frames;
    if (frames === 0) return;
    this.#countDropped(frames, this.#backlog.droppedMs - before.ms);
    if (this.#ready) this.#health({ state: 'degraded', reason: 'OpenAI transcription is not keeping up: audio dropped' });
  }

  #countDropped(frames: number, ms: number): void {
    this.#stats.framesDropped += frames;
    this.#stats.msDropped += ms;
    this.totals.framesDropped += frames;
    this.totals.msDropped += ms;
  }

  #stillBackedUp(): boolean {
    return (this.#backedUp = this.#ws!.bufferedAmount >= SOCKET_HIGH_WATER);
  }

  #drainLater(ws: WebSocket): void {
    if (ws === this.#ws && this.#ready && !this.#closed && this.#backlog.length > 0 && !this.#stillBackedUp()) this.#drain();
  }

  /** Sends held frames while the socket keeps up. */
  #drain(): void {
    const ws = this.#ws!;
    const backlog = this.#backlog;
    while (backlog.length > 0 && ws.bufferedAmount < SOCKET_HIGH_WATER) {
      const n = backlog.firstBytes;
      if (this.#batchLength + n > this.#batchRoom) this.#flushBatch(ws);
      const at = backlog.firstOffset;
      this.#unconfirmed.pushBytes(backlog.buffer, at, at + n, backlog.firstTimestamp);
      if (n > this.#batchRoom) {
        this.#sent(ws, n, backlog.firstTimestamp, false);
        this.#append(ws, backlog.buffer, at, at + n);
      } else {
        this.#sent(ws, n, backlog.firstTimestamp, true);
      }
      backlog.shift();
    }
    this.#backedUp = ws.bufferedAmount >= SOCKET_HIGH_WATER;
    // Back to ok once caught up with room to spare, so a provider at the edge does not flap.
    if (backlog.length === 0 && this.#degraded !== undefined && ws.bufferedAmount < SOCKET_HIGH_WATER / 2) this.#health({ state: 'ok' });
  }

  /**
   * The hot path: Twilio's base64 is decoded straight into the replay history, whose newest bytes are the
   * batch. A 160-byte frame's base64 ends in padding, so base64 strings cannot just be concatenated: a batch
   * is decoded, then encoded once. Decoding also means nothing of Twilio's string reaches our JSON but base64
   * we made (Node's decoder skips characters outside the alphabet).
   */
  #sendPayload(ws: WebSocket, payload: string, timestampMs: number): void {
    const most = (payload.length * 3) >> 2;
    if (this.#batchLength + most > this.#batchRoom) {
      this.#flushBatch(ws);
      if (most > this.#batchRoom) {
        // Far bigger than the 160 bytes Twilio sends: on its own.
        const bytes = Buffer.from(payload, 'base64');
        this.#unconfirmed.pushBytes(bytes, 0, bytes.length, timestampMs);
        this.#sent(ws, bytes.length, timestampMs, false);
        return this.#append(ws, bytes, 0, bytes.length);
      }
    }
    this.#sent(ws, this.#unconfirmed.push(payload, timestampMs), timestampMs, true);
  }

  /** A frame of `n` bytes was added to the replay history: count it, and send the batch it is in when full. */
  #sent(ws: WebSocket, n: number, timestampMs: number, batched: boolean): void {
    if (this.#sessionBaseMs === undefined) this.#sessionBaseMs = timestampMs;
    this.#sentMs += n / BYTES_PER_MS;
    this.#framesSent++;
    this.totals.framesSent++;
    if (batched) {
      this.#batchLength += n;
      if (this.#batchLength >= this.#batchBytes) this.#flushBatch(ws);
    }
    if (this.#pendingTurns.size === 0 && this.#unconfirmed.ms > this.#idleKeepMs) this.#forgetConfirmedAudio();
  }

  #flushBatch(ws: WebSocket): void {
    const n = this.#batchLength;
    if (n === 0) return;
    this.#batchLength = 0;
    const batch = this.#unconfirmed.newest(n);
    this.#append(ws, batch, 0, n);
  }

  /** One `input_audio_buffer.append` of `source[from, to)`. */
  #append(ws: WebSocket, source: Buffer, from: number, to: number): void {
    const head = APPEND_HEAD.length;
    const end = head + 4 * Math.ceil((to - from) / 3);
    // A fresh buffer each time (from Node's pool): ws may keep a reference to it until it is written out.
    const message = Buffer.allocUnsafe(end + 2);
    APPEND_HEAD.copy(message, 0);
    message.write(source.toString('base64', from, to), head, 'latin1');
    message[end] = QUOTE;
    message[end + 1] = BRACE;
    // Near backing up (any append that crosses the mark starts there): once this one is written out, what waits in
    // the backlog goes, even if no frame comes to push it (the call's last seconds). Otherwise no callback: the hot path.
    if (ws.bufferedAmount >= SOCKET_HIGH_WATER / 2) ws.send(message, TEXT, () => this.#drainLater(ws));
    else ws.send(message, TEXT);
    this.#backedUp = ws.bufferedAmount >= SOCKET_HIGH_WATER;
    this.totals.appends++;
    this.totals.bytesSent += message.length;
  }

  // ---- the session -----------------------------------------------------------------------

  #connect(): void {
    if (this.#closed) return;
    const { url, apiKey, connectTimeoutMs } = this.settings;
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${apiKey}` },
      // Compressing base64 audio costs CPU on the hot path and gains little.
      perMessageDeflate: false,
      handshakeTimeout: connectTimeoutMs,
    });
    this.#ws = ws;
    this.#ready = false;
    this.totals.sessions++;
    this.#timer = setTimeout(() => this.#fail(ws, `no session within ${connectTimeoutMs} ms`), connectTimeoutMs);
    this.#timer.unref();
    ws.on('open', () => ws.send(this.settings.sessionUpdate));
    ws.on('message', (data) => this.#receive(ws, data.toString()));
    ws.on('close', (code) => this.#fail(ws, `socket closed (${code})`));
    ws.on('error', (err) => this.#fail(ws, `socket error: ${err.message}`));
  }

  #receive(ws: WebSocket, raw: string): void {
    if (ws !== this.#ws || this.#closed) return;
    let event: ServerEvent;
    try {
      event = JSON.parse(raw) as ServerEvent;
    } catch {
      return this.#fail(ws, 'not JSON from the provider');
    }
    switch (event.type) {
      case 'session.updated':
      case 'transcription_session.updated':
        return this.#sessionReady(ws);
      case 'input_audio_buffer.speech_started':
        this.#heardMs = Math.max(this.#heardMs, event.audio_start_ms);
        this.#pendingTurns.set(event.item_id, event.audio_start_ms);
        this.#times.set(event.item_id, { startMs: event.audio_start_ms });
        return this.#order.add(event.item_id);
      case 'input_audio_buffer.speech_stopped': {
        this.#heardMs = Math.max(this.#heardMs, event.audio_end_ms);
        const times = this.#times.get(event.item_id);
        if (times) times.endMs = event.audio_end_ms;
        else this.#times.set(event.item_id, { endMs: event.audio_end_ms });
        return this.#forgetConfirmedAudio();
      }
      case 'input_audio_buffer.committed':
        if (!this.#pendingTurns.has(event.item_id)) this.#pendingTurns.set(event.item_id, this.#unconfirmedFromMs());
        return this.#order.add(event.item_id, event.previous_item_id);
      case 'conversation.item.input_audio_transcription.delta':
        return this.#order.delta(event.item_id, event.delta ?? '', this.settings.wholeDeltas);
      case 'conversation.item.input_audio_transcription.completed':
        this.#order.complete(event.item_id, event.transcript);
        return this.#turnDone(event.item_id);
      case 'conversation.item.input_audio_transcription.failed':
        this.totals.failedTurns++;
        // The error's message may quote the request; log only its code.
        this.settings.log.warn(
          { callSid: this.context.callSid, track: this.context.track, code: event.error?.code },
          'OpenAI could not transcribe a turn',
        );
        this.#order.fail(event.item_id);
        return this.#turnDone(event.item_id);
      case 'error':
        this.#stats.errors++;
        this.totals.errors++;
        // Which state the session is in after an error is unknown; a fresh one is, and the audio is replayed.
        return this.#fail(ws, `error event: ${event.error?.code ?? event.error?.type ?? 'unknown'}`);
    }
  }

  #sessionReady(ws: WebSocket): void {
    if (this.#ready) return;
    clearTimeout(this.#timer);
    this.#ready = true;
    if (this.#attempt > 0) {
      this.settings.log.info({ callSid: this.context.callSid, track: this.context.track, attempts: this.#attempt, held: this.#backlog.length }, 'OpenAI transcription session back');
    }
    this.#attempt = 0;
    this.#drain();
    if (this.#ws === ws && this.#backlog.length === 0) {
      // What the outage held is sent: its buffer (up to 1.5 × TRANSCRIBE_MAX_BUFFERED_MS of audio) goes with it.
      this.#backlog.clear();
      this.#health({ state: 'ok' });
    }
  }

  #turnDone(itemId: string): void {
    this.#pendingTurns.delete(itemId);
    this.#forgetConfirmedAudio();
  }

  /**
   * Audio before the oldest turn still being transcribed is safe, and so is older silence the provider has heard:
   * up to its latest VAD event, less the prefix padding a next turn may reach back into (and never the last
   * `#idleKeepMs` sent). Silence the provider has not reported on yet is kept: it may hold a turn it has not
   * announced, and the bound (maxBufferedAudioMs) keeps a long silence from growing without end.
   * The rest is kept for a replay.
   */
  #forgetConfirmedAudio(): void {
    let safeMs = Math.min(this.#sentMs - this.#idleKeepMs, this.#heardMs - this.settings.prefixPaddingMs);
    if (this.#pendingTurns.size > 0) for (const startMs of this.#pendingTurns.values()) safeMs = Math.min(safeMs, startMs);
    const held = this.#unconfirmed;
    // Never the batch not sent yet.
    while (held.length > 0 && held.byteLength - held.firstBytes >= this.#batchLength && this.#unconfirmedFromMs() + held.firstMs <= safeMs) held.shift();
  }

  /**
   * Session audio time (ms) where `#unconfirmed` starts: it holds the newest audio sent, up to `#sentMs`. Derived, not
   * counted: its bound may have dropped its oldest frames meanwhile (a long silence the provider said nothing about).
   */
  #unconfirmedFromMs(): number {
    return this.#sentMs - this.#unconfirmed.ms;
  }

  #fail(ws: WebSocket, reason: string): void {
    if (ws !== this.#ws || this.#closed) return;
    clearTimeout(this.#timer);
    this.#ws = undefined;
    this.#ready = false;
    void shut(ws);
    this.settings.log.warn({ callSid: this.context.callSid, track: this.context.track, reason, attempt: this.#attempt }, 'OpenAI transcription session lost');
    this.#health({ state: 'degraded', reason: `OpenAI transcription: ${reason}` });

    // Finals the dead session already gave are delivered; turns it never finished are transcribed again
    // by the next session, from the audio it had not confirmed, which goes first (the bound still holds).
    this.#order.abandon();
    const replayed = this.#unconfirmed.length;
    const before = { ms: this.#backlog.droppedMs, frames: this.#backlog.droppedFrames };
    this.#backlog.prepend(this.#unconfirmed);
    this.#countDropped(this.#backlog.droppedFrames - before.frames, this.#backlog.droppedMs - before.ms);
    this.totals.framesReplayed += Math.max(0, replayed - (this.#backlog.droppedFrames - before.frames));
    this.#batchLength = 0;
    this.#backedUp = false;
    this.#sentMs = 0;
    this.#heardMs = 0;
    this.#sessionBaseMs = undefined;
    this.#pendingTurns.clear();
    this.#times.clear();

    const delay = backoffDelay(this.#attempt, { initialMs: this.settings.initialDelayMs, maxMs: this.settings.maxDelayMs, jitter: 'half' });
    this.#attempt++;
    this.#stats.reconnects++;
    this.totals.reconnects++;
    this.#timer = setTimeout(() => this.#connect(), delay);
    this.#timer.unref();
  }

  // ---- out -------------------------------------------------------------------------------

  #transcript(itemId: string, text: string, final: boolean, sequence: number): void {
    const interval = this.settings.partialIntervalMs;
    if (final || interval === 0) {
      if (this.#partial?.itemId === itemId) this.#partial = undefined;
      return this.#deliver(itemId, text, final, sequence);
    }
    // A partial of another turn supersedes the held one: that turn's final is on its way or was released.
    this.#partial = { itemId, text, sequence };
    if (this.#partialTimer) return;
    this.#partialTimer = setTimeout(() => {
      this.#partialTimer = undefined;
      const p = this.#partial;
      this.#partial = undefined;
      if (p) this.#deliver(p.itemId, p.text, false, p.sequence);
    }, interval);
    this.#partialTimer.unref();
  }

  #deliver(itemId: string, text: string, final: boolean, sequence: number): void {
    if (this.#closed) return;
    const times = this.#times.get(itemId);
    const base = this.#sessionBaseMs ?? 0;
    const u: Utterance = {
      callSid: this.context.callSid,
      track: this.context.track,
      text,
      final,
      startMs: times?.startMs === undefined ? undefined : base + times.startMs,
      endMs: times?.endMs === undefined ? undefined : base + times.endMs,
      receivedAt: now(),
      sequence,
      provider: 'openai',
    };
    if (final) this.#times.delete(itemId);
    this.context.onUtterance(u);
  }

  /** Reports a change only: the first degradation (until ok again), and ok the first time and after each degradation. */
  #health(health: TranscriberHealth): void {
    if (this.#closed) return;
    if (health.state === 'degraded') {
      if (this.#degraded !== undefined) return;
      this.#degraded = health.reason;
    } else {
      if (this.#degraded === undefined && this.#reportedOk) return;
      this.#degraded = undefined;
      this.#reportedOk = true;
    }
    this.context.onHealth(health);
  }
}

/** Closes politely, then for good: a socket that does not finish its close handshake in 1 s is cut. */
function shut(ws: WebSocket): Promise<void> {
  ws.removeAllListeners();
  ws.on('error', () => {});
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const cut = setTimeout(() => {
      ws.terminate();
      resolve();
    }, 1000);
    cut.unref();
    ws.once('close', () => {
      clearTimeout(cut);
      resolve();
    });
    if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'done');
    else ws.terminate();
  });
}
