// The per-call privacy gate: once closed, no audio frame and no transcript text of the call passes
// until it reopens. Closing is synchronous; `epoch` lets work that started before a close notice
// that it must be discarded (text in flight when the gate closed).

export interface GateChange {
  open: boolean;
  at: number;
  reason: string;
  /** Rule id or supervisor token name that asked for it. */
  by: string;
}

export class PrivacyGate {
  #open = true;
  #epoch = 0;
  #framesHeld = 0;
  readonly history: GateChange[] = [];

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

  close(reason: string, by: string): boolean {
    if (!this.#open) return false;
    this.#open = false;
    this.#epoch++;
    this.history.push({ open: false, at: Date.now(), reason, by });
    return true;
  }

  open(reason: string, by: string): boolean {
    if (this.#open) return false;
    this.#open = true;
    this.#epoch++;
    this.history.push({ open: true, at: Date.now(), reason, by });
    return true;
  }
}
