// How long to wait before trying again: exponential backoff with jitter, the one formula the service uses
// (Twilio REST retries, OpenAI Realtime reconnects). Pure: the random source is passed in, so tests are exact.

export interface Backoff {
  /** The ceiling of the first wait (attempt 0). */
  initialMs: number;
  /** The ceiling never grows past this. */
  maxMs: number;
  /**
   * `full` (AWS's "full jitter"): anywhere in [0, ceiling]; spreads retries of many clients best.
   * `half`: in [½, 1] × ceiling; never retries at once (a reconnect that must not spin).
   */
  jitter: 'full' | 'half';
}

/** random() returns a number in [0, 1), as Math.random does. */
export type RandomSource = () => number;

/** The wait before retry number `attempt` (0 for the first retry): jittered min(maxMs, initialMs · 2^attempt). */
export function backoffDelay(attempt: number, policy: Backoff, random: RandomSource = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt));
  const r = Math.min(1, Math.max(0, random()));
  return policy.jitter === 'full' ? r * ceiling : ceiling * (0.5 + r / 2);
}

/**
 * The wait before retry number `attempt` of an operation that must be over by `deadline` (epoch ms), or
 * undefined when there is no time for another attempt. A server's Retry-After (ms) is honoured as the least
 * wait; an attempt needs at least `minAttemptMs` left after the wait to be worth sending.
 */
export function retryDelay(
  attempt: number,
  policy: Backoff,
  opts: { now: number; deadline: number; retryAfterMs?: number; minAttemptMs?: number },
  random: RandomSource = Math.random,
): number | undefined {
  const wait = Math.max(backoffDelay(attempt, policy, random), opts.retryAfterMs ?? 0);
  return opts.now + wait + (opts.minAttemptMs ?? 0) <= opts.deadline ? wait : undefined;
}

/** Retry-After as Twilio (or any HTTP server) sends it: seconds, or an HTTP date. Milliseconds from `now`; undefined if unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
