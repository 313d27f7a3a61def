// The only place that calls the Twilio REST API (twilio SDK). Each function is one REST operation
// on a live call; retries, idempotency and audit live in the executor.
import twilio from 'twilio';
import type { Config } from '../config.js';
import { parseRetryAfter } from '../backoff.js';

const TWILIO_API = 'https://api.twilio.com';
/** A request gives up after this long, or sooner when the action it belongs to has less time left. */
const REQUEST_TIMEOUT_MS = 10_000;
/** The shortest timeout a request gets, so that one sent just before a deadline can still be answered. */
const MIN_REQUEST_TIMEOUT_MS = 200;

/** The deadline of the REST operation being started, while it is being started. */
let currentDeadline: number | undefined;

/**
 * Runs `fn` (one REST operation) so that its request times out by `deadline` (epoch ms): an attempt started
 * near an action's deadline does not run the SDK's full timeout past it. The SDK builds and hands over its
 * request synchronously inside the operation's call, so a slot set around that call is enough (no
 * AsyncLocalStorage: on Node 20 it would put a hook on every promise of the process, the media path's included).
 * An operation that reached the client later would simply get the full timeout.
 */
export function withDeadline<T>(deadline: number, fn: () => Promise<T>): Promise<T> {
  currentDeadline = deadline;
  try {
    return fn();
  } finally {
    currentDeadline = undefined;
  }
}

/**
 * The SDK's RequestClient with two additions: requests may go to another base URL (a local Twilio emulator, or a
 * proxy; the SDK has no base URL option, twilio-facts.md §2.8, and an injected RequestClient is its supported
 * extension point), and each request's timeout is bounded by the deadline of the action that sent it.
 */
class TakeoverRequestClient extends twilio.RequestClient {
  constructor(
    private readonly baseUrl: string,
    opts: ConstructorParameters<typeof twilio.RequestClient>[0],
  ) {
    super(opts);
  }

  override async request<T>(opts: Parameters<twilio.RequestClient['request']>[0]) {
    if (this.baseUrl !== TWILIO_API && opts.uri.startsWith(TWILIO_API)) opts.uri = this.baseUrl + opts.uri.slice(TWILIO_API.length);
    const deadline = currentDeadline;
    if (deadline !== undefined) {
      opts.timeout = Math.max(MIN_REQUEST_TIMEOUT_MS, Math.min(opts.timeout ?? REQUEST_TIMEOUT_MS, deadline - Date.now()));
    }
    const res = await super.request<T>(opts as never);
    // The SDK's RestException drops the headers, and with them how long Twilio asked us to wait.
    const retryAfterMs = res.statusCode === 429 || res.statusCode === 503 ? parseRetryAfter(res.headers?.['retry-after']) : undefined;
    if (retryAfterMs !== undefined) throw new RetryAfterException(res, retryAfterMs);
    return res;
  }
}

/** Twilio's error answer (as the SDK's RestException) that said when to try again. */
export class RetryAfterException extends twilio.RestException {
  constructor(
    response: ConstructorParameters<typeof twilio.RestException>[0],
    readonly retryAfterMs: number,
  ) {
    super(response);
  }
}

export type TwilioClient = twilio.Twilio;

export function createTwilioClient(cfg: Config['twilio']): TwilioClient {
  // Retries are the executor's job (every attempt is audited), so the SDK's own are off.
  const requestOpts = { timeout: REQUEST_TIMEOUT_MS, keepAlive: true, autoRetry: false };
  const httpClient = new TakeoverRequestClient(cfg.apiBaseUrl, requestOpts);
  const [username, password] =
    cfg.apiKeySid && cfg.apiKeySecret ? [cfg.apiKeySid, cfg.apiKeySecret] : [cfg.accountSid, cfg.authToken!];
  return twilio(username, password, { accountSid: cfg.accountSid, httpClient });
}

export interface StreamSpec {
  url: string;
  name: string;
  track: 'inbound_track' | 'outbound_track' | 'both_tracks';
  parameters: Record<string, string>;
  statusCallback?: string;
}

export interface TranscriptionSpec {
  name: string;
  statusCallbackUrl: string;
  track: 'inbound_track' | 'outbound_track' | 'both_tracks';
  partialResults: boolean;
  languageCode?: string;
}

