// A local stand-in for Twilio: the REST paths takeover uses (Basic auth, form bodies, Twilio's JSON
// and error shapes) and scripted calls that stream to the service. The demo, tests and load runs
// point the service at it with TWILIO_API_BASE_URL; nothing in the service knows it exists.
// Fault modes a test can turn on, for the REST API only (calls keep streaming and posting callbacks):
//   inject(op, n, 500)                 the next n requests for op get 500 (any status and Twilio code);
//   rateLimit(op, n, retryAfterSeconds) the next n get 429 / 20429 with a Retry-After header;
//   delay(op, n, ms)                   the next n are answered normally, ms late (a slow API);
//   refuseConnections(ms)              for ms, the API port is closed (new connections: ECONNREFUSED) and open
//                                      keep-alive connections are reset (ECONNRESET), as in an outage.
// One file (over 300 lines): the REST paths share the calls, the fault modes and the error shapes; a call's own
// behaviour is in call.ts.
import type { Socket } from 'node:net';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import twilio from 'twilio';
import { EmulatedCall, newSid, type CallEvent } from './call.js';
import type { Scenario } from './scenario.js';

export interface EmulatorOptions {
  accountSid: string;
  /** Signs the emulator's webhooks, and with the Account SID authenticates REST requests. */
  authToken: string;
  /** API keys of the account (SK… and its secret): Basic auth as `SK…:secret` is accepted too, as Twilio does. */
  apiKeys?: { sid: string; secret: string }[];
  /** The service's public base URL (what TwiML and signatures use), e.g. https://takeover.example.com */
  servicePublicUrl: string;
  /** Where the service really listens, e.g. http://127.0.0.1:3000 */
  serviceLocalUrl: string;
  /** Audio-time speed-up for scripted calls (1 = real time). */
  speed?: number;
}

/**
 * An injected failure: the next `times` requests matching `operation` get `status` (and Twilio `code`), or with
 * `delayMs`, are answered normally that much later (a slow API, as under load).
 */
export interface Fault {
  operation: RestOperation;
  status: number;
  code: number;
  times: number;
  delayMs?: number;
  /** Sent as the Retry-After header (seconds). */
  retryAfterSeconds?: number;
}

export type RestOperation = 'calls.update' | 'calls.fetch' | 'streams.create' | 'streams.update' | 'recordings.update' | 'transcriptions.create' | 'transcriptions.update';

const API = '/2010-04-01/Accounts/:AccountSid';

export class TwilioEmulator {
  readonly calls = new Map<string, EmulatedCall>();
  readonly faults: Fault[] = [];
  /** The Basic-auth user each accepted request came with: the Account SID or an API key SID. */
  readonly #users = new WeakMap<FastifyRequest, string>();
  readonly app: FastifyInstance;
  #url = '';
  readonly #sockets = new Set<Socket>();
  /** While the API refuses connections: the timer that brings it back. */
  #outage?: NodeJS.Timeout;

