// Puts callbacks back in SequenceId order. Twilio posts them over separate HTTP requests, which can
// arrive out of order; a gap is waited for briefly, then skipped. Late or repeated ones are dropped.

export class SequenceOrder<T> {
  #last = 0;
  readonly #held = new Map<number, T>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deliver: (item: T) => void,
    private readonly waitMs = 250,
  ) {}

  /** Returns false when the item is older than what was already delivered (dropped). */
  push(sequence: number, item: T): boolean {
    if (sequence <= this.#last || this.#held.has(sequence)) return false;
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
    this.#last = Math.min(...this.#held.keys()) - 1;
    this.#drain();
    if (this.#held.size > 0) {
      this.#timer = setTimeout(() => this.#skipGap(), this.waitMs);
      this.#timer.unref();
    }
  }
}
