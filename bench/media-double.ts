// Child process of bench/media-forward.ts and bench/scale.ts: the OpenAI Realtime test double the service forwards
// audio to, kept out of the measured process so its CPU is not counted against the server. `--sink`: a peer that
// only acknowledges the session and counts appends (no VAD, no events back), to see how much a busy peer on the same
// cores costs the server. `--tls DIR`: wss:// with DIR/key.pem and DIR/cert.pem (bench/tls.ts).
// Both read each append's newest frame's send time (bench/lag.ts). The lag they report is arrival at this
// process's JavaScript, so it includes any wait in its own event loop: its delay is reported beside it (loopDelayMs),
// to tell a slow forwarder from a busy double.
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';
import { OpenAIRealtimeDouble } from '../test/doubles/openai-realtime.js';
import { LagMeter, monotonicMs } from './lag.js';

const { values } = parseArgs({ options: { sink: { type: 'boolean', default: false }, tls: { type: 'string' } } });
const tls = values.tls ? { key: readFileSync(`${values.tls}/key.pem`), cert: readFileSync(`${values.tls}/cert.pem`) } : undefined;
const lag = new LagMeter();
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();

let count: () => { appends: number; bytes: number; sessions: number };
if (values.sink) {
  const https = tls ? createHttpsServer(tls) : undefined;
  const wss = https ? new WebSocketServer({ server: https, perMessageDeflate: false }) : new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise((r) => {
    (https ?? wss).once('listening', r);
    https?.listen(0, '127.0.0.1');
  });
  let appends = 0;
  let bytes = 0;
  let sessions = 0;
  const AUDIO = Buffer.from('"audio":"');
  wss.on('connection', (ws, req) => {
    sessions++;
    const peerPort = req.socket.remotePort ?? 0;
    ws.once('message', () => ws.send(JSON.stringify({ type: 'session.updated', event_id: 'e', session: { type: 'transcription' } })));
    ws.on('message', (data: Buffer) => {
      const at = monotonicMs();
      appends++;
      bytes += data.length;
      const from = data.indexOf(AUDIO);
      if (from < 0) return;
      const start = from + AUDIO.length;
      lag.record(Buffer.from(data.toString('latin1', start, data.indexOf(0x22, start)), 'base64'), peerPort, at);
    });
  });
  count = () => ({ appends, bytes, sessions });
  const { port } = wss.address() as AddressInfo;
  process.send!({ type: 'double', url: `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}/v1/realtime?intent=transcription` });
} else {
  const double = await OpenAIRealtimeDouble.start({ record: false, script: () => '', tls, onAppend: (audio, c) => lag.record(audio, c.peerPort ?? 0) });
  count = () => ({ appends: double.totalAppends, bytes: double.totalBytes, sessions: double.connections.length });
  process.send!({ type: 'double', url: double.url });
}
process.on('message', (m: { type: 'count' } | { type: 'lag' }) => {
  if (m.type === 'count') process.send!({ type: 'count', ...count() });
  if (m.type === 'lag') {
    // Everything since the last ask: the first ask opens the window.
    const ms = (ns: number) => Math.round(ns / 1e3) / 1e3;
    process.send!({ type: 'lag', ...lag.take(), loopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) } });
    loop.reset();
  }
});
