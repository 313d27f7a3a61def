// The one backoff formula: exponential growth to a cap, full or half jitter, a deadline that ends the retries,
// and Retry-After as the least wait. Deterministic: the random source is given.
import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter, retryDelay, type Backoff } from '../src/backoff.js';

const full: Backoff = { initialMs: 100, maxMs: 2000, jitter: 'full' };
const half: Backoff = { initialMs: 250, maxMs: 5000, jitter: 'half' };
const always = (r: number) => () => r;

/** A small seeded generator (LCG), so a whole schedule is reproducible. */
function seeded(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

describe('backoffDelay', () => {
  it('full jitter: anywhere from 0 to a ceiling that doubles per attempt up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((n) => backoffDelay(n, full, always(0.5)))).toEqual([50, 100, 200, 400, 800, 1000, 1000, 1000]);
    expect(backoffDelay(3, full, always(0))).toBe(0);
    expect(backoffDelay(3, full, always(0.999))).toBeCloseTo(799.2);
    expect(backoffDelay(50, full, always(0.999))).toBeLessThan(2000);
  });

  it('half jitter: between half the ceiling and the ceiling, never at once', () => {
    expect([0, 1, 2, 5, 9].map((n) => backoffDelay(n, half, always(0)))).toEqual([125, 250, 500, 2500, 2500]);
    expect([0, 1, 2, 5, 9].map((n) => backoffDelay(n, half, always(1)))).toEqual([250, 500, 1000, 5000, 5000]);
  });

  it('keeps a bad random source or attempt number inside the bounds', () => {
    expect(backoffDelay(-3, full, always(0.5))).toBe(50);
    expect(backoffDelay(2, full, always(7))).toBe(400);
    expect(backoffDelay(2, full, always(-1))).toBe(0);
  });
});

describe('retryDelay', () => {
  const now = 1_000_000;

  it('waits the backoff while the deadline leaves room for another attempt, and not after', () => {
    expect(retryDelay(2, full, { now, deadline: now + 10_000, minAttemptMs: 200 }, always(0.5))).toBe(200);
    expect(retryDelay(2, full, { now, deadline: now + 400, minAttemptMs: 200 }, always(0.5))).toBe(200);
    expect(retryDelay(2, full, { now, deadline: now + 399, minAttemptMs: 200 }, always(0.5))).toBeUndefined();
  });

  it("honours Retry-After as the least wait, but not past the deadline", () => {
    expect(retryDelay(0, full, { now, deadline: now + 10_000, retryAfterMs: 3000 }, always(0.5))).toBe(3000);
    // A backoff longer than Retry-After still stands.
    expect(retryDelay(9, full, { now, deadline: now + 10_000, retryAfterMs: 10 }, always(0.9))).toBe(1800);
    expect(retryDelay(0, full, { now, deadline: now + 10_000, retryAfterMs: 30_000 }, always(0.5))).toBeUndefined();
  });

  it('spreads the retries of a 10 s deadline over the whole of it, not over the first second', () => {
    const random = seeded(42);
    const sent: number[] = [0];
    let t = 0;
    for (let attempt = 0; ; attempt++) {
      const wait = retryDelay(attempt, full, { now: t, deadline: 10_000, minAttemptMs: 200 }, random);
      if (wait === undefined) break;
      t += wait + 20; // each request takes 20 ms to fail
      sent.push(t);
    }
    expect(sent.length).toBeGreaterThan(8);
    expect(sent.at(-1)).toBeGreaterThan(7000);
    expect(sent.at(-1)).toBeLessThanOrEqual(9820);
    // The same seed gives the same schedule.
    const again = seeded(42);
    expect(retryDelay(0, full, { now: 0, deadline: 10_000 }, again)).toBe(sent[1]! - 20);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, and nothing else', () => {
    const now = Date.parse('2026-11-24T12:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter(' 1.5 ', now)).toBe(1500);
    expect(parseRetryAfter(['3', '9'], now)).toBe(3000);
    expect(parseRetryAfter('Tue, 24 Nov 2026 12:00:04 GMT', now)).toBe(4000);
    expect(parseRetryAfter('Tue, 24 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
