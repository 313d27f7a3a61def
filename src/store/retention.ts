// Keeps call data no longer than the configured retention: a timer purges calls, transcripts and the calls'
// audit entries older than that; the change audit (rules, tokens), rule versions and tokens stay. The timer
// never holds the process open.
import type { PurgeResult, Store } from './types.js';

const DAY_MS = 86_400_000;

export interface RetentionOptions {
  /** Keep this many days; 0 keeps everything (no purge runs). */
  days: number;
  /** How often to purge (default hourly). The first purge runs right after start. */
  intervalMs?: number;
  onPurged?: (result: PurgeResult & { before: number }) => void;
  onError?: (err: unknown) => void;
  now?: () => number;
}

/** Starts the purge job; returns the function that stops it. */
export function startRetention(store: Store, opts: RetentionOptions): () => void {
  if (opts.days <= 0) return () => undefined;
  const now = opts.now ?? Date.now;
  let running = false;
  const purge = async () => {
    // A slow purge must not overlap the next one.
    if (running) return;
    running = true;
    try {
      const before = now() - opts.days * DAY_MS;
      const result = await store.purgeBefore(before);
      opts.onPurged?.({ ...result, before });
    } catch (err) {
      opts.onError?.(err);
    } finally {
      running = false;
    }
  };
  const first = setTimeout(() => void purge(), 0);
  const timer = setInterval(() => void purge(), opts.intervalMs ?? 3_600_000);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
