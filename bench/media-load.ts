// Child process of bench/media-forward.ts: hundreds of Twilio-like Media Streams at 50 frames a second
// each, kept out of the measured process so their CPU is not counted against the server.
// Every frame carries its send time in its first 8 bytes (a float64, ms of the monotonic clock, which all processes
// on the machine share; see frameSentAt), the rest the tone or silence as before: the double reads it off the newest
// frame of each append to measure forwarding lag. 8 bytes of 160 leave silence silent to its VAD (it needs half).
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { FRAME_MS, SILENT_FRAME, toneFrame } from '../src/simulator/mulaw.js';
import { monotonicMs } from './lag.js';

interface Stream {
  ws: WebSocket;
  sid: string;
  callSid: string;
  /** Spreads the streams over the 20 ms frame period, as independent calls are. */
  offsetMs: number;
  /** Where in the speech/silence cycle it starts: independent callers do not speak in step. */
  phase: number;
  seq: number;
  chunk: number;
}

const send = (m: object) => process.send!(m);
const hex = () => randomBytes(16).toString('hex');
let streams: Stream[] = [];
let t0 = 0;
let sent = 0;
let timer: NodeJS.Timeout | undefined;

/**
 * 2 s of speech then 1 s of silence, over and over: server VAD sees turns, as on a real call. Decoded once. Each
 * stream starts at its own point of the cycle: in step, every call would hold a turn's audio at the same moment, and
 * the server's memory would swing with the cycle instead of showing what a call costs.
 */
const TONE = Array.from({ length: 50 }, (_, i) => Buffer.from(toneFrame(i, 220), 'base64'));
const SILENCE = Buffer.from(SILENT_FRAME, 'base64');
const frame = Buffer.alloc(SILENCE.length);
const payload = (chunk: number) => {
  (chunk % 150 < 100 ? TONE[chunk % 50]! : SILENCE).copy(frame);
  frame.writeDoubleLE(monotonicMs(), 0);
  return frame.toString('base64');
};

function open(url: string, accountSid: string, i: number, count: number, tracks: string[]): Promise<Stream> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const s: Stream = { ws, sid: 'MZ' + hex(), callSid: 'CA' + hex(), offsetMs: (i / count) * FRAME_MS, phase: Math.floor((i * 150) / count), seq: 0, chunk: 0 };
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => {
      ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
      ws.send(
        JSON.stringify({
          event: 'start',
          sequenceNumber: String(++s.seq),
          streamSid: s.sid,
          start: {
            streamSid: s.sid,
            accountSid,
            callSid: s.callSid,
            tracks,
            customParameters: { from: '+15550100001', to: '+15550100099' },
            mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
          },
        }),
      );
      resolve(s);
    });
  });
}

function tick(): void {
  const now = performance.now() - t0;
  for (const s of streams) {
    while ((s.chunk + 1) * FRAME_MS + s.offsetMs <= now) {
      const chunk = ++s.chunk;
      s.ws.send(
        `{"event":"media","sequenceNumber":"${++s.seq}","streamSid":"${s.sid}","media":{"track":"inbound","chunk":"${chunk}","timestamp":"${chunk * FRAME_MS}","payload":"${payload(chunk + s.phase)}"}}`,
      );
      sent++;
    }
  }
}

// `tracks`: what the start message announces (media frames are always inbound): announcing both tracks to a
// service that transcribes only the outbound one opens a provider session per call that gets no audio.
process.on('message', async (m: { type: 'run'; url: string; accountSid: string; streams: number; tracks?: string[] } | { type: 'stop' } | { type: 'count' }) => {
  if (m.type === 'count') {
    send({ type: 'count', sent });
  } else if (m.type === 'run') {
    sent = 0;
    streams = [];
    for (let i = 0; i < m.streams; i += 50) {
      const batch = Array.from({ length: Math.min(50, m.streams - i) }, (_, j) => open(m.url, m.accountSid, i + j, m.streams, m.tracks ?? ['inbound']));
      streams.push(...(await Promise.all(batch)));
    }
    t0 = performance.now();
    timer = setInterval(tick, 2);
    send({ type: 'ready', callSids: streams.map((s) => s.callSid) });
  } else {
    clearInterval(timer);
    for (const s of streams) {
      s.ws.send(JSON.stringify({ event: 'stop', sequenceNumber: String(++s.seq), streamSid: s.sid, stop: {} }));
      s.ws.close(1000);
    }
    await new Promise((r) => setTimeout(r, 200));
    send({ type: 'stopped', sent });
  }
});
