// Newest-frame forwarding lag. bench/media-load.ts writes each frame's send time into its first 8 bytes; the
// double (bench/media-double.ts) reads it off the last 160-byte frame of each append it gets, the newest one, so
// lag = arrival at the double − the load's send. Batching waits are not in it: the newest frame of a batch is the
// one that made it go. The clock is the monotonic one (CLOCK_MONOTONIC through process.hrtime), which every
// process on the machine shares; performance.timeOrigin is each process's own wall-clock reading at start.
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** A Twilio frame: 20 ms of 8 kHz μ-law. */
const FRAME = 160;

/** Lag samples per provider connection (keyed by the forwarder's port), since the last take(). */
export class LagMeter {
  #samples = new Map<number, number[]>();
  /** Appends whose newest frame carried no send time (not whole frames, or bytes that are not a marker). */
  #unreadable = 0;

  record(audio: Buffer, peerPort: number, at = monotonicMs()): void {
    if (audio.length < FRAME || audio.length % FRAME !== 0) {
      this.#unreadable++;
      return;
    }
    const lag = at - audio.readDoubleLE(audio.length - FRAME);
    // A marker is a time within the run; anything else (the floor's 0xFF audio reads as NaN) is not one.
    if (!Number.isFinite(lag) || lag < -1 || lag > 600_000) {
      this.#unreadable++;
      return;
    }
    let list = this.#samples.get(peerPort);
    if (!list) this.#samples.set(peerPort, (list = []));
    list.push(lag);
  }

  /** The samples since the last take (rounded to µs, to keep the IPC message small), and starts again. */
  take(): { byPort: Record<number, number[]>; unreadable: number } {
    const byPort: Record<number, number[]> = {};
    for (const [port, list] of this.#samples) byPort[port] = list.map((v) => Math.round(v * 1000) / 1000);
    const unreadable = this.#unreadable;
    this.#samples = new Map();
    this.#unreadable = 0;
    return { byPort, unreadable };
  }
}

/** What bench/media-double.ts answers to {type:'lag'}. */
export interface LagReport {
  byPort: Record<number, number[]>;
  unreadable: number;
  loopDelayMs: { p50: number; p99: number; max: number };
}
