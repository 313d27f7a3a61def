// The per-call privacy gate: once closed, no audio frame and no transcript text of the call passes
// until it reopens. Closing is synchronous; `epoch` lets work that started before a close notice
// that it must be discarded (text in flight when the gate closed).

export class PrivacyGate {
  #open = true;
  #epoch = 0;
  #framesHeld = 0;

  get isOpen(): boolean {
    return this.#open;
  }

  /** Changes on every close and every reopen; compare a captured value to know whether the gate moved. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Audio frames refused while closed (counted, never kept). */
  get framesHeld(): number {
    return this.#framesHeld;
  }

  /** True when the gate is open now and has not moved since `epoch` was captured. */
  admits(epoch: number): boolean {
    return this.#open && epoch === this.#epoch;
  }

  /** For the hot path: true if the frame may pass; counts the refused ones. */
  admitFrame(): boolean {
    if (this.#open) return true;
    this.#framesHeld++;
    return false;
  }

  /** Closes the gate (a pause); why and by whom is in the call's audit trail. False if it was closed already. */
  close(): boolean {
    if (!this.#open) return false;
    this.#open = false;
    this.#epoch++;
    return true;
  }

  /** Reopens it (a resume). False if it was open already. */
  open(): boolean {
    if (this.#open) return false;
    this.#open = true;
    this.#epoch++;
    return true;
  }
}
