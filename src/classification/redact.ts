// Replaces sensitive values with category placeholders ("[card]", "[ssn]", "[phone]") before text is logged,
// stored or sent to a model. Errs on the side of redacting: any long digit run goes, whatever it is.

import type { Turn } from '../types.js';
import { askedFor, classifyChain, cuesIn, digitChain, nearestCue, scanText, type RedactionLabel } from './sensitive.js';
import { findDigitRuns } from './numbers.js';

interface Span {
  start: number;
  end: number;
  label: RedactionLabel;
}

function applySpans(text: string, spans: Span[]): string {
  // Longest first at a position; for the same span, the conversation's label (listed last) wins over the turn's own.
  const sorted = spans.filter((s) => s.end > s.start).map((s, i) => ({ ...s, i })).sort((a, b) => a.start - b.start || b.end - a.end || b.i - a.i);
  let out = '';
  let at = 0;
  for (const s of sorted) {
    let start = s.start;
    // Keep "(415) 555-0134" from leaving "(" or a "+" country prefix behind.
    while (start > at && /[(+]/.test(text[start - 1]!)) start--;
    if (start < at) {
      if (s.end > at) at = s.end;
      continue;
    }
    out += `${text.slice(at, start)}[${s.label}]`;
    at = s.end;
  }
  return out + text.slice(at);
}

/** The text with card numbers, SSNs, IBANs, account, phone and other long numbers, emails and secrets replaced. */
export function redact(text: string): string {
  return applySpans(text, [...scanText(text), ...cardStarts(text)]);
}

/**
 * The first digits of a card being read out ("the number is four one one one"): too few to call it a card
 * number, but they are one, so they go as well. (Detection waits for more; redaction errs on the safe side.)
 */
function cardStarts(text: string): Span[] {
  return findDigitRuns(text)
    .filter((run) => run.digits.length >= 4 && nearestCue(text, run.start)?.cue === 'card')
    .map((run) => ({ start: run.start, end: run.end, label: 'card' as const }));
}

/**
 * Redacts a conversation: each turn as `redact` does, plus numbers read out in pieces over several caller turns
 * (four digits at a time) and short answers to "what is your PIN?", which no single turn gives away.
 */
export function redactTurns(turns: readonly Turn[]): Turn[] {
  const extra: Span[][] = turns.map(() => []);
  turns.forEach((turn, i) => {
    if (turn.track !== 'inbound') return;
    const before = turns.slice(0, i);
    const pieces = digitChain(turn.text, before);
    const total = pieces.reduce((s, p) => s + p.run.digits.length, 0);
    const asked = askedFor(before);
    if (total >= 7) {
      const cues = new Set([...asked.cues, ...pieces.flatMap((p) => [...cuesIn(p.turn < 0 ? turn.text : turns[p.turn]!.text)])]);
      const label = classifyChain(pieces, cues)?.label ?? 'number';
      for (const p of pieces) {
        // A longer chain seen later knows better what the earlier pieces were.
        const list = extra[p.turn < 0 ? i : p.turn]!;
        const same = list.findIndex((s) => s.start === p.run.start && s.end === p.run.end);
        if (same >= 0) list.splice(same, 1);
        list.push({ start: p.run.start, end: p.run.end, label });
      }
    }
    if (asked.credential) {
      const runs = findDigitRuns(turn.text);
      if (runs.length > 0) for (const r of runs) extra[i]!.push({ start: r.start, end: r.end, label: 'pin' });
      else if (turn.text.trim().split(/\s+/).length <= 4) extra[i]!.push({ start: 0, end: turn.text.length, label: 'password' });
    }
  });
  return turns.map((turn, i) => ({ track: turn.track, text: applySpans(turn.text, [...scanText(turn.text), ...extra[i]!]) }));
}
