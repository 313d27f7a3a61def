// One emulated Twilio call: runs its TwiML (Media Streams to the service, real-time transcription
// callbacks), plays a scenario's lines on the audio timeline, and changes as Twilio would when the
// REST API updates it. Everything it does is appended to `events`.
// One file (over 300 lines): the call's TwiML, its streams, its transcription and its timeline are one state that
// Twilio's REST updates change together; the audio is in mulaw.ts, the REST API in emulator.ts.
import { randomBytes } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import twilio from 'twilio';
import WebSocket from 'ws';
import { FRAME_MS, SILENT_FRAME, toneFrame } from './mulaw.js';
import { timeline, type Scenario, type TimedLine } from './scenario.js';

export const newSid = (prefix: string): string => prefix + randomBytes(16).toString('hex');

export type CallEvent =
  | { at: number; kind: 'rest'; method: string; resource: string; form: Record<string, string>; status: number; user?: string }
  | { at: number; kind: 'stream-open'; streamSid: string; name?: string; url: string }
  | { at: number; kind: 'stream-rejected'; streamSid: string; status: number }
  | { at: number; kind: 'stream-stop'; streamSid: string; why: string }
  | { at: number; kind: 'callback'; transcriptionSid: string; event: string; line?: number; final?: boolean; status: number }
  | { at: number; kind: 'twiml'; verbs: string[] }
  | { at: number; kind: 'call-status'; status: string }
  | { at: number; kind: 'pay'; actionUrl: string; status: number };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface CallHooks {
  accountSid: string;
  authToken: string;
  /** Maps a public URL from TwiML (https://… or wss://…) to where the service really listens. */
  resolve(url: string): string;
  /** Audio-time speed-up: 1 = real time. */
  speed: number;
}

interface StreamState {
  sid: string;
  name?: string;
  url: string;
  tracks: ('inbound' | 'outbound')[];
  parameters: Record<string, string>;
  ws?: WebSocket;
  open: boolean;
  /** Audio time this stream started at; media timestamps count from here. */
  startedAt: number;
  sentUntil: number;
  seq: number;
  chunks: { inbound: number; outbound: number };
}

interface TranscriptionState {
  sid: string;
  name?: string;
  callbackUrl: string;
  track: string;
  partials: boolean;
  seq: number;
  running: boolean;
}

/** How long a simulated caller takes to key in their card details at a <Pay>. */
const PAY_MS = 10_000;

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', preserveOrder: true });

type XmlNode = Record<string, unknown> & { ':@'?: Record<string, string> };

/** Top-level verbs of a TwiML document with their attributes and children. */
function verbs(twiml: string): { name: string; attrs: Record<string, string>; children: XmlNode[] }[] {
  const doc = xml.parse(twiml) as XmlNode[];
  const response = doc.find((n) => 'Response' in n);
  if (!response) throw new Error('TwiML has no <Response>');
  return (response.Response as XmlNode[])
    .map((n) => {
      const name = Object.keys(n).find((k) => k !== ':@')!;
      return { name, attrs: n[':@'] ?? {}, children: (n[name] as XmlNode[]) ?? [] };
    })
    .filter((v) => v.name !== '#text');
}

function child(nodes: XmlNode[], name: string): { attrs: Record<string, string>; children: XmlNode[] }[] {
  return nodes.filter((n) => name in n).map((n) => ({ attrs: n[':@'] ?? {}, children: n[name] as XmlNode[] }));
}

export class EmulatedCall {
  readonly sid = newSid('CA');
  readonly events: CallEvent[] = [];
  status: 'in-progress' | 'completed' = 'in-progress';
  /** The TwiML document running now. */
  twiml = '';
  /** True while the scripted AI-agent conversation goes on (until the TwiML is replaced or the call ends). */
  conversing = true;
  recording?: { sid: string; status: 'in-progress' | 'paused' | 'stopped' };
  readonly streams = new Map<string, StreamState>();
  readonly transcriptions = new Map<string, TranscriptionState>();
  readonly lines: TimedLine[];
  readonly createdAt = new Date();
  /** Every transcript callback posted, with the line it carried and when (for latency reports). */
  readonly transcriptPosts: { line: number; final: boolean; at: number }[] = [];
  #t0 = 0;
  #timer?: NodeJS.Timeout;
  #lineCursor = 0;
  /** A <Pay> in progress: when the caller will have finished keying in, and where Twilio then posts. */
  #capture?: { actionUrl: string; doneAt: number };
  #partialCursor = 0;
  #done: Promise<void>;
  #resolveDone!: () => void;
  readonly #posts = new Set<Promise<unknown>>();

