// Twilio frames held for a provider session, bounded by audio time. When full, the oldest frame goes
// first (and is counted): after a long outage we lose the start of the gap, never what is said now.
//
// Frames are kept as raw μ-law bytes, not as Twilio's base64 strings: a backlog holds seconds of audio for every live
// call track, and hundreds of thousands of long-lived strings would be work for the garbage collector on the hot path.
//
// Memory follows what is held, not the most ever held, and not a multiple of it: every call track keeps a replay
// history for as long as the call lasts (1.8 s between turns, a few seconds more during one), so a buffer sized by
// doubling cost each track four times the audio it held (64 KB for 16 KB). Bytes live in 4 KB slabs instead (half a
// second of audio each), taken from and given back to one pool for the whole process: a track holds what it holds
// plus at most one slab's free end. A frame never straddles two slabs (one that does not fit starts the next slab),
// so each frame is one contiguous range; a range of the newest frames that spans two slabs is copied out on request
// (a 100 ms batch, a few times a second at most).

/** μ-law at 8 kHz: one byte per sample, 8 per ms. */
export const BYTES_PER_MS = 8;

/** Audio length of a base64 μ-law payload at 8 kHz (8 bytes per ms), without decoding it. */
export function payloadMs(payload: string): number {
  const n = payload.length;
  if (n === 0) return 0;
  const padding = payload.charCodeAt(n - 1) === 61 ? (payload.charCodeAt(n - 2) === 61 ? 2 : 1) : 0;
  return (((n * 3) >> 2) - padding) / BYTES_PER_MS;
}

/** A slab's size: 25 of Twilio's 160-byte frames (half a second of audio) and room to spare for a frame's base64 bound. */
export const SLAB_BYTES = 4096;
/**
 * Free slabs the pool keeps for reuse (512 KB). Calls speak at different times, so slabs one track frees another soon
 * takes; beyond this, a freed slab is left to the garbage collector rather than held for a burst that may not come.
 */
const POOL_MAX = 128;
const pool: Buffer[] = [];

function takeSlab(n: number): Buffer {
  if (n > SLAB_BYTES) return Buffer.allocUnsafeSlow(n);
  return pool.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
}
function giveSlab(slab: Buffer): void {
  if (slab.length === SLAB_BYTES && pool.length < POOL_MAX) pool.push(slab);
}

export class AudioBacklog {
  /** Slabs in use, oldest first; bytes of the first start at `#start`, and each slab's bytes end at its `#used`. */
  #slabs: Buffer[] = [];
  #used: number[] = [];
  #start = 0;
  #held = 0;
  /** Per frame, in a ring of `#mask + 1` (a power of two) slots: its byte length, then its Twilio timestamp. */
  #frames: Float64Array;
  #mask: number;
  #head = 0;
  #size = 0;
  readonly #maxBytes: number;
  droppedFrames = 0;
  droppedMs = 0;

  constructor(
    readonly maxMs: number,
    capacity = 64,
  ) {
    let frames = 8;
    while (frames < capacity) frames *= 2;
    this.#frames = new Float64Array(2 * frames);
    this.#mask = frames - 1;
    this.#maxBytes = maxMs * BYTES_PER_MS;
  }

  /** Frames held. */
  get length(): number {
    return this.#size;
  }

  /** Audio held now (ms). */
  get ms(): number {
    return this.#held / BYTES_PER_MS;
  }

  /** Bytes held now. */
  get byteLength(): number {
    return this.#held;
  }

