// G.711 μ-law frames for simulated calls: 20 ms (160 samples at 8 kHz) of tone while someone
// speaks, silence otherwise. Enough for energy-based voice detection in test doubles.

const BIAS = 0x84;
const CLIP = 32635;

/** Encodes one 16-bit PCM sample as μ-law (ITU-T G.711). */
function encodeMulaw(sample: number): number {
  const sign = sample < 0 ? 0x80 : 0;
  let s = Math.min(Math.abs(Math.round(sample)), CLIP) + BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

const SAMPLES_PER_FRAME = 160;
export const FRAME_MS = 20;
/** μ-law of 0: digital silence. */
const MULAW_SILENCE = 0xff;

/** Base64 of one silent 20 ms frame. */
export const SILENT_FRAME = Buffer.alloc(SAMPLES_PER_FRAME, MULAW_SILENCE).toString('base64');

/** Base64 20 ms frames of a tone; `voice` varies pitch per speaker. Cached: frames repeat every 50. */
const toneCache = new Map<number, string[]>();
export function toneFrame(index: number, pitchHz = 220): string {
  let frames = toneCache.get(pitchHz);
  if (!frames) {
    frames = [];
    for (let f = 0; f < 50; f++) {
      const buf = Buffer.alloc(SAMPLES_PER_FRAME);
      for (let i = 0; i < SAMPLES_PER_FRAME; i++) {
        const t = (f * SAMPLES_PER_FRAME + i) / 8000;
        buf[i] = encodeMulaw(8000 * Math.sin(2 * Math.PI * pitchHz * t));
      }
      frames.push(buf.toString('base64'));
    }
    toneCache.set(pitchHz, frames);
  }
  return frames[index % frames.length]!;
}