  constructor(readonly opts: EmulatorOptions) {
    this.app = Fastify({ logger: false });
    void this.app.register(formbody);
    this.app.addHook('onRequest', async (req, reply) => this.#auth(req, reply));
    this.#routes();
  }

  /** Base URL of the REST API (set TWILIO_API_BASE_URL to it). */
  get url(): string {
    return this.#url;
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    this.#url = await this.app.listen({ port, host });
    this.app.server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    return this.#url;
  }

  async close(): Promise<void> {
    for (const c of this.calls.values()) c.complete('emulator closed');
    if (this.#outage) {
      clearTimeout(this.#outage);
      await this.#relisten();
    }
    await this.app.close();
  }

  /**
   * An outage of the REST API from now on, for `ms`: the port stops listening (a new connection is refused)
   * and every open connection is reset. Resolves when the API listens again, on the same port.
   */
  refuseConnections(ms: number): Promise<void> {
    if (this.#outage) throw new Error('the emulator already refuses connections');
    this.app.server.close();
    for (const socket of this.#sockets) socket.resetAndDestroy();
    return new Promise<void>((resolve, reject) => {
      this.#outage = setTimeout(() => this.#relisten().then(resolve, reject), ms);
    });
  }

  async #relisten(): Promise<void> {
    const { port, hostname } = new URL(this.#url);
    await new Promise<void>((resolve, reject) => {
      this.app.server.once('error', reject);
      this.app.server.listen(Number(port), hostname, () => {
        this.app.server.off('error', reject);
        resolve();
      });
    });
    this.#outage = undefined;
  }

  /** The TwiML a customer's voice webhook would answer with: the AI agent plus takeover listening. */
  initialTwiml(s: Scenario, streamName = 'takeover'): string {
    const pub = this.opts.servicePublicUrl.replace(/\/$/, '');
    const wss = pub.replace(/^http/, 'ws');
    const params = { from: s.from, to: s.to, ...s.parameters };
    const vr = new twilio.twiml.VoiceResponse();
    const stream = vr.start().stream({ url: `${wss}/media-stream`, name: streamName, track: 'both_tracks' });
    for (const [name, value] of Object.entries(params)) stream.parameter({ name, value });
    vr.start().transcription({
      name: streamName,
      statusCallbackUrl: `${pub}/twilio/transcription`,
      track: 'both_tracks',
      partialResults: true,
    });
    vr.connect().stream({ url: 'wss://agent.example.com/ai-agent' });
    return vr.toString();
  }

  /** Places a scripted call: it answers, runs its TwiML and starts speaking at once. */
  placeCall(s: Scenario, twiml = this.initialTwiml(s)): EmulatedCall {
    const call = new EmulatedCall(
      s,
      {
        accountSid: this.opts.accountSid,
        authToken: this.opts.authToken,
        speed: this.opts.speed ?? 1,
        resolve: (url) => this.#resolve(url),
      },
      twiml,
    );
    this.calls.set(call.sid, call);
    call.start();
    return call;
  }

  /** Fails the next `times` requests for `operation` (429/20429 by default, to exercise retries). */
  inject(operation: RestOperation, times: number, status = 429, code = status === 429 ? 20429 : 20500): void {
    this.faults.push({ operation, status, code, times });
  }

  /** Answers the next `times` requests for `operation` with 429 (20429) and `Retry-After: retryAfterSeconds`. */
  rateLimit(operation: RestOperation, times: number, retryAfterSeconds: number): void {
    this.faults.push({ operation, status: 429, code: 20429, times, retryAfterSeconds });
  }

  /** Answers the next `times` requests for `operation` only after `delayMs` (then as usual). */
  delay(operation: RestOperation, times: number, delayMs: number): void {
    this.faults.push({ operation, status: 200, code: 0, times, delayMs });
  }

  /** Every REST request the emulator answered, across calls. */
  restLog(): (CallEvent & { kind: 'rest' } & { callSid: string })[] {
    return [...this.calls.values()].flatMap((c) =>
      c.events.filter((e): e is CallEvent & { kind: 'rest' } => e.kind === 'rest').map((e) => ({ ...e, callSid: c.sid })),
    );
  }

  #resolve(url: string): string {
    const pub = new URL(this.opts.servicePublicUrl);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return '';
    }
    if (u.host !== pub.host) return '';
    const local = new URL(this.opts.serviceLocalUrl);
    const scheme = u.protocol === 'wss:' || u.protocol === 'ws:' ? 'ws:' : 'http:';
    return `${scheme}//${local.host}${u.pathname}${u.search}`;
  }

  /** HTTP Basic: the Account SID with the Auth Token, or one of the account's API keys with its secret. */
  async #auth(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const header = req.headers.authorization ?? '';
    const decoded = Buffer.from(header.replace(/^Basic /, ''), 'base64').toString();
    const colon = decoded.indexOf(':');
    const [user, pass] = colon < 0 ? [decoded, undefined] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
    const ok =
      (user === this.opts.accountSid && pass === this.opts.authToken) ||
      (this.opts.apiKeys ?? []).some((k) => user === k.sid && pass === k.secret);
    if (!ok) {
      await this.#error(reply, 401, 20003, 'Authenticate');
      return;
    }
    this.#users.set(req, user);
  }

  #fault(op: RestOperation): Fault | undefined {
    const f = this.faults.find((x) => x.operation === op && x.times > 0);
    if (f) f.times--;
    return f;
  }