  /** Bytes of memory this backlog holds on to now (its slabs), for the memory benchmark. */
  get allocatedBytes(): number {
    let n = 0;
    for (const slab of this.#slabs) n += slab.length;
    return n;
  }

  /**
   * Decodes a base64 payload (Node's decoder: characters outside the alphabet are skipped) and holds its bytes
   * as one frame. Returns the frame's byte length.
   */
  push(payload: string, timestampMs: number): number {
    const last = this.#room((payload.length * 3) >> 2);
    const at = this.#used[last]!;
    const n = this.#slabs[last]!.write(payload, at, 'base64');
    this.#add(last, n, timestampMs);
    return n;
  }

  /** Holds a copy of `source[from, to)` as one frame. */
  pushBytes(source: Buffer, from: number, to: number, timestampMs: number): void {
    const n = to - from;
    const last = this.#room(n);
    source.copy(this.#slabs[last]!, this.#used[last]!, from, to);
    this.#add(last, n, timestampMs);
  }

  /** The bytes just written at the end of slab `last`, `n` of them, become the newest frame (or are dropped, and counted). */
  #add(last: number, n: number, timestampMs: number): void {
    if (n > this.#maxBytes) {
      this.droppedFrames++;
      this.droppedMs += n / BYTES_PER_MS;
      this.#release();
      return;
    }
    this.#used[last]! += n;
    this.#held += n;
    if (this.#size > this.#mask) this.#growFrames();
    const at = 2 * ((this.#head + this.#size) & this.#mask);
    this.#frames[at] = n;
    this.#frames[at + 1] = timestampMs;
    this.#size++;
    while (this.#held > this.#maxBytes) {
      this.droppedFrames++;
      this.droppedMs += this.#frames[2 * this.#head]! / BYTES_PER_MS;
      this.shift();
    }
  }

  /** The oldest frame as base64 (undefined when empty). Encodes it: for tests and slow paths. */
  get firstPayload(): string | undefined {
    return this.#size > 0 ? this.#slabs[0]!.toString('base64', this.#start, this.#start + this.firstBytes) : undefined;
  }
  get firstTimestamp(): number {
    return this.#frames[2 * this.#head + 1]!;
  }
  get firstMs(): number {
    return this.#frames[2 * this.#head]! / BYTES_PER_MS;
  }
  get firstBytes(): number {
    return this.#frames[2 * this.#head]!;
  }
  /** Where the oldest frame's bytes are: `buffer[firstOffset, firstOffset + firstBytes)`, valid until the next push or shift. */
  get buffer(): Buffer {
    return this.#slabs[0]!;
  }
  get firstOffset(): number {
    return this.#start;
  }

  /**
   * The newest `n` bytes held, valid until the next push or shift: a view when they sit in one slab, else a copy.
   */
  newest(n: number): Buffer {
    if (n > this.#held) throw new RangeError(`asked for the newest ${n} bytes of ${this.#held}`);
    let i = this.#slabs.length - 1;
    const end = this.#used[i]!;
    if (n <= end - (i === 0 ? this.#start : 0)) return this.#slabs[i]!.subarray(end - n, end);
    const out = Buffer.allocUnsafe(n);
    for (let to = n; to > 0; i--) {
      const from = i === 0 ? this.#start : 0;
      const take = Math.min(to, this.#used[i]! - from);
      this.#slabs[i]!.copy(out, to - take, this.#used[i]! - take, this.#used[i]!);
      to -= take;
    }
    return out;
  }

  /** Removes the oldest frame; a slab left with nothing held goes back to the pool. */
  shift(): void {
    if (this.#size === 0) return;
    const n = this.#frames[2 * this.#head]!;
    this.#start += n;
    this.#held -= n;
    this.#head = (this.#head + 1) & this.#mask;
    this.#size--;
    if (this.#start >= this.#used[0]! && this.#slabs.length > 1) {
      giveSlab(this.#slabs.shift()!);
      this.#used.shift();
      this.#start = 0;
    } else if (this.#size === 0) {
      // Empty: the next frame goes at the start of the one slab kept (clear() lets go of it too).
      this.#start = 0;
      this.#used[0] = 0;
    }
  }

  /** Moves every frame of `earlier` in front of this backlog's, oldest first; the bound still holds. */
  prepend(earlier: AudioBacklog): void {
    const mine = new AudioBacklog(Infinity, this.#size);
    for (; this.#size > 0; this.shift()) mine.pushBytes(this.buffer, this.#start, this.#start + this.firstBytes, this.firstTimestamp);
    for (; earlier.length > 0; earlier.shift()) this.pushBytes(earlier.buffer, earlier.firstOffset, earlier.firstOffset + earlier.firstBytes, earlier.firstTimestamp);
    earlier.clear();
    for (; mine.length > 0; mine.shift()) this.pushBytes(mine.buffer, mine.firstOffset, mine.firstOffset + mine.firstBytes, mine.firstTimestamp);
    mine.clear();
  }

  /** Forgets every frame and gives its slabs back. */
  clear(): void {
    this.#head = 0;
    this.#size = 0;
    this.#start = 0;
    this.#held = 0;
    for (const slab of this.#slabs) giveSlab(slab);
    this.#slabs = [];
    this.#used = [];
    // A ring that grew during an outage goes back to its first size too.
    if (this.#mask > 63) {
      this.#frames = new Float64Array(2 * 64);
      this.#mask = 63;
    }
  }

  /** Returns the slab (its index) where `n` more bytes fit at the end: the last one, or a new one. */
  #room(n: number): number {
    const last = this.#slabs.length - 1;
    if (last >= 0 && this.#used[last]! + n <= this.#slabs[last]!.length) return last;
    this.#slabs.push(takeSlab(n));
    this.#used.push(0);
    return last + 1;
  }

  /** A frame too big for the bound was not held: a slab opened for it and left empty goes back. */
  #release(): void {
    const last = this.#slabs.length - 1;
    if (last > 0 && this.#used[last] === 0) {
      giveSlab(this.#slabs.pop()!);
      this.#used.pop();
    } else if (last === 0 && this.#size === 0) {
      this.clear();
    }
  }

  #growFrames(): void {
    const frames = new Float64Array(2 * 2 * (this.#mask + 1));
    for (let i = 0; i < this.#size; i++) {
      const from = 2 * ((this.#head + i) & this.#mask);
      frames[2 * i] = this.#frames[from]!;
      frames[2 * i + 1] = this.#frames[from + 1]!;
    }
    this.#frames = frames;
    this.#mask = 2 * (this.#mask + 1) - 1;
    this.#head = 0;
  }
}
