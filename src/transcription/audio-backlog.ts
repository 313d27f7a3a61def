// Twilio frames held for a provider session, bounded by audio time. When full, the oldest frame goes
// first (and is counted): after a long outage we lose the start of the gap, never what is said now.
//
// Frames are kept as raw μ-law bytes in one buffer, not as Twilio's base64 strings: a backlog holds seconds
// of audio for every live call track, and hundreds of thousands of long-lived strings would be work for the
// garbage collector on the hot path. Bytes go in at the end and leave at the start; the buffer is compacted,
// grown or shrunk only when the end reaches its size, so that costs a copy now and then, never per frame.
//
// Memory follows what is held, not the most ever held: every call track has a backlog or two for as long as the
// call lasts, and one that grew during an outage must give that memory back. When the end reaches the buffer's size
// and what is held fills at most an eighth of it, it moves to a smaller one; clear() lets go of it all (the
// transcriber clears its backlog once an outage's audio is sent).

/** μ-law at 8 kHz: one byte per sample, 8 per ms. */
export const BYTES_PER_MS = 8;

/** Audio length of a base64 μ-law payload at 8 kHz (8 bytes per ms), without decoding it. */
export function payloadMs(payload: string): number {
  const n = payload.length;
  if (n === 0) return 0;
  const padding = payload.charCodeAt(n - 1) === 61 ? (payload.charCodeAt(n - 2) === 61 ? 2 : 1) : 0;
  return (((n * 3) >> 2) - padding) / BYTES_PER_MS;
}

/** The smallest buffer a backlog holding anything has (half a second of audio). */
export const MIN_BUFFER_BYTES = 4096;
const EMPTY = Buffer.alloc(0);

export class AudioBacklog {
  /** Held bytes are `#bytes[#start, #end)`, oldest first. */
  #bytes: Buffer;
  #start = 0;
  #end = 0;
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
    this.#bytes = EMPTY;
  }

  /** Frames held. */
  get length(): number {
    return this.#size;
  }

  /** Audio held now (ms). */
  get ms(): number {
    return (this.#end - this.#start) / BYTES_PER_MS;
  }

  /** Bytes held now. */
  get byteLength(): number {
    return this.#end - this.#start;
  }

  /**
   * Decodes a base64 payload (Node's decoder: characters outside the alphabet are skipped) and holds its bytes
   * as one frame. Returns the frame's byte length.
   */
  push(payload: string, timestampMs: number): number {
    this.#room((payload.length * 3) >> 2);
    const n = this.#bytes.write(payload, this.#end, 'base64');
    this.#add(n, timestampMs);
    return n;
  }

  /** Holds a copy of `source[from, to)` as one frame. */
  pushBytes(source: Buffer, from: number, to: number, timestampMs: number): void {
    const n = to - from;
    this.#room(n);
    source.copy(this.#bytes, this.#end, from, to);
    this.#add(n, timestampMs);
  }

  /** The bytes just written at `#end`, `n` of them, become the newest frame (or are dropped, and counted). */
  #add(n: number, timestampMs: number): void {
    while (this.#size > 0 && this.#end - this.#start + n > this.#maxBytes) {
      this.droppedFrames++;
      this.droppedMs += this.#frames[2 * this.#head]! / BYTES_PER_MS;
      this.shift();
    }
    if (n > this.#maxBytes) {
      this.droppedFrames++;
      this.droppedMs += n / BYTES_PER_MS;
      return;
    }
    if (this.#size > this.#mask) this.#growFrames();
    const at = 2 * ((this.#head + this.#size) & this.#mask);
    this.#frames[at] = n;
    this.#frames[at + 1] = timestampMs;
    this.#size++;
    this.#end += n;
  }

  /** The oldest frame as base64 (undefined when empty). Encodes it: for tests and slow paths. */
  get firstPayload(): string | undefined {
    return this.#size > 0 ? this.#bytes.toString('base64', this.#start, this.#start + this.firstBytes) : undefined;
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
  /** Where the oldest frame's bytes are: `buffer[firstOffset, firstOffset + firstBytes)`, valid until the next push. */
  get buffer(): Buffer {
    return this.#bytes;
  }
  get firstOffset(): number {
    return this.#start;
  }
  /** Where the newest frame's bytes end in `buffer`. */
  get endOffset(): number {
    return this.#end;
  }

  /** Removes the oldest frame. */
  shift(): void {
    if (this.#size === 0) return;
    this.#start += this.#frames[2 * this.#head]!;
    this.#head = (this.#head + 1) & this.#mask;
    if (--this.#size > 0) return;
    // Empty: the next frame goes at the start, with no copy. The buffer stays (a backlog that fills and empties while
    // a busy provider catches up would otherwise allocate again and again); clear() lets go of it.
    this.#start = this.#end = 0;
  }

  /** Moves every frame of `earlier` in front of this backlog's, oldest first; the bound still holds. */
  prepend(earlier: AudioBacklog): void {
    const mine = new AudioBacklog(Infinity, this.#size);
    for (; this.#size > 0; this.shift()) mine.pushBytes(this.#bytes, this.#start, this.#start + this.firstBytes, this.firstTimestamp);
    for (; earlier.length > 0; earlier.shift()) this.pushBytes(earlier.buffer, earlier.firstOffset, earlier.firstOffset + earlier.firstBytes, earlier.firstTimestamp);
    for (; mine.length > 0; mine.shift()) this.pushBytes(mine.buffer, mine.firstOffset, mine.firstOffset + mine.firstBytes, mine.firstTimestamp);
  }

  /** Forgets every frame and lets go of the memory. */
  clear(): void {
    this.#head = 0;
    this.#size = 0;
    this.#start = this.#end = 0;
    this.#bytes = EMPTY;
  }

  /**
   * Makes room for `n` more bytes at `#end`: moves what is held (and the `n` bytes to come) to the start of this
   * buffer; or to a new one, the smallest power of two at least twice that, when this one is too small for it or, a
   * burst being over, when it fills at most an eighth of this one. Between the two, a call's turns (a second or two of
   * audio held, then a few more) reuse one buffer. After any of the three, half the buffer at least is free, and this
   * runs only when its end is reached: at most one buffer's worth is moved after half of one was written, so the copies
   * cost O(1) per byte.
   */
  #room(n: number): void {
    const capacity = this.#bytes.length;
    if (this.#end + n <= capacity) return;
    const held = this.#end - this.#start;
    const need = held + n;
    if (need <= capacity >> 1 && (need > capacity >> 3 || capacity <= MIN_BUFFER_BYTES)) {
      this.#bytes.copyWithin(0, this.#start, this.#end);
    } else {
      let size = MIN_BUFFER_BYTES;
      while (size < 2 * need) size *= 2;
      const moved = Buffer.allocUnsafeSlow(size);
      this.#bytes.copy(moved, 0, this.#start, this.#end);
      this.#bytes = moved;
    }
    this.#start = 0;
    this.#end = held;
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
