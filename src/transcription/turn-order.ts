// Puts one realtime transcription session's transcripts back in turn order. Items are linked by
// `previous_item_id`; completions can arrive out of order between turns, so a later turn waits (briefly)
// until the turns before it are final. Partials of the turn being spoken pass at once.

export interface TurnTranscript {
  itemId: string;
  /** The whole text of the turn so far (partials accumulate deltas; a final is the provider's transcript). */
  text: string;
  final: boolean;
  /** Release order, starting at 1; later turns have larger numbers. */
  sequence: number;
}

interface Turn {
  id: string;
  text: string;
  final: boolean;
  /** A partial that arrived while an earlier turn was still pending. */
  heldPartial: boolean;
  sequence: number;
}

/** Late events for turns already released are ignored; remember this many of them. */
const RELEASED_MEMORY = 256;

export class TurnOrder {
  #turns: Turn[] = [];
  readonly #byId = new Map<string, Turn>();
  readonly #released = new Set<string>();
  /** Turns skipped after waiting: a transcript that still comes is delivered late rather than lost. */
  readonly #skipped = new Set<string>();
  #sequence = 0;
  #timer: NodeJS.Timeout | undefined;
  #waitingOn: Turn | undefined;
  /** Turns given up on because their transcript did not come within `waitMs`. */
  skipped = 0;
  /** Finals delivered after later turns (their turn had been skipped). */
  late = 0;

  constructor(
    private readonly deliver: (t: TurnTranscript) => void,
    private readonly waitMs: number,
  ) {}

  /** A turn the provider announced (speech started, or audio committed after `previousItemId`). */
  add(itemId: string, previousItemId?: string | null): void {
    this.#turn(itemId, previousItemId);
  }

  /** `whole`: the delta is the turn's whole text so far (whisper-1), not an increment. */
  delta(itemId: string, delta: string, whole = false): void {
    const turn = this.#turn(itemId);
    if (!turn || turn.final || delta === '') return;
    turn.text = whole ? delta : turn.text + delta;
    if (turn === this.#turns[0]) this.#emit(turn);
    else turn.heldPartial = true;
  }

  complete(itemId: string, transcript: string): void {
    if (this.#skipped.delete(itemId)) {
      this.late++;
      this.deliver({ itemId, text: transcript, final: true, sequence: ++this.#sequence });
      return;
    }
    const turn = this.#turn(itemId);
    if (!turn) return;
    turn.text = transcript;
    turn.final = true;
    this.#release();
  }

  /** The provider could not transcribe this turn: later turns stop waiting for it. */
  fail(itemId: string): void {
    const turn = this.#byId.get(itemId);
    if (!turn) return;
    this.#forget(turn);
    this.#turns = this.#turns.filter((t) => t !== turn);
    this.#release();
  }

  /**
   * The session is gone: finals still waiting are delivered now, turns without one are forgotten
   * (their audio is sent again to the next session). Returns how many were forgotten.
   */
  abandon(): number {
    let forgotten = 0;
    for (const turn of this.#turns) {
      if (turn.final) this.#emit(turn);
      else forgotten++;
      this.#forget(turn);
    }
    this.#turns = [];
    this.#stopWaiting();
    return forgotten;
  }

  close(): void {
    this.#stopWaiting();
    this.#turns = [];
    this.#byId.clear();
    this.#skipped.clear();
  }

  #turn(itemId: string, previousItemId?: string | null): Turn | undefined {
    if (this.#released.has(itemId) || this.#skipped.has(itemId)) return undefined;
    let turn = this.#byId.get(itemId);
    if (turn) return turn;
    turn = { id: itemId, text: '', final: false, heldPartial: false, sequence: 0 };
    this.#byId.set(itemId, turn);
    const after = previousItemId ? this.#turns.findIndex((t) => t.id === previousItemId) : -1;
    if (after >= 0) this.#turns.splice(after + 1, 0, turn);
    else this.#turns.push(turn);
    return turn;
  }

  #release(): void {
    while (this.#turns.length > 0) {
      const head = this.#turns[0]!;
      if (!head.final) {
        if (head.heldPartial && head.text !== '') this.#emit(head);
        break;
      }
      this.#turns.shift();
      this.#emit(head);
      this.#forget(head);
    }
    const head = this.#turns[0];
    if (head && this.#turns.some((t) => t.final)) this.#waitFor(head);
    else this.#stopWaiting();
  }

  /** A later turn is final and waits on `head`: give it `waitMs`, then skip it. */
  #waitFor(head: Turn): void {
    if (this.#waitingOn === head) return;
    this.#stopWaiting();
    this.#waitingOn = head;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#waitingOn = undefined;
      if (this.#turns[0] !== head) return;
      this.#turns.shift();
      this.#byId.delete(head.id);
      this.#skipped.add(head.id);
      this.skipped++;
      this.#release();
    }, this.waitMs);
    this.#timer.unref();
  }

  #stopWaiting(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waitingOn = undefined;
  }

  #emit(turn: Turn): void {
    if (turn.sequence === 0) turn.sequence = ++this.#sequence;
    turn.heldPartial = false;
    this.deliver({ itemId: turn.id, text: turn.text, final: turn.final, sequence: turn.sequence });
  }

  #forget(turn: Turn): void {
    this.#byId.delete(turn.id);
    this.#released.add(turn.id);
    for (const ids of [this.#released, this.#skipped]) {
      if (ids.size <= RELEASED_MEMORY) continue;
      const oldest = ids.values().next().value;
      if (oldest !== undefined) ids.delete(oldest);
    }
  }
}
