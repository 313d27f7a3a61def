// Twilio Media Streams frames as Twilio sends them (numbers as strings) and as they go wrong.
import { describe, expect, it } from 'vitest';
import { parseMediaFast, parseStreamJson, parseStreamMessage } from '../../src/media/protocol.js';

const SID = 'MZ' + '1'.repeat(32);
const CALL = 'CA' + '2'.repeat(32);
const ACCOUNT = 'AC' + '3'.repeat(32);

const ok = (frame: unknown) => {
  const r = parseStreamMessage(JSON.stringify(frame));
  if (!r.ok) throw new Error(`expected ok, got: ${r.reason}`);
  return r.event;
};
const reason = (raw: string) => {
  const r = parseStreamMessage(raw);
  if (r.ok) throw new Error('expected a rejected frame');
  return r.reason;
};

describe('Twilio Media Streams frames', () => {
  it('reads connected, which has no streamSid or sequenceNumber', () => {
    expect(ok({ event: 'connected', protocol: 'Call', version: '1.0.0' })).toEqual({ kind: 'connected', protocol: 'Call', version: '1.0.0' });
  });

  it('reads start with tracks, custom parameters and media format', () => {
    const ev = ok({
      event: 'start',
      sequenceNumber: '1',
      streamSid: SID,
      start: {
        streamSid: SID,
        accountSid: ACCOUNT,
        callSid: CALL,
        tracks: ['inbound', 'outbound'],
        customParameters: { tenant: 'acme', from: '+15550100001' },
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
    });
    expect(ev).toEqual({
      kind: 'start',
      sequence: 1,
      streamSid: SID,
      accountSid: ACCOUNT,
      callSid: CALL,
      tracks: ['inbound', 'outbound'],
      customParameters: { tenant: 'acme', from: '+15550100001' },
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
    });
  });

  it('reads media on both tracks with string numbers', () => {
    for (const track of ['inbound', 'outbound'] as const) {
      expect(ok({ event: 'media', sequenceNumber: '3', streamSid: SID, media: { track, chunk: '1', timestamp: '5', payload: '//8=' } })).toEqual({
        kind: 'media',
        sequence: 3,
        streamSid: SID,
        track,
        chunk: 1,
        timestamp: 5,
        payload: '//8=',
      });
    }
  });

  it('accepts numbers that arrive as JSON numbers too', () => {
    const ev = ok({ event: 'media', sequenceNumber: 4, streamSid: SID, media: { track: 'inbound', chunk: 2, timestamp: 25, payload: '' } });
    expect(ev).toMatchObject({ sequence: 4, chunk: 2, timestamp: 25 });
  });

  it('reads dtmf, whose track is inbound_track', () => {
    expect(ok({ event: 'dtmf', sequenceNumber: '5', streamSid: SID, dtmf: { track: 'inbound_track', digit: '7' } })).toEqual({
      kind: 'dtmf',
      sequence: 5,
      streamSid: SID,
      track: 'inbound',
      digit: '7',
    });
  });

  it('reads mark and stop', () => {
    expect(ok({ event: 'mark', sequenceNumber: '6', streamSid: SID, mark: { name: 'greeting' } })).toEqual({
      kind: 'mark',
      sequence: 6,
      streamSid: SID,
      name: 'greeting',
    });
    expect(ok({ event: 'stop', sequenceNumber: '7', streamSid: SID, stop: { accountSid: ACCOUNT, callSid: CALL } })).toEqual({
      kind: 'stop',
      sequence: 7,
      streamSid: SID,
      accountSid: ACCOUNT,
      callSid: CALL,
    });
  });

  it('rejects bad frames with a reason instead of throwing', () => {
    expect(reason('not json')).toBe('not JSON');
    expect(reason('[1,2]')).toBe('not a JSON object');
    expect(reason('null')).toBe('not a JSON object');
    expect(reason('{"event":"hello"}')).toBe('unknown event "hello"');
    expect(reason('{"streamSid":"x"}')).toBe('missing event');
    expect(reason(JSON.stringify({ event: 'media', sequenceNumber: '1', media: { track: 'inbound', chunk: '1', timestamp: '0', payload: '' } }))).toMatch(/streamSid/);
    expect(reason(JSON.stringify({ event: 'media', sequenceNumber: 'x1', streamSid: SID, media: { track: 'inbound', chunk: '1', timestamp: '0', payload: '' } }))).toMatch(/sequenceNumber/);
    expect(reason(JSON.stringify({ event: 'media', sequenceNumber: '1', streamSid: SID, media: { track: 'sideways', chunk: '1', timestamp: '0', payload: '' } }))).toMatch(/track/);
    expect(reason(JSON.stringify({ event: 'media', sequenceNumber: '1', streamSid: SID, media: { track: 'inbound', chunk: '1', timestamp: '0' } }))).toMatch(/payload/);
    expect(reason(JSON.stringify({ event: 'media', sequenceNumber: '1', streamSid: SID }))).toMatch(/media object/);
    expect(reason(JSON.stringify({ event: 'start', sequenceNumber: '1', streamSid: SID, start: { tracks: ['inbound'] } }))).toMatch(/callSid/);
    expect(reason(JSON.stringify({ event: 'start', sequenceNumber: '1', streamSid: SID, start: { callSid: CALL, tracks: ['left'] } }))).toMatch(/track/);
    expect(reason(JSON.stringify({ event: 'dtmf', sequenceNumber: '1', streamSid: SID, dtmf: { digit: 'xx' } }))).toMatch(/digit/);
    expect(reason(JSON.stringify({ event: 'mark', sequenceNumber: '1', streamSid: SID, mark: {} }))).toMatch(/mark.name/);
  });
});

describe('the fast path for media frames', () => {
  const PAYLOAD = Buffer.from(Array.from({ length: 160 }, (_, i) => (i * 37) & 0xff)).toString('base64');
  // Both key orders: streamSid before media (as in twilio-facts §1) and after it (as in Twilio's docs examples).
  const sidFirst = (p = PAYLOAD, track = 'inbound') =>
    `{"event":"media","sequenceNumber":"42","streamSid":"${SID}","media":{"track":"${track}","chunk":"41","timestamp":"820","payload":"${p}"}}`;
  const sidLast = (p = PAYLOAD, track = 'outbound') =>
    `{"event":"media","sequenceNumber":"42","media":{"track":"${track}","chunk":"41","timestamp":"820","payload":"${p}"},"streamSid":"${SID}"}`;

  it('reads Twilio media frames in either key order, exactly as JSON.parse would', () => {
    for (const [raw, track] of [
      [sidFirst(), 'inbound'],
      [sidLast(), 'outbound'],
      [sidFirst(PAYLOAD, 'outbound'), 'outbound'],
      [sidLast(PAYLOAD, 'inbound'), 'inbound'],
    ] as const) {
      const expected = { kind: 'media', sequence: 42, streamSid: SID, track, chunk: 41, timestamp: 820, payload: PAYLOAD };
      expect(parseMediaFast(raw)).toEqual({ ok: true, event: expected });
      expect(parseStreamJson(raw)).toEqual({ ok: true, event: expected });
      expect(parseStreamMessage(raw)).toEqual({ ok: true, event: expected });
    }
    expect(parseMediaFast(sidFirst(''))).toEqual(parseStreamJson(sidFirst('')));
  });

  it('leaves anything else to JSON.parse, which still reads what is valid and rejects what is not', () => {
    const fallback = (raw: string) => {
      expect(parseMediaFast(raw)).toBeUndefined();
      return parseStreamMessage(raw);
    };
    // Valid, but not in the exact shape: the full parse reads them.
    expect(fallback(JSON.stringify({ event: 'media', sequenceNumber: 42, streamSid: SID, media: { track: 'inbound', chunk: 41, timestamp: 820, payload: PAYLOAD } }))).toMatchObject({ ok: true, event: { sequence: 42, chunk: 41, timestamp: 820 } });
    expect(fallback(JSON.stringify(JSON.parse(sidFirst()), null, 2))).toMatchObject({ ok: true, event: { payload: PAYLOAD } });
    expect(fallback(sidFirst() + '\n')).toMatchObject({ ok: true });
    expect(fallback(sidFirst('ab\\/c'))).toMatchObject({ ok: true, event: { payload: 'ab/c' } });
    expect(fallback(sidFirst('ab\\u0041'))).toMatchObject({ ok: true, event: { payload: 'abA' } });
    expect(fallback(sidFirst(PAYLOAD, 'inbound_track'))).toMatchObject({ ok: true, event: { track: 'inbound' } });
    expect(fallback(sidFirst().replace('"42"', '"12345678901234567"'))).toMatchObject({ ok: true, event: { sequence: 12345678901234567 } });
    expect(fallback(sidFirst().replace(SID, 'MZ-1'))).toMatchObject({ ok: true, event: { streamSid: 'MZ-1' } });
    expect(fallback(sidFirst().replace('"payload"', '"extra":1,"payload"'))).toMatchObject({ ok: true });
    expect(fallback(sidFirst('abc=d'))).toMatchObject({ ok: true, event: { payload: 'abc=d' } });
    // Malformed: rejected, as before.
    expect(fallback(sidFirst().slice(0, -1))).toEqual({ ok: false, reason: 'not JSON' });
    expect(fallback(sidFirst() + '}')).toEqual({ ok: false, reason: 'not JSON' });
    expect(fallback(sidFirst('ab\u0001cd'))).toEqual({ ok: false, reason: 'not JSON' });
    expect(fallback(sidFirst('ab"cd'))).toEqual({ ok: false, reason: 'not JSON' });
    expect(fallback(sidFirst('ab\\cd'))).toEqual({ ok: false, reason: 'not JSON' });
    expect(fallback(sidFirst(PAYLOAD, 'sideways'))).toEqual({ ok: false, reason: 'media: unknown track' });
    expect(fallback(sidFirst().replace('"42"', '"4x"'))).toMatchObject({ ok: false, reason: expect.stringMatching(/sequenceNumber/) });
    expect(fallback(sidFirst().replace('"820"', '""'))).toMatchObject({ ok: false, reason: expect.stringMatching(/timestamp/) });
  });

  it('never reads a frame differently from JSON.parse: every one-character change of a real frame either falls back or reads the same', () => {
    const noise = ['"', '\\', '{', '}', ':', ',', ' ', '\n', '\u0000', '\u001f', '0', '9', 'a', 'Z', '+', '/', '=', '-', '.', 'e', 'é', '\u2028'];
    let rng = 7;
    const rand = (n: number) => ((rng = (rng * 1103515245 + 12345) & 0x7fffffff) % n);
    let fast = 0;
    for (const base of [sidFirst('//8A/w=='), sidLast('//8A/w=='), sidFirst('AAAA'), sidLast('')]) {
      for (let i = 0; i <= base.length; i++) {
        const variants = [base.slice(0, i) + base.slice(i + 1)];
        for (let k = 0; k < 3; k++) {
          const c = noise[rand(noise.length)]!;
          variants.push(base.slice(0, i) + c + base.slice(i), base.slice(0, i) + c + base.slice(i + 1));
        }
        for (const raw of variants) {
          const f = parseMediaFast(raw);
          if (f === undefined) continue;
          fast++;
          expect(f, raw).toEqual(parseStreamJson(raw));
        }
      }
    }
    // Plenty of the changes stay valid Twilio frames (digits, base64 characters): the check is not vacuous.
    expect(fast).toBeGreaterThan(100);
  });
});
