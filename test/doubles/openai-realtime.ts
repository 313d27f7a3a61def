// A local stand-in for OpenAI's Realtime transcription WebSocket (twilio-facts.md §3a), on 127.0.0.1: it speaks
// the GA transcription protocol, finds speech in the μ-law it receives by energy with server VAD semantics,
// answers each turn with scripted text, records every append byte for byte, and misbehaves on demand.
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type {
  ConversationItemInputAudioTranscriptionCompletedEvent,
  ConversationItemInputAudioTranscriptionDeltaEvent,
  InputAudioBufferCommittedEvent,
  InputAudioBufferSpeechStartedEvent,
  InputAudioBufferSpeechStoppedEvent,
  RealtimeClientEvent,
  RealtimeErrorEvent,
  RealtimeServerEvent,
  RealtimeTranscriptionSessionCreateRequest,
  SessionCreatedEvent,
  SessionUpdatedEvent,
} from 'openai/resources/realtime/realtime';
import { WebSocket, WebSocketServer } from 'ws';

/** 20 ms of μ-law at 8 kHz: the unit the double's VAD judges. */
const WINDOW = 160;
const BYTES_PER_MS = 8;

/** One turn the double heard, handed to the script to pick its transcript. */
export interface HeardTurn {
  connection: RealtimeConnection;
  /** 0 for the connection's first turn. */
  index: number;
  itemId: string;
  startMs: number;
  endMs: number;
  /** The turn's audio (from the first voiced window to the end of speech, trailing silence excluded). */
  audio: Buffer;
  /** Rough pitch from zero crossings: tells the emulator's caller tone (220 Hz) from the agent's (330 Hz). */
  pitchHz: number;
}

export interface RealtimeDoubleOptions {
  /** Text for a turn; undefined falls back to `transcripts` (per connection, in order), then `turn N`. */
  script?: (turn: HeardTurn) => string | undefined;
  transcripts?: string[];
  /** Wait before a turn's first delta (a slow provider). */
  answerDelayMs?: number;
  /** Between deltas (one per word). */
  deltaIntervalMs?: number;
  /** Keep every append (base64 as received, and the decoded bytes) and every event sent and received. Off for load runs. Default true. */
  record?: boolean;
  /** When set, connections without `Authorization: Bearer <apiKey>` are refused with 401. */
  apiKey?: string;
  /** Called with each append's decoded audio as it arrives (benchmarks read frame markers from it). */
  onAppend?: (audio: Buffer, connection: RealtimeConnection) => void;
  /** Serve wss:// with this key and certificate (PEM) instead of ws://. */
  tls?: { key: string | Buffer; cert: string | Buffer };
}

type TranscriptionSession = RealtimeTranscriptionSessionCreateRequest;
type ServerVad = { threshold: number; prefixPaddingMs: number; silenceMs: number } | null;

export class RealtimeConnection {
  /** Every client event type received, in order. */
  readonly received: string[] = [];
  /** Every server event sent, in order. */
  readonly sent: RealtimeServerEvent[] = [];
  readonly appends: string[] = [];
  readonly #audio: Buffer[] = [];
  appendCount = 0;
  bytes = 0;
  session: TranscriptionSession | undefined;
  closed = false;
  /** Turns heard so far (transcribed or not). */
  turns = 0;
  #vad: ServerVad = { threshold: 0.5, prefixPaddingMs: 300, silenceMs: 500 };
  #carry = Buffer.alloc(0);
  #heardMs = 0;
  #speech: { itemId: string; startMs: number; lastVoicedMs: number; chunks: Buffer[] } | undefined;
  #lastItemId: string | null = null;
  #uncommitted: Buffer[] = [];
  #answers: Promise<void> = Promise.resolve();
  #events = 0;

  constructor(
    readonly index: number,
    readonly url: string,
    readonly headers: IncomingMessage['headers'],
    readonly socket: WebSocket,
    private readonly double: OpenAIRealtimeDouble,
    /** The client's port: tells which process opened the connection. */
    readonly peerPort?: number,
  ) {}