  #error(reply: FastifyReply, status: number, code: number, message: string): FastifyReply {
    return reply.code(status).send({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
  }

  /**
   * A call-scoped REST operation: account check, injected faults, the call lookup, then `handle`, whose
   * answer (or TwilioError) is sent in Twilio's format and recorded on the call.
   */
  #operation(
    path: string,
    op: RestOperation,
    resource: string,
    handle: (call: EmulatedCall, form: Record<string, string>, sid: string) => Record<string, unknown>,
  ): void {
    this.app.post(`${API}${path}`, async (req, reply) => {
      const params = req.params as Record<string, string>;
      const form = (req.body ?? {}) as Record<string, string>;
      const call = this.calls.get(params.CallSid ?? params.Sid ?? '');
      const notFound = new TwilioError(404, 20404, `The requested resource ${req.url} was not found`);
      try {
        if (params.AccountSid !== this.opts.accountSid) throw notFound;
        const fault = this.#fault(op);
        if (fault?.delayMs !== undefined) await new Promise((r) => setTimeout(r, fault.delayMs));
        else if (fault) {
          if (fault.retryAfterSeconds !== undefined) reply.header('Retry-After', String(fault.retryAfterSeconds));
          throw new TwilioError(fault.status, fault.code, fault.status === 429 ? 'Too Many Requests' : 'Service unavailable');
        }
        if (!call) throw notFound;
        const body = handle(call, form, params.Sid ?? '');
        call.logRest('POST', resource, form, 200, this.#users.get(req));
        return body;
      } catch (err) {
        if (!(err instanceof TwilioError)) throw err;
        call?.logRest('POST', resource, form, err.status, this.#users.get(req));
        return this.#error(reply, err.status, err.code, err.message);
      }
    });
  }

  #routes(): void {
    const inProgress = (call: EmulatedCall) => {
      if (call.status !== 'in-progress') throw new TwilioError(400, 21220, 'Call is not in-progress. Cannot redirect.');
    };

    this.app.get(`${API}/Calls/:Sid.json`, async (req, reply) => {
      const call = this.calls.get((req.params as { Sid: string }).Sid);
      if (!call || (req.params as { AccountSid: string }).AccountSid !== this.opts.accountSid) {
        return this.#error(reply, 404, 20404, `The requested resource ${req.url} was not found`);
      }
      return callJson(call, this.opts.accountSid);
    });

    this.#operation('/Calls/:Sid.json', 'calls.update', 'Calls', (call, form) => {
      const { Twiml, Url, Status } = form;
      // Twilio's spec says only "Twiml and url parameters are mutually exclusive" (UpdateCall in
      // twilio_api_v2010.json); no source found names the error code it answers with. Not 21220 ("Invalid
      // call state", which takeover rightly reads as "the call is gone"): the generic 400 "Bad Request", code 400,
      // "Input on the request did not pass validation" (https://www.twilio.com/docs/api/errors/400).
      if (Twiml !== undefined && Url !== undefined) throw new TwilioError(400, 400, 'Twiml and Url are mutually exclusive: give one of them');
      inProgress(call);
      if (Twiml !== undefined && Twiml.length > 4000) {
        throw new TwilioError(400, 32018, 'Twiml size exceeded maximum allowed value of 4000 characters');
      }
      if (Status === 'completed' || Status === 'canceled') call.complete(`Status=${Status} through the REST API`);
      else if (Twiml !== undefined) {
        try {
          call.updateTwiml(Twiml);
        } catch (err) {
          throw new TwilioError(400, 12100, `Document parse failure: ${(err as Error).message}`);
        }
      } else if (Url !== undefined) call.redirect(Url);
      else throw new TwilioError(400, 20001, 'Give Twiml, Url or Status');
      return callJson(call, this.opts.accountSid);
    });