/** The REST operations takeover performs on a live call. */
export interface CallControl {
  updateTwiml(callSid: string, twiml: string): Promise<void>;
  redirect(callSid: string, url: string): Promise<void>;
  end(callSid: string): Promise<void>;
  stopStream(callSid: string, sidOrName: string): Promise<void>;
  /** Returns the new stream's SID. */
  createStream(callSid: string, spec: StreamSpec): Promise<string>;
  setRecording(callSid: string, status: 'paused' | 'in-progress'): Promise<void>;
  stopTranscription(callSid: string, sidOrName: string): Promise<void>;
  createTranscription(callSid: string, spec: TranscriptionSpec): Promise<string>;
  /** The call's status: queued, ringing, in-progress, completed, … */
  status(callSid: string): Promise<string>;
}

export function twilioCallControl(client: TwilioClient): CallControl {
  // The SDK loads each resource's module on first use (~200 ms): pay that at start-up, not on a caller's turn.
  const warm = client.calls('CA00000000000000000000000000000000');
  void [warm.streams, warm.recordings, warm.transcriptions];
  return {
    async updateTwiml(callSid, twiml) {
      await client.calls(callSid).update({ twiml });
    },
    async redirect(callSid, url) {
      await client.calls(callSid).update({ url, method: 'POST' });
    },
    async end(callSid) {
      await client.calls(callSid).update({ status: 'completed' });
    },
    async stopStream(callSid, sidOrName) {
      await client.calls(callSid).streams(sidOrName).update({ status: 'stopped' });
    },
    async createStream(callSid, spec) {
      const params: Record<string, string> = {};
      Object.entries(spec.parameters)
        .slice(0, 99)
        .forEach(([name, value], i) => {
          params[`parameter${i + 1}.name`] = name;
          params[`parameter${i + 1}.value`] = value;
        });
      const stream = await client.calls(callSid).streams.create({
        url: spec.url,
        name: spec.name,
        track: spec.track,
        ...(spec.statusCallback ? { statusCallback: spec.statusCallback } : {}),
        ...params,
      });
      return stream.sid;
    },
    async setRecording(callSid, status) {
      await client
        .calls(callSid)
        .recordings('Twilio.CURRENT')
        .update(status === 'paused' ? { status, pauseBehavior: 'skip' } : { status });
    },
    async stopTranscription(callSid, sidOrName) {
      await client.calls(callSid).transcriptions(sidOrName).update({ status: 'stopped' });
    },
    async status(callSid) {
      return (await client.calls(callSid).fetch()).status;
    },
    async createTranscription(callSid, spec) {
      const t = await client.calls(callSid).transcriptions.create({
        name: spec.name,
        statusCallbackUrl: spec.statusCallbackUrl,
        track: spec.track,
        partialResults: spec.partialResults,
        ...(spec.languageCode ? { languageCode: spec.languageCode } : {}),
      });
      return t.sid;
    },
  };
}

/** What a failed REST call means for the action that made it. */
export interface RestFailure {
  /** gone: the call (or resource) is no longer there; retry: try again; fatal: Twilio refused the request as it is. */
  kind: 'gone' | 'retry' | 'fatal';
  /** HTTP status; undefined when no answer came (connection refused or reset, timeout). */
  status?: number;
  /** Twilio's error code (20429, 21220, …). */
  code?: number;
  /** For a request that got no answer: ECONNREFUSED, ECONNRESET, ETIMEDOUT, … */
  network?: string;
  /** How long Twilio asked us to wait (Retry-After), in ms. */
  retryAfterMs?: number;
  message: string;
}

/** 20404 / 404 and 21220 mean the call (or the resource) is no longer there: a normal outcome, never retried. */
export function classifyRestError(err: unknown): RestFailure {
  const e = err as { status?: number; code?: number | string; message?: string; retryAfterMs?: number };
  const status = typeof e.status === 'number' ? e.status : undefined;
  const code = typeof e.code === 'number' ? e.code : undefined;
  const message = String(e.message ?? err).slice(0, 300);
  if (status === undefined) {
    // No answer: connection refused or reset, a timeout (axios says ECONNABORTED for its own).
    const network = typeof e.code === 'string' ? (e.code === 'ECONNABORTED' ? 'ETIMEDOUT' : e.code) : /timeout/i.test(message) ? 'ETIMEDOUT' : 'network';
    return { kind: 'retry', network, message };
  }
  if (code === 21220 || code === 20404 || status === 404) return { kind: 'gone', status, code, message };
  if (status === 429 || status >= 500) return { kind: 'retry', status, code, message, ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}) };
  return { kind: 'fatal', status, code, message };
}
