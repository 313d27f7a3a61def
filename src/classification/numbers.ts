// Finds runs of digits in a transcript, written ("4111 1111") or spoken ("four one one one", "double four",
// "oh" for zero, "forty one"), with where they sit in the text and how the speaker grouped them.

export interface DigitRun {
  /** The digits as a plain string, e.g. "4111111111111111". */
  digits: string;
  /** Character span in the original text. */
  start: number;
  end: number;
  /** Lengths of the groups the speaker made (pauses, commas, dashes, spaces between numerals): [3, 2, 4] for an SSN. */
  groups: number[];
  /** True when at least one digit was spoken as a word. */
  spoken: boolean;
}

const UNITS: Record<string, string> = {
  zero: '0', one: '1', two: '2', three: '3', four: '4', five: '5', six: '6', seven: '7', eight: '8', nine: '9',
  nought: '0', naught: '0',
};
const TEENS: Record<string, string> = {
  ten: '10', eleven: '11', twelve: '12', thirteen: '13', fourteen: '14', fifteen: '15', sixteen: '16',
  seventeen: '17', eighteen: '18', nineteen: '19',
};
const TENS: Record<string, string> = {
  twenty: '2', thirty: '3', forty: '4', fourty: '4', fifty: '5', sixty: '6', seventy: '7', eighty: '8', ninety: '9',
};
const REPEAT: Record<string, number> = { double: 2, triple: 3 };
/** Speech-to-text homophones, read as digits only between two other digits ("one to one" is not "121" otherwise). */
const HOMOPHONES: Record<string, string> = { to: '2', too: '2', for: '4', won: '1' };
const ZERO_LETTERS = new Set(['oh', 'o']);
/** Words people put between digits while reading a number out; they pause a run but do not end it. */
const FILLERS = new Set(['uh', 'um', 'umm', 'er', 'erm', 'ah', 'hmm', 'and', 'then', 'sorry', 'dash', 'hyphen', 'space']);

interface Token {
  text: string;
  start: number;
  end: number;
  /** Punctuation or "dash" between the previous token and this one. */
  pauseBefore: boolean;
}

function tokens(text: string): Token[] {
  const out: Token[] = [];
  const re = /[A-Za-z]+|\d+/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const between = text.slice(last, m.index);
    out.push({ text: m[0], start: m.index, end: m.index + m[0].length, pauseBefore: /[,.;:\-–—/()]/.test(between) });
    last = m.index + m[0].length;
  }
  return out;
}

type Piece = { digits: string; numeral: boolean; pause?: boolean };

/** Reads one spoken or written number at tokens[i]; returns the digits and how many tokens it used. */
function readNumber(toks: Token[], i: number): { digits: string; used: number; numeral: boolean } | null {
  const t = toks[i]!;
  const w = t.text.toLowerCase();
  if (/^\d+$/.test(w)) return { digits: w, used: 1, numeral: true };
  const next = toks[i + 1];
  const nw = next && !next.pauseBefore ? next.text.toLowerCase() : '';
  if (w in REPEAT && next && !next.pauseBefore) {
    const inner = readSingle(nw);
    if (inner !== null && inner.length === 1) return { digits: inner.repeat(REPEAT[w]!), used: 2, numeral: false };
    return null;
  }
  if (w in TENS) {
    const unit = UNITS[nw];
    if (unit && unit !== '0' && nw !== 'nought' && nw !== 'naught') return { digits: TENS[w]! + unit, used: 2, numeral: false };
    return { digits: `${TENS[w]!}0`, used: 1, numeral: false };
  }
  if (w in UNITS) {
    if (nw === 'hundred') return readHundred(toks, i);
    return { digits: UNITS[w]!, used: 1, numeral: false };
  }
  if (w in TEENS) return { digits: TEENS[w]!, used: 1, numeral: false };
  return null;
}

function readSingle(w: string): string | null {
  if (w in UNITS) return UNITS[w]!;
  if (ZERO_LETTERS.has(w)) return '0';
  if (/^\d$/.test(w)) return w;
  return null;
}

