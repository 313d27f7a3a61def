// Child process of bench/media-forward.ts: the OpenAI Realtime test double the service forwards audio to,
// kept out of the measured process so its CPU is not counted against the server. `--sink`: a peer that
// only acknowledges the session and counts appends (no parsing, no VAD), to see how much a busy peer on
// the same cores costs the server.
import { WebSocketServer } from 'ws';
import { OpenAIRealtimeDouble } from '../test/doubles/openai-realtime.js';

const sink = process.argv.includes('--sink');
let count: () => { appends: number; bytes: number; sessions: number };
if (sink) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise((r) => wss.once('listening', r));
  let appends = 0;
  let bytes = 0;
  let sessions = 0;
  wss.on('connection', (ws) => {
    sessions++;
    ws.once('message', () => ws.send(JSON.stringify({ type: 'session.updated', event_id: 'e', session: { type: 'transcription' } })));
    ws.on('message', (data: Buffer) => {
      appends++;
      bytes += data.length;
    });
  });
  count = () => ({ appends, bytes, sessions });
  process.send!({ type: 'double', url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/v1/realtime?intent=transcription` });
} else {
  const double = await OpenAIRealtimeDouble.start({ record: false, script: () => '' });
  count = () => ({ appends: double.totalAppends, bytes: double.totalBytes, sessions: double.connections.length });
  process.send!({ type: 'double', url: double.url });
}
process.on('message', (m: { type: 'count' }) => {
  if (m.type === 'count') process.send!({ type: 'count', ...count() });
});