  /** Everything appended, byte for byte, in order. */
  get audio(): Buffer {
    return Buffer.concat(this.#audio);
  }

  /** Sends an `error` event now (a provider-side failure). */
  sendError(code = 'server_error', message = 'The server had an error while processing your request.'): void {
    this.send<RealtimeErrorEvent>({ type: 'error', event_id: this.#eventId(), error: { type: 'server_error', code, message } });
  }

  /** Cuts the socket without a close handshake (a dropped connection). */
  drop(): void {
    this.closed = true;
    this.socket.terminate();
  }

  send<E extends RealtimeServerEvent>(event: E): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    if (this.double.record) this.sent.push(event);
    this.socket.send(JSON.stringify(event));
  }

  receive(raw: string): void {
    // ws may still hand over frames that were read in the same chunk as the one that triggered drop(): a cut socket hears nothing more.
    if (this.closed) return;
    let event: RealtimeClientEvent;
    try {
      event = JSON.parse(raw) as RealtimeClientEvent;
    } catch {
      return this.#invalid('invalid_json', 'The message is not valid JSON.');
    }
    if (this.double.record) this.received.push(event.type);
    switch (event.type) {
      case 'session.update':
        return this.#update(event.session as TranscriptionSession);
      case 'input_audio_buffer.append':
        return this.#append(event.audio);
      case 'input_audio_buffer.commit':
        return this.#commitManually();
      case 'input_audio_buffer.clear':
        this.#uncommitted = [];
        return this.send({ type: 'input_audio_buffer.cleared', event_id: this.#eventId() });
      default:
        return this.#invalid('unknown_event', `This double does not handle "${event.type}".`);
    }
  }

  #update(session: TranscriptionSession): void {
    const input = session.audio?.input;
    if (session.type !== 'transcription') return this.#invalid('invalid_value', "session.type must be 'transcription'.");
    if (input?.format?.type !== 'audio/pcmu') return this.#invalid('invalid_value', 'This double only takes audio/pcmu.');
    const td = input.turn_detection;
    if (td === null) this.#vad = null;
    else if (td?.type === 'server_vad') {
      this.#vad = {
        threshold: td.threshold ?? 0.5,
        prefixPaddingMs: td.prefix_padding_ms ?? 300,
        silenceMs: td.silence_duration_ms ?? 500,
      };
    }
    this.session = session;
    this.send<SessionUpdatedEvent>({ type: 'session.updated', event_id: this.#eventId(), session });
  }

  #append(audio: string): void {
    if (!this.session) return this.#invalid('session_not_configured', 'Send session.update first.');
    const bytes = Buffer.from(audio, 'base64');
    this.appendCount++;
    this.bytes += bytes.length;
    if (this.double.record) {
      this.appends.push(audio);
      this.#audio.push(bytes);
    }
    this.double.onAppend?.(bytes, this);
    if (this.#vad) this.#listen(bytes);
    else this.#uncommitted.push(bytes);
    this.double.afterAppend(this);
  }

  /** Server VAD over 20 ms windows: speech starts on a voiced window and stops after `silenceMs` of silence. */
  #listen(bytes: Buffer): void {
    const vad = this.#vad!;
    const data = this.#carry.length ? Buffer.concat([this.#carry, bytes]) : bytes;
    let at = 0;
    for (; at + WINDOW <= data.length; at += WINDOW) {
      const window = data.subarray(at, at + WINDOW);
      const startMs = this.#heardMs;
      this.#heardMs += WINDOW / BYTES_PER_MS;
      const voiced = voicedShare(window) > vad.threshold;
      if (!this.#speech) {
        if (!voiced) continue;
        const itemId = `item_${this.index}_${++this.turns}`;
        this.#speech = { itemId, startMs, lastVoicedMs: this.#heardMs, chunks: [Buffer.from(window)] };
        this.send<InputAudioBufferSpeechStartedEvent>({
          type: 'input_audio_buffer.speech_started',
          event_id: this.#eventId(),
          item_id: itemId,
          audio_start_ms: Math.max(0, startMs - vad.prefixPaddingMs),
        });
        continue;
      }
      if (voiced) {
        this.#speech.chunks.push(Buffer.from(window));
        this.#speech.lastVoicedMs = this.#heardMs;
      } else if (this.#heardMs - this.#speech.lastVoicedMs >= vad.silenceMs) {
        const speech = this.#speech;
        this.#speech = undefined;
        this.send<InputAudioBufferSpeechStoppedEvent>({
          type: 'input_audio_buffer.speech_stopped',
          event_id: this.#eventId(),
          item_id: speech.itemId,
          audio_end_ms: this.#heardMs,
        });
        this.#commit(speech.itemId, speech.startMs, speech.lastVoicedMs, Buffer.concat(speech.chunks));
      }
    }
    this.#carry = at < data.length ? Buffer.from(data.subarray(at)) : Buffer.alloc(0);
  }

  #commitManually(): void {
    const audio = Buffer.concat(this.#uncommitted);
    this.#uncommitted = [];
    if (audio.length === 0) return this.#invalid('input_audio_buffer_commit_empty', 'The buffer is empty.');
    const endMs = this.#heardMs + audio.length / BYTES_PER_MS;
    this.#commit(`item_${this.index}_${++this.turns}`, this.#heardMs, endMs, audio);
    this.#heardMs = endMs;
  }

  #commit(itemId: string, startMs: number, endMs: number, audio: Buffer): void {
    this.send<InputAudioBufferCommittedEvent>({
      type: 'input_audio_buffer.committed',
      event_id: this.#eventId(),
      item_id: itemId,
      previous_item_id: this.#lastItemId,
    });
    this.#lastItemId = itemId;
    const turn: HeardTurn = { connection: this, index: this.turns - 1, itemId, startMs, endMs, audio, pitchHz: pitchOf(audio) };
    const text = this.double.transcriptFor(turn);
    // Answers go out one turn after another, as the real service's do within a session.
    this.#answers = this.#answers.then(() => this.#answer(itemId, text, endMs - startMs));
  }

  async #answer(itemId: string, text: string, ms: number): Promise<void> {
    await sleep(this.double.answerDelayMs);
    const words = text.split(/(?<=\s)/);
    for (const [i, word] of words.entries()) {
      if (this.closed) return;
      if (i > 0) await sleep(this.double.deltaIntervalMs);
      this.send<ConversationItemInputAudioTranscriptionDeltaEvent>({
        type: 'conversation.item.input_audio_transcription.delta',
        event_id: this.#eventId(),
        item_id: itemId,
        content_index: 0,
        delta: word,
      });
    }
    if (this.closed) return;
    this.send<ConversationItemInputAudioTranscriptionCompletedEvent>({
      type: 'conversation.item.input_audio_transcription.completed',
      event_id: this.#eventId(),
      item_id: itemId,
      content_index: 0,
      transcript: text,
      usage: { type: 'duration', seconds: Math.round(ms) / 1000 },
    });
  }

  #invalid(code: string, message: string): void {
    this.send<RealtimeErrorEvent>({ type: 'error', event_id: this.#eventId(), error: { type: 'invalid_request_error', code, message } });
  }

  #eventId(): string {
    return `event_${this.index}_${++this.#events}`;
  }
}

export class OpenAIRealtimeDouble {
  readonly connections: RealtimeConnection[] = [];
  readonly record: boolean;
  readonly onAppend: RealtimeDoubleOptions['onAppend'];
  answerDelayMs: number;
  deltaIntervalMs: number;
  /** Upgrade attempts refused so far. */
  refused = 0;
  #refuse: { times: number; status: number } = { times: 0, status: 503 };
  #drops: { afterAppends: number; times: number } | undefined;
  #errors: { afterAppends: number; times: number } | undefined;
  readonly #next = new Map<RealtimeConnection, number>();

