// Twilio Media Streams wire format → plain stream events. The only module that knows Twilio's
// WebSocket JSON (twilio-facts.md §1). Numbers arrive as strings; both forms are accepted.
import type { Track } from '../types.js';

export interface MediaFormat {
  encoding: string;
  sampleRate: number;
  channels: number;
}

export type StreamEvent =
  | { kind: 'connected'; protocol: string; version: string }
  | {
      kind: 'start';
      sequence: number;
      streamSid: string;
      accountSid: string;
      callSid: string;
      tracks: Track[];
      customParameters: Record<string, string>;
      mediaFormat: MediaFormat;
    }
  | { kind: 'media'; sequence: number; streamSid: string; track: Track; chunk: number; timestamp: number; payload: string }
  | { kind: 'dtmf'; sequence: number; streamSid: string; track: Track; digit: string }
  | { kind: 'mark'; sequence: number; streamSid: string; name: string }
  | { kind: 'stop'; sequence: number; streamSid: string; accountSid: string; callSid: string };

export type ParseResult = { ok: true; event: StreamEvent } | { ok: false; reason: string };

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Accepts 5 or "5"; anything else (including "5x", "", NaN) is undefined. */
function num(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** "inbound", "inbound_track" → inbound; anything else undefined. */
function toTrack(v: unknown): Track | undefined {
  if (v === 'inbound' || v === 'inbound_track') return 'inbound';
  if (v === 'outbound' || v === 'outbound_track') return 'outbound';
  return undefined;
}

const fail = (reason: string): ParseResult => ({ ok: false, reason });

/**
 * Parses one text frame. Never throws: a bad frame is a `{ ok: false, reason }` for the caller to count and drop.
 * Nearly every frame is `media`, 50 a second per track, in the exact shape Twilio sends: those take a fast
 * path; anything else (or anything the fast path is not sure of) goes through JSON.parse.
 */
export function parseStreamMessage(raw: string): ParseResult {
  return parseMediaFast(raw) ?? parseStreamJson(raw);
}

// A media frame exactly as Twilio writes it, with streamSid before or after the media object: compact JSON,
// numbers as strings of digits, a streamSid of letters and digits, a payload of base64 characters only. No
// escapes, no whitespace, no other keys: whatever matches is valid JSON, and reads exactly as JSON.parse and
// parseMedia would read it. Anything else returns undefined and gets the full parse.
// `$` without the m flag is the end of the string; `\d` without the u flag is [0-9].
const MEDIA_SID_FIRST =
  /^\{"event":"media","sequenceNumber":"(\d{1,15})","streamSid":"([A-Za-z0-9]{1,64})","media":\{"track":"(inbound|outbound)","chunk":"(\d{1,15})","timestamp":"(\d{1,15})","payload":"([A-Za-z0-9+/]*={0,2})"\}\}$/;
const MEDIA_SID_LAST =
  /^\{"event":"media","sequenceNumber":"(\d{1,15})","media":\{"track":"(inbound|outbound)","chunk":"(\d{1,15})","timestamp":"(\d{1,15})","payload":"([A-Za-z0-9+/]*={0,2})"\},"streamSid":"([A-Za-z0-9]{1,64})"\}$/;

/** The fast path for media frames (exported for tests): a result only when it is certain, else undefined. */
export function parseMediaFast(raw: string): ParseResult | undefined {
  let m = MEDIA_SID_FIRST.exec(raw);
  if (m) return mediaEvent(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!);
  m = MEDIA_SID_LAST.exec(raw);
  if (m) return mediaEvent(m[1]!, m[6]!, m[2]!, m[3]!, m[4]!, m[5]!);
  return undefined;
}

function mediaEvent(sequence: string, streamSid: string, track: string, chunk: string, timestamp: string, payload: string): ParseResult {
  return {
    ok: true,
    event: {
      kind: 'media',
      // Up to 15 digits: below 2^53, so Number() is exact, as it is on the JSON path.
      sequence: Number(sequence),
      streamSid,
      // The constant, not the matched copy: its hash is known, and the track is a Map key downstream.
      track: track === 'inbound' ? 'inbound' : 'outbound',
      chunk: Number(chunk),
      timestamp: Number(timestamp),
      payload,
    },
  };
}

/** Any frame, through JSON.parse (exported for tests). */
export function parseStreamJson(raw: string): ParseResult {
  let msg: unknown;
  try {
    msg = JSON.parse(raw);
  } catch {
    return fail('not JSON');
  }
  if (!isObj(msg)) return fail('not a JSON object');
  switch (msg.event) {
    case 'media':
      return parseMedia(msg);
    case 'connected':
      return { ok: true, event: { kind: 'connected', protocol: String(msg.protocol ?? ''), version: String(msg.version ?? '') } };
    case 'start':
      return parseStart(msg);
    case 'dtmf':
      return parseDtmf(msg);
    case 'mark':
      return parseMark(msg);
    case 'stop':
      return parseStop(msg);
    default:
      return fail(typeof msg.event === 'string' ? `unknown event "${msg.event.slice(0, 32)}"` : 'missing event');
  }
}

function header(msg: Obj): { sequence: number; streamSid: string } | string {
  const streamSid = str(msg.streamSid);
  if (!streamSid) return 'missing streamSid';
  const sequence = num(msg.sequenceNumber);
  if (sequence === undefined) return 'missing or non-numeric sequenceNumber';
  return { sequence, streamSid };
}

function parseMedia(msg: Obj): ParseResult {
  const h = header(msg);
  if (typeof h === 'string') return fail(`media: ${h}`);
  const m = msg.media;
  if (!isObj(m)) return fail('media: missing media object');
  const track = toTrack(m.track);
  if (!track) return fail('media: unknown track');
  const payload = m.payload;
  if (typeof payload !== 'string') return fail('media: missing payload');
  const chunk = num(m.chunk);
  const timestamp = num(m.timestamp);
  if (chunk === undefined || timestamp === undefined) return fail('media: missing or non-numeric chunk/timestamp');
  return { ok: true, event: { kind: 'media', ...h, track, chunk, timestamp, payload } };
}

function parseStart(msg: Obj): ParseResult {
  const h = header(msg);
  if (typeof h === 'string') return fail(`start: ${h}`);
  const s = msg.start;
  if (!isObj(s)) return fail('start: missing start object');
  const callSid = str(s.callSid);
  if (!callSid) return fail('start: missing callSid');
  const rawTracks = Array.isArray(s.tracks) ? s.tracks : ['inbound'];
  const tracks = rawTracks.map(toTrack);
  if (tracks.some((t) => t === undefined)) return fail('start: unknown track in tracks');
  const customParameters: Record<string, string> = {};
  if (isObj(s.customParameters)) {
    for (const [k, v] of Object.entries(s.customParameters)) customParameters[k] = String(v);
  }
  const f = isObj(s.mediaFormat) ? s.mediaFormat : {};
  const mediaFormat: MediaFormat = {
    encoding: str(f.encoding) ?? 'audio/x-mulaw',
    sampleRate: num(f.sampleRate) ?? 8000,
    channels: num(f.channels) ?? 1,
  };
  return {
    ok: true,
    event: {
      kind: 'start',
      sequence: h.sequence,
      streamSid: str(s.streamSid) ?? h.streamSid,
      accountSid: str(s.accountSid) ?? '',
      callSid,
      tracks: tracks as Track[],
      customParameters,
      mediaFormat,
    },
  };
}

function parseDtmf(msg: Obj): ParseResult {
  const h = header(msg);
  if (typeof h === 'string') return fail(`dtmf: ${h}`);
  const d = msg.dtmf;
  if (!isObj(d)) return fail('dtmf: missing dtmf object');
  const digit = str(d.digit);
  if (!digit || !/^[0-9*#A-Dw]$/.test(digit)) return fail('dtmf: missing or invalid digit');
  return { ok: true, event: { kind: 'dtmf', ...h, track: toTrack(d.track) ?? 'inbound', digit } };
}

function parseMark(msg: Obj): ParseResult {
  const h = header(msg);
  if (typeof h === 'string') return fail(`mark: ${h}`);
  const name = isObj(msg.mark) ? str(msg.mark.name) : undefined;
  if (!name) return fail('mark: missing mark.name');
  return { ok: true, event: { kind: 'mark', ...h, name } };
}

function parseStop(msg: Obj): ParseResult {
  const h = header(msg);
  if (typeof h === 'string') return fail(`stop: ${h}`);
  const s = isObj(msg.stop) ? msg.stop : {};
  return { ok: true, event: { kind: 'stop', ...h, accountSid: str(s.accountSid) ?? '', callSid: str(s.callSid) ?? '' } };
}
