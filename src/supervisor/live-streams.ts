// The live-event streams open on this instance, by the token that opened them: how many a token and all tokens
// together may hold (a stream beyond either is refused before anything is set up for it), and revoking a token
// ends its streams at once. (A token revoked on another instance, or with the CLI, is caught by each stream's
// heartbeat, which checks the token again.)

export interface LiveStreamLimits {
  /** Streams one token may hold open (LIVE_FEEDS_PER_TOKEN). */
  perToken: number;
  /** Streams all tokens together may hold open (LIVE_FEEDS_MAX). */
  total: number;
}

/** Why a new stream is refused, and the answer that says which limit and what to do. */
export interface Refusal {
  limit: 'per_token' | 'total';
  status: 429 | 503;
  retryAfterSeconds: number;
  error: string;
}

/** LIVE_FEEDS_PER_TOKEN and LIVE_FEEDS_MAX's defaults. */
export const LIVE_FEED_DEFAULTS: LiveStreamLimits = { perToken: 10, total: 200 };

export class LiveStreams {
  readonly #byToken = new Map<string, Set<() => void>>();
  /** Tokens revoked through this instance: a stream whose token check raced with the revocation ends as it opens. */
  readonly #revoked = new Set<string>();
  #open = 0;

  constructor(
    readonly limits: LiveStreamLimits = LIVE_FEED_DEFAULTS,
    /** Told the number of open streams whenever it changes (a gauge). */
    private readonly onCount: (open: number) => void = () => undefined,
  ) {}

  /** Whether one more stream for the token would pass the limits; call it, then `add`, in the same tick. */
  refusal(tokenId: string, tokenName: string): Refusal | undefined {
    const { perToken, total } = this.limits;
    if ((this.#byToken.get(tokenId)?.size ?? 0) >= perToken) {
      return {
        limit: 'per_token',
        status: 429,
        retryAfterSeconds: 5,
        error: `token "${tokenName}" already has ${perToken} live-event streams open on this instance (LIVE_FEEDS_PER_TOKEN=${perToken}): close one (another tab or client using this token), or give each client its own token`,
      };
    }
    if (this.#open >= total) {
      return {
        limit: 'total',
        status: 503,
        retryAfterSeconds: 10,
        error: `this instance already serves ${total} live-event streams (LIVE_FEEDS_MAX=${total}): retry later, connect to another instance, or ask the operator to raise LIVE_FEEDS_MAX`,
      };
    }
    return undefined;
  }

  /** Registers an open stream and the function that ends it; returns the function that forgets it (its slot is free again). */
  add(tokenId: string, end: () => void): () => void {
    if (this.#revoked.has(tokenId)) {
      end();
      return () => undefined;
    }
    let streams = this.#byToken.get(tokenId);
    if (!streams) this.#byToken.set(tokenId, (streams = new Set()));
    const mine = streams;
    mine.add(end);
    this.#changed(+1);
    let forgotten = false;
    return () => {
      if (forgotten) return;
      forgotten = true;
      mine.delete(end);
      if (mine.size === 0 && this.#byToken.get(tokenId) === mine) this.#byToken.delete(tokenId);
      this.#changed(-1);
    };
  }

  /** Ends every stream opened with the token, and any that opens with it later; returns how many were open. */
  revoke(tokenId: string): number {
    this.#revoked.add(tokenId);
    const streams = this.#byToken.get(tokenId);
    if (!streams) return 0;
    const ends = [...streams];
    for (const end of ends) end();
    this.#byToken.delete(tokenId);
    return ends.length;
  }

  #changed(by: number): void {
    this.#open += by;
    this.onCount(this.#open);
  }
}