    this.#operation('/Calls/:CallSid/Streams.json', 'streams.create', 'Streams', (call, form) => {
      inProgress(call);
      if (!form.Url) throw new TwilioError(400, 21201, 'Url is required');
      const parameters: Record<string, string> = {};
      for (let i = 1; i <= 99; i++) {
        const name = form[`Parameter${i}.Name`];
        if (name) parameters[name] = form[`Parameter${i}.Value`] ?? '';
      }
      const s = call.createStream({ url: form.Url, name: form.Name, track: form.Track ?? 'inbound_track', parameters });
      return subresourceJson('Streams', call, s.sid, s.name, 'in-progress', this.opts.accountSid);
    });

    this.#operation('/Calls/:CallSid/Streams/:Sid.json', 'streams.update', 'Streams/{Sid}', (call, form, sid) => {
      const s = call.findStream(sid);
      if (!s) throw new TwilioError(404, 20404, `No stream ${sid} on this call`);
      if (form.Status !== 'stopped') throw new TwilioError(400, 20001, 'Status must be stopped');
      call.stopStreamByApi(s);
      return subresourceJson('Streams', call, s.sid, s.name, 'stopped', this.opts.accountSid);
    });

    this.#operation('/Calls/:CallSid/Recordings/:Sid.json', 'recordings.update', 'Recordings/{Sid}', (call, form, sid) => {
      const rec = call.recording;
      if (!rec || (sid !== 'Twilio.CURRENT' && sid !== rec.sid) || rec.status === 'stopped') {
        throw new TwilioError(404, 20404, `No recording ${sid} running on this call`);
      }
      if (!['paused', 'in-progress', 'stopped'].includes(form.Status ?? '')) {
        throw new TwilioError(400, 20001, 'Status must be paused, in-progress or stopped');
      }
      rec.status = form.Status as typeof rec.status;
      return recordingJson(call, rec, this.opts.accountSid);
    });

    this.#operation('/Calls/:CallSid/Transcriptions.json', 'transcriptions.create', 'Transcriptions', (call, form) => {
      inProgress(call);
      const t = call.createTranscription({
        name: form.Name,
        callbackUrl: form.StatusCallbackUrl ?? '',
        track: form.Track ?? 'inbound_track',
        partials: form.PartialResults === 'true',
      });
      return subresourceJson('Transcriptions', call, t.sid, t.name, 'in-progress', this.opts.accountSid);
    });

    this.#operation('/Calls/:CallSid/Transcriptions/:Sid.json', 'transcriptions.update', 'Transcriptions/{Sid}', (call, _form, sid) => {
      const t = call.findTranscription(sid);
      if (!t) throw new TwilioError(404, 20404, `No transcription ${sid} on this call`);
      call.stopTranscription(t);
      return subresourceJson('Transcriptions', call, t.sid, t.name, 'stopped', this.opts.accountSid);
    });

    this.app.setNotFoundHandler((req, reply) => this.#error(reply, 404, 20404, `The requested resource ${req.url} was not found`));
  }
}

/** An error answered in Twilio's format: `{ code, message, more_info, status }`. */
class TwilioError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const rfc2822 = (d: Date) => d.toUTCString().replace('GMT', '+0000');

function callJson(call: EmulatedCall, accountSid: string): Record<string, unknown> {
  const base = `/2010-04-01/Accounts/${accountSid}/Calls/${call.sid}`;
  return {
    sid: call.sid,
    date_created: rfc2822(call.createdAt),
    date_updated: rfc2822(new Date()),
    parent_call_sid: null,
    account_sid: accountSid,
    to: call.scenario.to,
    to_formatted: call.scenario.to,
    from: call.scenario.from,
    from_formatted: call.scenario.from,
    phone_number_sid: null,
    status: call.status,
    start_time: rfc2822(call.createdAt),
    end_time: call.status === 'completed' ? rfc2822(new Date()) : null,
    duration: call.status === 'completed' ? String(Math.round((Date.now() - call.createdAt.getTime()) / 1000)) : null,
    price: null,
    price_unit: 'USD',
    direction: 'inbound',
    answered_by: null,
    api_version: '2010-04-01',
    forwarded_from: null,
    group_sid: null,
    caller_name: null,
    queue_time: '0',
    trunk_sid: null,
    uri: `${base}.json`,
    subresource_uris: {
      recordings: `${base}/Recordings.json`,
      streams: `${base}/Streams.json`,
      transcriptions: `${base}/Transcriptions.json`,
    },
  };
}

/** A Stream or real-time Transcription resource: both have this shape (twilio_api_v2010.json). */
function subresourceJson(kind: 'Streams' | 'Transcriptions', call: EmulatedCall, sid: string, name: string | undefined, status: string, accountSid: string) {
  return {
    sid,
    account_sid: accountSid,
    call_sid: call.sid,
    name: name ?? null,
    status,
    date_updated: rfc2822(new Date()),
    uri: `/2010-04-01/Accounts/${accountSid}/Calls/${call.sid}/${kind}/${sid}.json`,
  };
}

function recordingJson(call: EmulatedCall, rec: NonNullable<EmulatedCall['recording']>, accountSid: string) {
  return {
    account_sid: accountSid,
    api_version: '2010-04-01',
    call_sid: call.sid,
    conference_sid: null,
    date_created: rfc2822(call.createdAt),
    date_updated: rfc2822(new Date()),
    start_time: rfc2822(call.createdAt),
    duration: null,
    sid: rec.sid,
    price: null,
    uri: `/2010-04-01/Accounts/${accountSid}/Calls/${call.sid}/Recordings/${rec.sid}.json`,
    encryption_details: null,
    price_unit: 'USD',
    status: rec.status,
    channels: 1,
    source: 'StartCallRecordingAPI',
    error_code: null,
    track: 'both',
  };
}

export { newSid };