  private constructor(
    private readonly wss: WebSocketServer,
    private readonly options: RealtimeDoubleOptions,
    private readonly https?: HttpsServer,
  ) {
    this.record = options.record ?? true;
    this.onAppend = options.onAppend;
    this.answerDelayMs = options.answerDelayMs ?? 0;
    this.deltaIntervalMs = options.deltaIntervalMs ?? 0;
  }

  static async start(options: RealtimeDoubleOptions = {}): Promise<OpenAIRealtimeDouble> {
    const verifyClient = (info: { req: IncomingMessage }, done: (ok: boolean, status?: number, message?: string) => void) => double.#verify(info.req, done);
    const https = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }) : undefined;
    const wss = https
      ? new WebSocketServer({ server: https, perMessageDeflate: false, verifyClient })
      : new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, verifyClient });
    const double: OpenAIRealtimeDouble = new OpenAIRealtimeDouble(wss, options, https);
    wss.on('connection', (socket, req) => double.#accept(socket, req));
    const listening = https ?? wss;
    await new Promise<void>((resolve, reject) => {
      listening.once('listening', resolve);
      listening.once('error', reject);
      https?.listen(0, '127.0.0.1');
    });
    return double;
  }

  /** The URL to give the transcriber (ws://, or wss:// with `tls`; with the transcription intent). */
  get url(): string {
    const { port } = this.wss.address() as AddressInfo;
    return `${this.https ? 'wss' : 'ws'}://127.0.0.1:${port}/v1/realtime?intent=transcription`;
  }

  /** The next `times` connection attempts are answered with HTTP `status`. */
  refuseConnections(times: number, status = 503): void {
    this.#refuse = { times, status };
  }

  /** The next `times` connections to reach `afterAppends` appends have their socket cut there. */
  dropAfterAppends(afterAppends: number, times = 1): void {
    this.#drops = { afterAppends, times };
  }

  /** The next `times` connections to reach `afterAppends` appends get an `error` event there. */
  errorAfterAppends(afterAppends: number, times = 1): void {
    this.#errors = { afterAppends, times };
  }

  /** Every byte appended over all connections, in connection order. */
  get totalBytes(): number {
    return this.connections.reduce((n, c) => n + c.bytes, 0);
  }

  get totalAppends(): number {
    return this.connections.reduce((n, c) => n + c.appendCount, 0);
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.drop();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    // ws leaves a server it was given open.
    if (this.https) await new Promise<void>((resolve) => this.https!.close(() => resolve()));
  }

  /** Resolves once `check` holds (polled), or rejects after `timeoutMs`. */
  async until(check: () => boolean, timeoutMs = 5000, what = 'the double to get there'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  }

  /** @internal */
  transcriptFor(turn: HeardTurn): string {
    const scripted = this.options.script?.(turn);
    if (scripted !== undefined) return scripted;
    const list = this.options.transcripts;
    if (list) {
      const i = this.#next.get(turn.connection) ?? 0;
      this.#next.set(turn.connection, i + 1);
      if (i < list.length) return list[i]!;
    }
    return `turn ${turn.index + 1}`;
  }

  /** @internal */
  afterAppend(c: RealtimeConnection): void {
    if (this.#errors && this.#errors.times > 0 && c.appendCount === this.#errors.afterAppends) {
      this.#errors.times--;
      c.sendError();
    }
    if (this.#drops && this.#drops.times > 0 && c.appendCount === this.#drops.afterAppends) {
      this.#drops.times--;
      c.drop();
    }
  }

  #verify(req: IncomingMessage, done: (ok: boolean, status?: number, message?: string) => void): void {
    if (this.#refuse.times > 0) {
      this.#refuse.times--;
      this.refused++;
      return done(false, this.#refuse.status, 'refused by the test double');
    }
    if (this.options.apiKey && req.headers.authorization !== `Bearer ${this.options.apiKey}`) {
      this.refused++;
      return done(false, 401, 'Incorrect API key provided');
    }
    done(true);
  }

  #accept(socket: WebSocket, req: IncomingMessage): void {
    const c = new RealtimeConnection(this.connections.length, req.url ?? '', req.headers, socket, this, req.socket.remotePort);
    this.connections.push(c);
    socket.on('message', (data) => c.receive(data.toString()));
    socket.on('close', () => (c.closed = true));
    socket.on('error', () => (c.closed = true));
    c.send<SessionCreatedEvent>({
      type: 'session.created',
      event_id: `event_${c.index}_0`,
      session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: null } } },
    });
  }
}

/** μ-law digital silence is 0xFF (+0) and 0x7F (−0); anything else carries energy. */
function voicedShare(window: Buffer): number {
  let voiced = 0;
  for (let i = 0; i < window.length; i++) {
    const b = window[i]!;
    if (b !== 0xff && b !== 0x7f) voiced++;
  }
  return voiced / window.length;
}

/** Zero crossings of the μ-law sign bit (bit 7 set = positive), ignoring silent samples. */
function pitchOf(audio: Buffer): number {
  let crossings = 0;
  let voiced = 0;
  let lastSign = -1;
  for (let i = 0; i < audio.length; i++) {
    const b = audio[i]!;
    if (b === 0xff || b === 0x7f) continue;
    voiced++;
    const sign = b & 0x80;
    if (lastSign !== -1 && sign !== lastSign) crossings++;
    lastSign = sign;
  }
  return voiced === 0 ? 0 : Math.round(crossings / 2 / (voiced / 8000));
}

const sleep = (ms: number) => (ms > 0 ? new Promise<void>((r) => setTimeout(r, ms)) : Promise.resolve());
