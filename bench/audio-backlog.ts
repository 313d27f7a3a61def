// Memory of one call track's replay history (the AudioBacklog an OpenAI Realtime transcriber keeps of audio sent but
// not transcribed yet), frame by frame over two minutes of a call, against the audio it holds (the reference, measured in
// the same run: what any replay history must keep). The call: 2 s of speech, 1 s of silence, over and over (as
// bench/media-load.ts streams); a turn's audio is forgotten once its transcript is back (--lag-ms after the speech
// ends), older audio once 1.8 s old (the transcriber's prefix padding + 1.5 s). With --outage-ms, the provider is away
// at the start for that long (the backlog holds it all, then is sent). Deterministic: no sockets, no timers.
// Usage: npx tsx bench/audio-backlog.ts [-- --seconds 120 --lag-ms 300,1000,2500 --outage-ms 0,10000]
import { parseArgs } from 'node:util';
import { AudioBacklog } from '../src/transcription/audio-backlog.js';
import { round } from './stats.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    'lag-ms': { type: 'string', default: '300,1000,2500' },
    'outage-ms': { type: 'string', default: '0,10000' },
  },
});
const FRAME_MS = 20;
const KEEP_MS = 1800;
const frame = Buffer.alloc(160, 0xff).toString('base64');

function run(lagMs: number, outageMs: number) {
  const history = new AudioBacklog(10_000);
  let forgottenUpTo = 0;
  let speechStart: number | undefined;
  let buffer = 0;
  let held = 0;
  let samples = 0;
  let maxBuffer = 0;
  for (let t = 0; t < Number(values.seconds) * 1000; t += FRAME_MS) {
    history.push(frame, t);
    if (t % 3000 === 0) speechStart = t;
    if (speechStart !== undefined && t >= speechStart + 2000 + lagMs) speechStart = undefined;
    // During an outage nothing is transcribed: everything since it began is held.
    let safe = t < outageMs ? 0 : t - KEEP_MS;
    if (speechStart !== undefined) safe = Math.min(safe, speechStart);
    while (history.length > 0 && forgottenUpTo + FRAME_MS <= safe) {
      forgottenUpTo += FRAME_MS;
      history.shift();
    }
    // Once the outage (if any) and 10 s more are over: the call's steady state.
    if (t >= outageMs + 10_000) {
      buffer += history.allocatedBytes;
      held += history.byteLength;
      samples++;
      maxBuffer = Math.max(maxBuffer, history.allocatedBytes);
    }
  }
  return {
    lagMs,
    outageMs,
    memoryKbMean: round(buffer / samples / 1024, 1),
    memoryKbMax: round(maxBuffer / 1024, 1),
    heldKbMean: round(held / samples / 1024, 1),
    memoryToHeld: round(buffer / held, 2),
  };
}

const runs = [];
for (const outageMs of values['outage-ms'].split(',').map(Number)) for (const lagMs of values['lag-ms'].split(',').map(Number)) runs.push(run(lagMs, outageMs));
console.log(
  JSON.stringify({
    benchmark: 'replay history of one call track: memory held (its slabs) against the audio held (the reference), steady state after 10 s (and after the outage)',
    seconds: Number(values.seconds),
    runs,
  }),
);
