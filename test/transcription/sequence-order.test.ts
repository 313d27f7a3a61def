// SequenceOrder puts Twilio's transcription callbacks back in SequenceId order: it delivers 1, 2, 3… as they
// become available, holds a later one while an earlier one is missing, skips a gap after `waitMs`, delivers a callback
// that fills a skipped gap when it comes (late, once), and drops duplicates.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SequenceOrder } from '../../src/transcription/sequence-order.js';

let delivered: string[];
let order: SequenceOrder<string>;
beforeEach(() => {
  vi.useFakeTimers();
  delivered = [];
  order = new SequenceOrder<string>((s) => delivered.push(s), 250);
});
afterEach(() => {
  order.close();
  vi.useRealTimers();
});

describe('SequenceOrder', () => {
  it('delivers in-order items at once', () => {
    expect(order.push(1, 'a')).toBe(true);
    expect(order.push(2, 'b')).toBe(true);
    expect(delivered).toEqual(['a', 'b']);
  });

  it('holds an item that comes before its predecessor, and delivers both in order when the predecessor arrives', () => {
    expect(order.push(2, 'b')).toBe(true);
    expect(delivered).toEqual([]);
    expect(order.push(1, 'a')).toBe(true);
    expect(delivered).toEqual(['a', 'b']);
    vi.advanceTimersByTime(1000); // nothing was left waiting
    expect(delivered).toEqual(['a', 'b']);
  });

  it('reorders a shuffled run', () => {
    for (const n of [3, 5, 1, 4, 2]) order.push(n, `#${n}`);
    expect(delivered).toEqual(['#1', '#2', '#3', '#4', '#5']);
  });

  it('waits waitMs for a gap, then skips it and goes on from the next held item', () => {
    order.push(1, 'a');
    order.push(3, 'c');
    order.push(4, 'd');
    vi.advanceTimersByTime(249);
    expect(delivered).toEqual(['a']);
    vi.advanceTimersByTime(1);
    expect(delivered).toEqual(['a', 'c', 'd']);
    order.push(5, 'e');
    expect(delivered).toEqual(['a', 'c', 'd', 'e']);
  });

  it('delivers an item that arrives after its gap was skipped, late and once: a caller\'s words are not dropped', () => {
    order.push(2, 'b');
    vi.advanceTimersByTime(250);
    expect(delivered).toEqual(['b']);
    expect(order.push(1, 'a')).toBe(true);
    expect(delivered).toEqual(['b', 'a']);
    expect(order.push(1, 'a again')).toBe(false);
    expect(order.push(2, 'b again')).toBe(false);
    expect(delivered).toEqual(['b', 'a']);
  });

  it('remembers at most 256 skipped numbers for a late delivery', () => {
    order.push(1000, 'x');
    vi.advanceTimersByTime(250);
    expect(order.push(1, 'too old')).toBe(false);
    expect(order.push(999, 'late')).toBe(true);
    expect(order.push(744, 'late')).toBe(true);
    expect(order.push(743, 'too old')).toBe(false);
    expect(delivered).toEqual(['x', 'late', 'late']);
  });

  it('drops duplicates, whether already delivered or still held', () => {
    order.push(1, 'a');
    expect(order.push(1, 'a again')).toBe(false);
    order.push(3, 'c');
    expect(order.push(3, 'c again')).toBe(false);
    order.push(2, 'b');
    expect(delivered).toEqual(['a', 'b', 'c']);
    expect(order.push(2, 'b again')).toBe(false);
    expect(delivered).toEqual(['a', 'b', 'c']);
  });

  it('skips several gaps one wait at a time', () => {
    order.push(3, 'c');
    order.push(6, 'f');
    vi.advanceTimersByTime(250);
    expect(delivered).toEqual(['c']); // 4 and 5 get their own wait
    vi.advanceTimersByTime(249);
    order.push(4, 'd');
    expect(delivered).toEqual(['c', 'd']);
    vi.advanceTimersByTime(1);
    expect(delivered).toEqual(['c', 'd', 'f']);
  });

  it('discards what it holds when closed (the transcription stopped)', () => {
    order.push(2, 'b');
    order.close();
    vi.advanceTimersByTime(1000);
    expect(delivered).toEqual([]);
  });
});
