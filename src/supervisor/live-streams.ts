// The live-event streams open on this instance, by the token that opened them: revoking a token ends its
// streams at once. (A token revoked on another instance, or with the CLI, is caught by each stream's heartbeat,
// which checks the token again.)

export class LiveStreams {
  readonly #byToken = new Map<string, Set<() => void>>();
  /** Tokens revoked through this instance: a stream whose token check raced with the revocation ends as it opens. */
  readonly #revoked = new Set<string>();

  /** Registers an open stream and the function that ends it; returns the function that forgets it. */
  add(tokenId: string, end: () => void): () => void {
    if (this.#revoked.has(tokenId)) {
      end();
      return () => undefined;
    }
    let streams = this.#byToken.get(tokenId);
    if (!streams) this.#byToken.set(tokenId, (streams = new Set()));
    const mine = streams;
    mine.add(end);
    return () => {
      mine.delete(end);
      if (mine.size === 0 && this.#byToken.get(tokenId) === mine) this.#byToken.delete(tokenId);
    };
  }

  /** Ends every stream opened with the token, and any that opens with it later; returns how many were open. */
  revoke(tokenId: string): number {
    this.#revoked.add(tokenId);
    const streams = this.#byToken.get(tokenId);
    if (!streams) return 0;
    this.#byToken.delete(tokenId);
    const ends = [...streams];
    for (const end of ends) end();
    return ends.length;
  }

  /** How many streams are open with the token (all tokens when absent). */
  count(tokenId?: string): number {
    if (tokenId !== undefined) return this.#byToken.get(tokenId)?.size ?? 0;
    let n = 0;
    for (const s of this.#byToken.values()) n += s.size;
    return n;
  }
}
