// Turn order for realtime transcripts: a later turn's final waits for the earlier one, partials of the
// turn being spoken pass at once, and a lost transcript holds nothing up for long.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TurnOrder, type TurnTranscript } from '../../src/transcription/turn-order.js';

function order(waitMs = 1000) {
  const out: TurnTranscript[] = [];
  const o = new TurnOrder((t) => out.push(t), waitMs);
  const said = () => out.map((t) => `${t.final ? 'F' : 'p'}${t.sequence}:${t.text}`);
  return { o, out, said };
}

afterEach(() => vi.useRealTimers());

describe('TurnOrder', () => {
  it('passes partials of the current turn at once, accumulated, then its final', () => {
    const { o, said } = order();
    o.add('a');
    o.delta('a', 'I would ');
    o.delta('a', 'like to pay');
    o.complete('a', 'I would like to pay.');
    expect(said()).toEqual(['p1:I would ', 'p1:I would like to pay', 'F1:I would like to pay.']);
  });

  it('holds a later turn until the earlier one is final, whatever order the completions come in', () => {
    const { o, said } = order();
    o.add('a');
    o.add('b', 'a');
    o.delta('b', 'second');
    o.complete('b', 'Second.');
    expect(said()).toEqual([]);
    o.delta('a', 'first');
    o.complete('a', 'First.');
    expect(said()).toEqual(['p1:first', 'F1:First.', 'F2:Second.']);
  });

  it('places a committed item after its previous_item_id, not where it was first seen', () => {
    const { o, said } = order();
    o.add('a');
    o.add('c');
    o.add('b', 'a');
    o.complete('c', 'C');
    o.complete('b', 'B');
    o.complete('a', 'A');
    expect(said()).toEqual(['F1:A', 'F2:B', 'F3:C']);
  });

  it('shows the newest held partial when its turn comes up', () => {
    const { o, said } = order();
    o.add('a');
    o.add('b', 'a');
    o.delta('b', 'one ');
    o.delta('b', 'two');
    o.complete('a', 'A');
    expect(said()).toEqual(['F1:A', 'p2:one two']);
  });

  it('skips a turn whose transcript does not come in time, and still delivers it late', () => {
    vi.useFakeTimers();
    const { o, said } = order(500);
    o.add('a');
    o.add('b', 'a');
    o.complete('b', 'B');
    vi.advanceTimersByTime(499);
    expect(said()).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(said()).toEqual(['F1:B']);
    expect(o.skipped).toBe(1);
    o.complete('a', 'A, late');
    expect(said()).toEqual(['F1:B', 'F2:A, late']);
    expect(o.late).toBe(1);
  });

  it('stops waiting for a turn the provider failed to transcribe', () => {
    const { o, said } = order();
    o.add('a');
    o.add('b', 'a');
    o.complete('b', 'B');
    o.fail('a');
    expect(said()).toEqual(['F1:B']);
  });

  it('on a lost session, delivers the finals it holds and forgets unfinished turns', () => {
    const { o, said } = order();
    o.add('a');
    o.add('b', 'a');
    o.delta('a', 'half');
    o.complete('b', 'B');
    expect(o.abandon()).toBe(1);
    expect(said()).toEqual(['p1:half', 'F2:B']);
    o.complete('a', 'A');
    expect(said()).toHaveLength(2);
  });

  it('ignores events for turns already delivered, and replaces rather than appends whole deltas', () => {
    const { o, said } = order();
    o.complete('a', 'A');
    o.delta('a', 'late delta');
    o.complete('a', 'A again');
    o.delta('b', 'hello', true);
    o.delta('b', 'hello there', true);
    expect(said()).toEqual(['F1:A', 'p2:hello', 'p2:hello there']);
  });
});
