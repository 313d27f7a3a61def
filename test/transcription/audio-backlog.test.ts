// The audio held while a provider is away: bounded by audio time, oldest out first, every drop counted.
import { describe, expect, it } from 'vitest';
import { AudioBacklog, SLAB_BYTES, payloadMs } from '../../src/transcription/audio-backlog.js';

const frame = (byte: number, bytes = 160) => Buffer.alloc(bytes, byte).toString('base64');
const contents = (b: AudioBacklog) => {
  const out: string[] = [];
  for (; b.length > 0; b.shift()) out.push(Buffer.from(b.firstPayload!, 'base64')[0]!.toString(16));
  return out;
};

describe('AudioBacklog', () => {
  it('measures base64 μ-law without decoding it', () => {
    expect(payloadMs(frame(0xff))).toBe(20);
    expect(payloadMs(frame(1, 161))).toBeCloseTo(20.125);
    expect(payloadMs(frame(1, 162))).toBe(20.25);
    expect(payloadMs('')).toBe(0);
  });

  it('keeps at most maxMs of audio, dropping the oldest first and counting it', () => {
    const b = new AudioBacklog(60, 2);
    for (let i = 1; i <= 5; i++) b.push(frame(i), i * 20);
    expect(b.ms).toBe(60);
    expect([b.droppedFrames, b.droppedMs]).toEqual([2, 40]);
    expect(b.firstTimestamp).toBe(60);
    expect(contents(b)).toEqual(['3', '4', '5']);
    expect(b.ms).toBe(0);
  });

  it('puts replayed frames in front, and the bound still holds', () => {
    const held = new AudioBacklog(80);
    held.push(frame(5), 100);
    held.push(frame(6), 120);
    const replay = new AudioBacklog(80);
    for (let i = 1; i <= 3; i++) replay.push(frame(i), i * 20);
    held.prepend(replay);
    expect(replay.length).toBe(0);
    expect(held.droppedFrames).toBe(1);
    expect(contents(held)).toEqual(['2', '3', '5', '6']);
  });

  it('holds raw bytes, not strings: what goes in comes out byte for byte while frames come and go, in bounded memory', () => {
    const b = new AudioBacklog(1000);
    const bytes = (i: number) => Buffer.from(Array.from({ length: 160 }, (_, j) => (i * 7 + j) & 0xff));
    let next = 0;
    for (let i = 0; i < 5000; i++) {
      expect(b.push(bytes(i).toString('base64'), i * 20)).toBe(160);
      // Keep 0 to 40 frames, as a replay history does between turns.
      if (b.length > 40 || (i % 97 === 0 && b.length > 0)) {
        while (b.length > (i % 97 === 0 ? 0 : 10)) {
          expect(b.buffer.subarray(b.firstOffset, b.firstOffset + b.firstBytes).equals(bytes(next))).toBe(true);
          expect(b.firstTimestamp).toBe(next * 20);
          next++;
          b.shift();
        }
      }
    }
    expect(b.droppedFrames).toBe(0);
    // What is held plus at most a slab's consumed start and another's free end, never the 800 KB that went through.
    expect(b.allocatedBytes).toBeLessThan(b.byteLength + 2 * SLAB_BYTES);
    expect(b.newest(160).equals(bytes(4999))).toBe(true);
  });

  it('copies bytes in (pushBytes) and keeps the oldest-first bound across a prepend, counting what it drops', () => {
    const held = new AudioBacklog(60);
    const src = Buffer.alloc(480);
    for (let i = 0; i < 3; i++) src.fill(i + 1, i * 160, (i + 1) * 160);
    held.pushBytes(src, 160, 320, 40);
    src.fill(9);
    expect(contents(held)).toEqual(['2']);
    for (let i = 1; i <= 4; i++) held.pushBytes(Buffer.alloc(160, i), 0, 160, i * 20);
    expect([held.length, held.ms, held.droppedFrames, held.droppedMs]).toEqual([3, 60, 1, 20]);
    const earlier = new AudioBacklog(60);
    earlier.push(frame(0xa), 0);
    held.prepend(earlier);
    expect([held.length, held.droppedFrames]).toEqual([3, 2]);
    expect(contents(held)).toEqual(['2', '3', '4']);
    // A frame longer than the bound on its own is not held either.
    held.push(frame(1, 1000), 0);
    expect([held.length, held.droppedFrames, held.droppedMs]).toEqual([0, 3, 20 + 20 + 125]);
  });

  it('gives back what a burst took: after 10 s held at once, holding 1.8 s again costs about 1.8 s of memory, not the burst\'s', () => {
    const b = new AudioBacklog(10_000);
    const bytes = (i: number) => Buffer.from(Array.from({ length: 160 }, (_, j) => (i * 7 + j) & 0xff));
    let pushed = 0;
    let next = 0;
    const take = () => {
      expect(b.buffer.subarray(b.firstOffset, b.firstOffset + b.firstBytes).equals(bytes(next++))).toBe(true);
      b.shift();
    };
    // An outage: 10 s of audio (80 KB) held at once.
    for (; pushed < 500; pushed++) b.push(bytes(pushed).toString('base64'), pushed * 20);
    expect(b.allocatedBytes).toBeGreaterThanOrEqual(80_000);
    expect(b.allocatedBytes).toBeLessThan(80_000 + SLAB_BYTES);
    // Then, as after a reconnect, what a call track keeps between turns: 1.8 s (90 frames, 14.4 KB), a frame in, a frame out.
    while (b.length > 90) take();
    // 40 s of it: the end of the big buffer is reached, and what is held moves to a small one.
    for (let i = 0; i < 2000; i++, pushed++) {
      b.push(bytes(pushed).toString('base64'), pushed * 20);
      take();
    }
    expect(b.byteLength).toBe(90 * 160);
    // 14.4 KB held in at most 5 slabs (a doubling buffer kept 32–64 KB for it).
    expect(b.allocatedBytes).toBeLessThan(b.byteLength + 2 * SLAB_BYTES);
    expect(b.droppedFrames).toBe(0);
    while (b.length > 0) take();
    expect(next).toBe(pushed);
  });

  it('reuses its slab from the start once emptied; clear() lets go of it', () => {
    const b = new AudioBacklog(10_000);
    b.push(frame(1), 0);
    b.shift();
    b.push(frame(2), 20);
    expect([b.allocatedBytes, b.firstOffset, b.byteLength]).toEqual([SLAB_BYTES, 0, 160]);
    for (let i = 0; i < 500; i++) b.push(frame(i & 0xff), i * 20);
    for (; b.length > 0; ) b.shift();
    expect(b.allocatedBytes).toBe(SLAB_BYTES);
    b.clear();
    expect(b.allocatedBytes).toBe(0);
  });

  it('gives the newest bytes whole when they span two slabs (a batch across a slab boundary), and keeps each frame in one slab', () => {
    const b = new AudioBacklog(10_000);
    const bytes = (i: number, n = 160) => Buffer.from(Array.from({ length: n }, (_, j) => (i * 7 + j) & 0xff));
    // 300-byte frames: 13 fill 3,900 bytes of the first slab, the 14th starts the next one.
    for (let i = 0; i < 16; i++) b.pushBytes(bytes(i, 300), 0, 300, i * 20);
    expect(b.allocatedBytes).toBe(2 * SLAB_BYTES);
    expect(b.newest(900).equals(Buffer.concat([bytes(13, 300), bytes(14, 300), bytes(15, 300)]))).toBe(true);
    expect(b.newest(1200).equals(Buffer.concat([12, 13, 14, 15].map((i) => bytes(i, 300))))).toBe(true);
    expect(() => b.newest(16 * 300 + 1)).toThrow(RangeError);
    for (let i = 0; i < 16; i++, b.shift()) expect(b.buffer.subarray(b.firstOffset, b.firstOffset + b.firstBytes).equals(bytes(i, 300))).toBe(true);
  });
});
