// Puts callbacks back in SequenceId order. Twilio posts them over separate HTTP requests, which can
// arrive out of order; a gap is waited for briefly, then skipped. A callback that fills a skipped gap later is
// delivered then, out of order, once: it can be late by more than the wait (it landed on another instance, which
// waited for the call's stream to reach one before handing it over), and dropping it would lose what the caller
// said, a card number that must pause the call among it. Repeated ones are dropped.

/** Skipped sequence numbers remembered for a late delivery; the oldest are forgotten beyond this. */
const MAX_SKIPPED = 256;

export class SequenceOrder<T> {
  #last = 0;
  readonly #held = new Map<number, T>();
  /** Sequence numbers whose gap was skipped and that have not come since, oldest first. */
  readonly #skipped = new Set<number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deliver: (item: T) => void,
    private readonly waitMs = 250,
  ) {}

  /** Returns false when the item was delivered already or is held already (dropped). */
  push(sequence: number, item: T): boolean {
    if (sequence <= this.#last) {
      if (!this.#skipped.delete(sequence)) return false;
      this.deliver(item);
      return true;
    }
    if (this.#held.has(sequence)) return false;
    this.#held.set(sequence, item);
    this.#drain();
    if (this.#held.size > 0 && !this.#timer) {
      this.#timer = setTimeout(() => this.#skipGap(), this.waitMs);
      this.#timer.unref();
    }
    return true;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#held.clear();
    this.#skipped.clear();
  }

  #drain(): void {
    for (let next = this.#held.get(this.#last + 1); next !== undefined; next = this.#held.get(this.#last + 1)) {
      this.#held.delete(++this.#last);
      this.deliver(next);
    }
    if (this.#held.size === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #skipGap(): void {
    this.#timer = undefined;
    if (this.#held.size === 0) return;
    const next = Math.min(...this.#held.keys());
    for (let n = Math.max(this.#last + 1, next - MAX_SKIPPED); n < next; n++) this.#skipped.add(n);
    for (const n of this.#skipped) {
      if (this.#skipped.size <= MAX_SKIPPED) break;
      this.#skipped.delete(n);
    }
    this.#last = next - 1;
    this.#drain();
    if (this.#held.size > 0) {
      this.#timer = setTimeout(() => this.#skipGap(), this.waitMs);
      this.#timer.unref();
    }
  }
}