/** "eight hundred" = 800, "five hundred twelve" = 512, "one hundred and five" = 105. */
function readHundred(toks: Token[], i: number): { digits: string; used: number; numeral: boolean } {
  const lead = UNITS[toks[i]!.text.toLowerCase()]!;
  let j = i + 2;
  const andTok = toks[j];
  if (andTok && !andTok.pauseBefore && andTok.text.toLowerCase() === 'and') j++;
  const rest = toks[j] && !toks[j]!.pauseBefore ? readNumber(toks, j) : null;
  // "eight hundred five five five" is a phone number being read out: a bare unit after "hundred" starts new digits.
  const joins = rest !== null && !rest.numeral && (rest.digits.length === 2 || j > i + 2);
  if (rest && joins && !toks[j]!.text.toLowerCase().startsWith('hundred')) {
    return { digits: lead + rest.digits.padStart(2, '0'), used: j - i + rest.used, numeral: false };
  }
  return { digits: `${lead}00`, used: 2, numeral: false };
}

function isDigitAt(toks: Token[], i: number): boolean {
  const t = toks[i];
  if (!t) return false;
  const w = t.text.toLowerCase();
  return /^\d+$/.test(w) || w in UNITS || w in TEENS || w in TENS || w in REPEAT;
}

function digitFollowsFillers(toks: Token[], i: number): boolean {
  for (let j = i + 1; j < toks.length && j <= i + 3; j++) {
    if (isDigitAt(toks, j) || (ZERO_LETTERS.has(toks[j]!.text.toLowerCase()) && isDigitAt(toks, j + 1))) return true;
    if (!FILLERS.has(toks[j]!.text.toLowerCase())) return false;
  }
  return false;
}

/** Every maximal run of digits in the text, in order. */
export function findDigitRuns(text: string): DigitRun[] {
  const toks = tokens(text);
  const runs: DigitRun[] = [];
  let pieces: Piece[] = [];
  let start = -1;
  let end = -1;
  const flush = (): void => {
    if (pieces.length > 0) runs.push(buildRun(pieces, start, end));
    pieces = [];
  };
  let i = 0;
  while (i < toks.length) {
    const t = toks[i]!;
    const w = t.text.toLowerCase();
    const inRun = pieces.length > 0;
    const num = readNumber(toks, i);
    if (num) {
      if (inRun && t.pauseBefore) pieces.push({ digits: '', numeral: false, pause: true });
      if (!inRun) start = t.start;
      pieces.push({ digits: num.digits, numeral: num.numeral });
      end = toks[i + num.used - 1]!.end;
      i += num.used;
      continue;
    }
    const next = toks[i + 1];
    const nextIsDigit = next !== undefined && !next.pauseBefore && isDigitAt(toks, i + 1);
    const prevIsDigit = inRun && !t.pauseBefore;
    if (ZERO_LETTERS.has(w) && (prevIsDigit || nextIsDigit)) {
      if (inRun && t.pauseBefore) pieces.push({ digits: '', numeral: false, pause: true });
      if (!inRun) start = t.start;
      pieces.push({ digits: '0', numeral: false });
      end = t.end;
      i++;
      continue;
    }
    if (w in HOMOPHONES && prevIsDigit && nextIsDigit) {
      pieces.push({ digits: HOMOPHONES[w]!, numeral: false });
      end = t.end;
      i++;
      continue;
    }
    if (FILLERS.has(w) && inRun && digitFollowsFillers(toks, i)) {
      pieces.push({ digits: '', numeral: false, pause: true });
      i++;
      continue;
    }
    flush();
    i++;
  }
  flush();
  return runs;
}

function buildRun(pieces: Piece[], start: number, end: number): DigitRun {
  const groups: number[] = [];
  let current = 0;
  let prevNumeral = false;
  for (const p of pieces) {
    if (p.pause) {
      if (current > 0) groups.push(current);
      current = 0;
      prevNumeral = false;
      continue;
    }
    // Written numerals separated by a space ("4111 1111") are groups; spoken digits are not.
    if (p.numeral && prevNumeral && current > 0) {
      groups.push(current);
      current = 0;
    }
    current += p.digits.length;
    prevNumeral = p.numeral;
  }
  if (current > 0) groups.push(current);
  return {
    digits: pieces.map((p) => p.digits).join(''),
    start,
    end,
    groups,
    spoken: pieces.some((p) => !p.numeral && !p.pause),
  };
}