  constructor(
    readonly scenario: Scenario,
    private readonly hooks: CallHooks,
    initialTwiml: string,
  ) {
    this.lines = timeline(scenario);
    this.twiml = initialTwiml;
    this.#done = new Promise((r) => (this.#resolveDone = r));
    if (scenario.recording) this.recording = { sid: newSid('RE'), status: 'in-progress' };
  }

  /** Audio time now (ms since the call was answered, sped up). */
  get audioNow(): number {
    return (Date.now() - this.#t0) * this.hooks.speed;
  }

  get endAudioMs(): number {
    return (this.lines.at(-1)?.endMs ?? 0) + 800;
  }

  /** Resolves when the call has completed and every callback post has been answered. */
  get done(): Promise<void> {
    return this.#done;
  }

  start(): void {
    this.#t0 = Date.now();
    this.#run(this.twiml);
    const tickMs = Math.max(2, Math.min(FRAME_MS, Math.round(FRAME_MS / this.hooks.speed)));
    this.#timer = setInterval(() => this.#tick(), tickMs);
  }

  // ---- REST operations (called by the emulator's REST API) ---------------------------------

  updateTwiml(twiml: string): void {
    this.twiml = twiml;
    // The running document stops: a <Connect><Stream> ends, and so does the scripted agent conversation.
    this.conversing = false;
    for (const s of this.streams.values()) if (s.open && s.name === '__connect__') this.#stopStream(s, 'TwiML replaced');
    this.#run(twiml);
  }

  /** Calls update with Url: Twilio fetches new TwiML there (the service's own URLs are fetched here). */
  redirect(url: string): void {
    this.conversing = false;
    for (const s of this.streams.values()) if (s.open && s.name === '__connect__') this.#stopStream(s, 'call redirected');
    if (this.hooks.resolve(url)) void this.#fetchTwiml(url, {});
  }

  complete(why: string): void {
    if (this.status === 'completed') return;
    this.status = 'completed';
    this.conversing = false;
    for (const s of this.streams.values()) if (s.open) this.#stopStream(s, why);
    for (const t of this.transcriptions.values()) if (t.running) this.stopTranscription(t);
    if (this.recording?.status !== 'stopped' && this.recording) this.recording.status = 'stopped';
    this.#log({ kind: 'call-status', status: 'completed' });
    clearInterval(this.#timer);
    void Promise.allSettled([...this.#posts]).then(() => this.#resolveDone());
  }

  findStream(sidOrName: string): StreamState | undefined {
    return this.streams.get(sidOrName) ?? [...this.streams.values()].find((s) => s.name === sidOrName && s.open);
  }

  stopStreamByApi(s: StreamState): void {
    this.#stopStream(s, 'stopped through the REST API');
  }

  createStream(spec: { url: string; name?: string; track: string; parameters: Record<string, string> }): StreamState {
    return this.#openStream({ ...spec, connect: false });
  }

  findTranscription(sidOrName: string): TranscriptionState | undefined {
    return this.transcriptions.get(sidOrName) ?? [...this.transcriptions.values()].find((t) => t.name === sidOrName && t.running);
  }

  createTranscription(spec: { name?: string; callbackUrl: string; track: string; partials: boolean }): TranscriptionState {
    const t: TranscriptionState = { sid: newSid('GT'), ...spec, seq: 0, running: true };
    this.transcriptions.set(t.sid, t);
    this.#post(t, { TranscriptionEvent: 'transcription-started', Track: t.track });
    return t;
  }

  stopTranscription(t: TranscriptionState): void {
    if (!t.running) return;
    t.running = false;
    this.#post(t, { TranscriptionEvent: 'transcription-stopped' });
  }

  /** `user`: who authenticated the request (the Account SID or an API key SID), never the secret. */
  logRest(method: string, resource: string, form: Record<string, string>, status: number, user?: string): void {
    this.#log({ kind: 'rest', method, resource, form, status, ...(user ? { user } : {}) });
  }

  // ---- TwiML -------------------------------------------------------------------------------

  #run(twiml: string): void {
    const vs = verbs(twiml);
    this.#log({ kind: 'twiml', verbs: vs.map((v) => v.name) });
    for (const v of vs) {
      if (v.name === 'Start') {
        for (const s of child(v.children, 'Stream')) this.#startStream(s.attrs, s.children, false);
        for (const t of child(v.children, 'Transcription')) {
          this.createTranscription({
            name: t.attrs.name,
            callbackUrl: t.attrs.statusCallbackUrl ?? '',
            track: t.attrs.track ?? 'inbound_track',
            partials: t.attrs.partialResults === 'true',
          });
        }
      } else if (v.name === 'Connect') {
        for (const s of child(v.children, 'Stream')) this.#startStream(s.attrs, s.children, true);
      } else if (v.name === 'Hangup') {
        this.complete('<Hangup>');
      } else if (v.name === 'Pay') {
        this.#capture = { actionUrl: v.attrs.action ?? '', doneAt: this.audioNow + PAY_MS };
      } else if (v.name === 'Redirect') {
        const url = String((v.children.find((c) => '#text' in c) as { '#text'?: unknown } | undefined)?.['#text'] ?? '').trim();
        // A redirect to the service is fetched; anywhere else is the AI agent's TwiML: the conversation goes on.
        if (this.hooks.resolve(url)) void this.#fetchTwiml(url, {});
        else this.conversing = true;
      }
      // <Say>, <Enqueue>, <Dial>, <Pay>: the caller now talks to Twilio or a person, not to the service.
    }
  }

  #startStream(attrs: Record<string, string>, children: XmlNode[], connect: boolean): void {
    const parameters: Record<string, string> = {};
    for (const p of child(children, 'Parameter')) if (p.attrs.name) parameters[p.attrs.name] = p.attrs.value ?? '';
    // Only streams to the service are opened; the AI agent's own stream is part of the script.
    if (!this.hooks.resolve(attrs.url ?? '')) return;
    this.#openStream({ url: attrs.url!, name: connect ? '__connect__' : attrs.name, track: attrs.track ?? 'inbound_track', parameters, connect });
  }

  #openStream(spec: { url: string; name?: string; track: string; parameters: Record<string, string>; connect: boolean }): StreamState {
    const tracks: StreamState['tracks'] =
      spec.track === 'both_tracks' ? ['inbound', 'outbound'] : spec.track === 'outbound_track' ? ['outbound'] : ['inbound'];
    const now = this.audioNow;
    const s: StreamState = {
      sid: newSid('MZ'),
      name: spec.name,
      url: spec.url,
      tracks,
      parameters: spec.parameters,
      open: true,
      startedAt: now,
      sentUntil: now,
      seq: 0,
      chunks: { inbound: 0, outbound: 0 },
    };
    this.streams.set(s.sid, s);
    const local = this.hooks.resolve(spec.url);
    const signature = twilio.getExpectedTwilioSignature(this.hooks.authToken, spec.url, {});
    const ws = new WebSocket(local, { headers: { 'X-Twilio-Signature': signature } });
    s.ws = ws;
    ws.on('unexpected-response', (_req, res) => {
      s.open = false;
      this.#log({ kind: 'stream-rejected', streamSid: s.sid, status: res.statusCode ?? 0 });
      res.resume();
    });
    ws.on('error', () => {
      s.open = false;
    });
    ws.on('open', () => {
      if (!s.open) return ws.close();
      this.#log({ kind: 'stream-open', streamSid: s.sid, name: spec.name, url: spec.url });
      this.#send(s, { event: 'connected', protocol: 'Call', version: '1.0.0' });
      this.#send(s, {
        event: 'start',
        sequenceNumber: String(++s.seq),
        streamSid: s.sid,
        start: {
          streamSid: s.sid,
          accountSid: this.hooks.accountSid,
          callSid: this.sid,
          tracks: s.tracks,
          customParameters: s.parameters,
          mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        },
      });
      s.sentUntil = this.audioNow;
      s.startedAt = s.sentUntil;
    });
    // The service may close the stream itself (e.g. a call it no longer monitors).
    ws.on('close', () => {
      if (s.open) {
        s.open = false;
        this.#log({ kind: 'stream-stop', streamSid: s.sid, why: 'closed by the service' });
      }
    });
    return s;
  }

  #stopStream(s: StreamState, why: string): void {
    if (!s.open) return;
    s.open = false;
    this.#log({ kind: 'stream-stop', streamSid: s.sid, why });
    if (s.ws?.readyState === WebSocket.OPEN) {
      this.#send(s, { event: 'stop', sequenceNumber: String(++s.seq), streamSid: s.sid, stop: { accountSid: this.hooks.accountSid, callSid: this.sid } });
      s.ws.close(1000);
    } else {
      s.ws?.terminate();
    }
  }

  #send(s: StreamState, msg: object): void {
    s.ws?.send(JSON.stringify(msg));
  }

  // ---- the timeline --------------------------------------------------------------------------

  #tick(): void {
    if (this.status !== 'in-progress') return;
    const now = Math.min(this.audioNow, this.endAudioMs);
    if (this.#capture && now >= this.#capture.doneAt) {
      const { actionUrl } = this.#capture;
      this.#capture = undefined;
      void this.#fetchTwiml(actionUrl, {
        Result: 'success',
        PaymentConfirmationCode: 'ch_' + newSid('').slice(0, 12),
        PaymentCardNumber: 'xxxx-xxxx-xxxx-1111',
        PaymentCardType: 'visa',
        PaymentMethod: 'credit-card',
      });
    }
    for (const s of this.streams.values()) {
      if (!s.open || s.ws?.readyState !== WebSocket.OPEN) continue;
      while (s.sentUntil + FRAME_MS <= now) {
        for (const track of s.tracks) this.#sendFrame(s, track, s.sentUntil);
        s.sentUntil += FRAME_MS;
      }
    }
    this.#speak(now);
    if (now >= this.endAudioMs) this.complete('caller hung up');
  }

  #sendFrame(s: StreamState, track: 'inbound' | 'outbound', at: number): void {
    const speaker = track === 'inbound' ? 'caller' : 'agent';
    const speaking = this.conversing && this.lines.some((l) => l.speaker === speaker && at >= l.startMs && at < l.endMs);
    const chunk = ++s.chunks[track];
    this.#send(s, {
      event: 'media',
      sequenceNumber: String(++s.seq),
      streamSid: s.sid,
      media: {
        track,
        chunk: String(chunk),
        timestamp: String(Math.round(at - s.startedAt)),
        payload: speaking ? toneFrame(chunk, speaker === 'caller' ? 220 : 330) : SILENT_FRAME,
      },
    });
  }

  /**
   * Posts each line's transcript when its audio has been spoken: a partial half-way, the final at the end.
   * Lines spoken while the caller is away from the agent (queue, <Pay>) pass unheard.
   */
  #speak(now: number): void {
    for (; this.#partialCursor < this.lines.length; this.#partialCursor++) {
      const l = this.lines[this.#partialCursor]!;
      if (now < (l.startMs + l.endMs) / 2) break;
      const words = l.text.split(/\s+/);
      if (this.conversing && words.length >= 4) this.#transcribe(l, words.slice(0, Math.ceil(words.length / 2)).join(' '), false);
    }
    for (; this.#lineCursor < this.lines.length; this.#lineCursor++) {
      const l = this.lines[this.#lineCursor]!;
      if (now < l.endMs) break;
      if (this.conversing) this.#transcribe(l, l.text, true);
    }
  }

  /** Twilio fetching TwiML from the service (a <Pay> action, a <Redirect>): signed POST, then runs the answer. */
  async #fetchTwiml(url: string, fields: Record<string, string>): Promise<void> {
    const params: Record<string, string> = { AccountSid: this.hooks.accountSid, CallSid: this.sid, CallStatus: this.status, ...fields };
    const signature = twilio.getExpectedTwilioSignature(this.hooks.authToken, url, params);
    const p = fetch(this.hooks.resolve(url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: new URLSearchParams(params).toString(),
    }).then(async (res) => {
      const text = await res.text();
      this.#log({ kind: 'pay', actionUrl: url, status: res.status });
      if (res.ok && this.status === 'in-progress') {
        this.twiml = text;
        this.#run(text);
      }
    });
    this.#posts.add(p);
    await p.catch(() => this.#log({ kind: 'pay', actionUrl: url, status: 0 })).finally(() => this.#posts.delete(p));
  }

  #transcribe(line: TimedLine, text: string, final: boolean): void {
    const track = line.speaker === 'caller' ? 'inbound_track' : 'outbound_track';
    for (const t of this.transcriptions.values()) {
      if (!t.running || (t.track !== 'both_tracks' && t.track !== track) || (!final && !t.partials)) continue;
      this.transcriptPosts.push({ line: line.index, final, at: Date.now() });
      this.#post(
        t,
        {
          TranscriptionEvent: 'transcription-content',
          TranscriptionData: JSON.stringify({ transcript: text, confidence: 0.92 }),
          Final: String(final),
          Track: track,
          LanguageCode: 'en-US',
        },
        line.index,
      );
    }
  }

  #post(t: TranscriptionState, fields: Record<string, string>, line?: number): void {
    const params: Record<string, string> = {
      AccountSid: this.hooks.accountSid,
      CallSid: this.sid,
      TranscriptionSid: t.sid,
      Timestamp: new Date().toISOString(),
      SequenceId: String(++t.seq),
      ...fields,
    };
    const local = this.hooks.resolve(t.callbackUrl);
    if (!local) return;
    const signature = twilio.getExpectedTwilioSignature(this.hooks.authToken, t.callbackUrl, params);
    const p = fetch(local, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: new URLSearchParams(params).toString(),
    })
      .then(async (res) => {
        await res.arrayBuffer();
        this.#log({ kind: 'callback', transcriptionSid: t.sid, event: fields.TranscriptionEvent!, line, final: fields.Final === undefined ? undefined : fields.Final === 'true', status: res.status });
      })
      .catch(() => this.#log({ kind: 'callback', transcriptionSid: t.sid, event: fields.TranscriptionEvent!, line, status: 0 }));
    this.#posts.add(p);
    void p.finally(() => this.#posts.delete(p));
  }

  #log(e: DistributiveOmit<CallEvent, 'at'>): void {
    this.events.push({ at: Date.now(), ...e } as CallEvent);
  }
}
