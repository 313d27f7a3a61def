// Finds sensitive data in what the caller says: card numbers (digits or spoken, Luhn checked, also read out over
// several turns), SSNs, IBANs and account numbers, IDs, PINs and passwords, health details. Pure; never returns the value.
// One file (over 300 lines): every detector reads the same digit runs and spoken numbers (numbers.ts) and the same
// chain of earlier turns, and a card read out in pieces must not also count as an account number or an ID, so the
// detectors are weighed against each other here, in one pass over the turn.

import type { SensitiveCategory, Turn } from '../types.js';
import { cardNetwork, ibanLength, ibanOk, luhnOk, ssnValid } from './checksums.js';
import { findDigitRuns, type DigitRun } from './numbers.js';

/** What a span of text is replaced with by `redact` (as `[label]`). */
export type RedactionLabel =
  | 'card' | 'ssn' | 'iban' | 'account' | 'id' | 'phone' | 'email' | 'pin' | 'password' | 'code' | 'number';

export interface Finding {
  start: number;
  end: number;
  label: RedactionLabel;
  /** Set when the finding makes the utterance sensitive; phone numbers and long order numbers are only redacted. */
  category?: SensitiveCategory;
  /** Describes the cue, never the value: "card number (visa, 16 digits, Luhn ok)". */
  trigger: string;
}

type Cue = 'card' | 'ssn' | 'bank' | 'account' | 'id' | 'phone' | 'other' | 'last4' | 'expiry';

// Order matters only for documentation: the cue nearest to the number wins.
const CUE_PATTERNS: [Cue, RegExp][] = [
  ['last4', /\b(?:ending (?:in|with)|ends (?:in|with)|last (?:four|4)(?: digits)?)\b/gi],
  ['expiry', /\b(?:expir\w*|exp date|valid (?:thru|through|until))\b/gi],
  // Not the cards that are no payment card: "travel card", "gift card", "loyalty card", "meter reading card".
  ['card', /\b(?<!\b(?:travel|gift|loyalty|library|rail|oyster|membership|member|rewards?|id|sim|key|business|reading|report|transit|bus|train|metro|student|health|insurance|club|store|points|discount|boarding|greeting|post|sd|memory|graphics|video|sound|network|wi-?fi|parking|access|calling|phone) )(?:credit|debit|card|visa|master ?card|amex|american express|discover|long number)\b/gi],
  ['ssn', /\b(?:social(?: security)?|ssn|s\.? ?s\.? ?n|tax ?id|taxpayer id|itin)\b/gi],
  // A bare "account number" is as often a utility's or a shop's as a bank's: it is an 'account' cue (redacted, no pause).
  ['bank', /\b(?:routing|sort code|iban|bank|checking|savings|aba)\b/gi],
  ['account', /\baccount\b/gi],
  ['id', /\b(?:driver'?s? ?licen[cs]e|driving licen[cs]e|licen[cs]e(?: number)?|passport|dl number|id number|national id|state id|national insurance)\b/gi],
  ['phone', /\b(?:phone|cell|mobile|call me|reach me|text me|call back|callback|landline|fax|extension|ext|dial)\b/gi],
  ['other', /\b(?:order|tracking|confirmation|reference|ref|invoice|ticket|case|claim|policy|member(?:ship)?|customer|booking|reservation|flight|model|serial|zip|postal|receipt|transaction|item|product|sku|purchase|shipment|package|parcel|bill)\b/gi],
];
const CUE_WINDOW = 60;

interface CueHit {
  cue: Cue;
  word: string;
  at: number;
}

/** The cue closest before `pos` (within a short window), e.g. "card" in "my card number is 4111…". */
export function nearestCue(text: string, pos: number): CueHit | null {
  const from = Math.max(0, pos - CUE_WINDOW);
  const window = text.slice(from, pos);
  let best: CueHit | null = null;
  for (const [cue, re] of CUE_PATTERNS) {
    re.lastIndex = 0;
    for (let m = re.exec(window); m; m = re.exec(window)) {
      if (!best || m.index > best.at || (m.index === best.at && cue === 'bank')) best = { cue, word: m[0].toLowerCase(), at: m.index };
    }
  }
  return best;
}

export function cuesIn(text: string): Set<Cue> {
  const found = new Set<Cue>();
  for (const [cue, re] of CUE_PATTERNS) {
    re.lastIndex = 0;
    if (re.test(text)) found.add(cue);
  }
  return found;
}

/** Windows of a digit run that could be a card: the whole run, or whole groups (card + expiry + CVV read together). */
function cardWindows(run: DigitRun): string[] {
  const d = run.digits;
  const out = new Set<string>();
  if (d.length >= 12 && d.length <= 19) out.add(d);
  const bounds = [0];
  for (const g of run.groups) bounds.push(bounds[bounds.length - 1]! + g);
  for (let i = 0; i < bounds.length; i++) {
    for (let j = i + 1; j < bounds.length; j++) {
      const len = bounds[j]! - bounds[i]!;
      if (len >= 12 && len <= 19) out.add(d.slice(bounds[i], bounds[j]));
    }
  }
  if (d.length > 19) {
    for (let len = 13; len <= 19; len++) {
      out.add(d.slice(0, len));
      out.add(d.slice(d.length - len));
    }
  }
  return [...out];
}

function findCard(run: DigitRun): { network: string; length: number } | null {
  for (const w of cardWindows(run)) {
    const network = cardNetwork(w);
    if (network && luhnOk(w)) return { network, length: w.length };
  }
  return null;
}

function isPhoneShape(run: DigitRun, text: string): boolean {
  const n = run.digits.length;
  const g = run.groups.join('-');
  if (text[run.start - 1] === '+' || text[run.start - 2] === '+') return true;
  if (n === 10 && (g === '3-3-4' || g === '10')) return true;
  if (n === 11 && run.digits[0] === '1') return true;
  return n === 7 && g === '3-4';
}

/** Classifies one digit run by its shape, checksum and the nearest cue before it. */
function classifyRun(text: string, run: DigitRun): Finding | null {
  const n = run.digits.length;
  const hit = nearestCue(text, run.start);
  const cue = hit?.cue;
  const span = { start: run.start, end: run.end };
  const form = run.spoken ? ', spoken' : '';
  if (cue === 'other' || cue === 'last4' || cue === 'expiry') {
    return n >= 7 ? { ...span, label: 'number', trigger: `number after '${hit!.word}'` } : null;
  }
  const card = findCard(run);
  if (card && cue !== 'phone' && cue !== 'bank' && cue !== 'ssn') {
    return { ...span, label: 'card', category: 'payment_card', trigger: `card number (${card.network}, ${card.length} digits, Luhn ok${form})` };
  }
  if (cue === 'card' && n >= 6) {
    const what = n >= 12 ? `card number after '${hit!.word}' (${n} digits, Luhn failed${form})` : `card digits after '${hit!.word}' (${n} digits so far${form})`;
    return { ...span, label: 'card', category: 'payment_card', trigger: what };
  }
  const ssnShape = n === 9 && run.groups.join('-') === '3-2-4' && ssnValid(run.digits);
  if ((cue === 'ssn' && (n === 9 || n === 4)) || (ssnShape && cue !== 'phone' && cue !== 'bank' && cue !== 'account')) {
    const why = cue === 'ssn' ? (n === 4 ? `last four of SSN after '${hit!.word}'` : `SSN after '${hit!.word}' (9 digits${form})`) : `SSN (grouped 3-2-4${form})`;
    return { ...span, label: 'ssn', category: 'government_id', trigger: why };
  }
  if (cue === 'id' && n >= 5) {
    return { ...span, label: 'id', category: 'government_id', trigger: `ID number after '${hit!.word}' (${n} digits)` };
  }
  if (cue === 'bank' && n >= 6) {
    return { ...span, label: 'account', category: 'bank_account', trigger: `account number after '${hit!.word}' (${n} digits)` };
  }
  if (cue === 'account' && n >= 6) return { ...span, label: 'account', trigger: `account number (${n} digits)` };
  if (n >= 7 && n <= 15 && (cue === 'phone' || isPhoneShape(run, text))) return { ...span, label: 'phone', trigger: 'phone number' };
  if (n >= 7) return { ...span, label: 'number', trigger: `long number (${n} digits)` };
  return null;
}

const CREDENTIAL_CUE =
  /\b(pin(?: number| code)?|pass ?code|password|pass ?word|passphrase|security code|cvv2?|cvc|csc|card verification (?:code|value)|verification code|one[- ]time (?:pass)?code|otp|access code|security answer|secret answer|maiden name|(?:three|3|four|4) digits on the back)\b/gi;
const CREDENTIAL_LEAD = /^\s*(?:number|code)?\s*(?:is|was|'s|would be|should be|it's|its|it is|=|:)?\s*[:,-]?\s*/i;
const NOT_A_VALUE = new Set([
  'not', 'wrong', 'incorrect', 'invalid', 'expired', 'locked', 'blocked', 'broken', 'working', 'reset', 'changed',
  'change', 'forgotten', 'forgot', 'lost', 'stolen', 'the', 'same', 'too', 'a', 'an', 'my', 'your', 'what', 'which',
  'how', 'where', 'required', 'needed', 'missing', 'case', 'supposed', 'and', 'or', 'but', 'so', 'no', 'in', 'on',
  'for', 'to', 'that', 'this', 'it', 'correct', 'right', 'still', 'also', 'again', 'please', 'if', 'when', 'why',
  'does', 'do', 'did', 'doesnt', 'isnt', 'wont', 'cant', 'there', 'here', 'of', 'from', 'with', 'field', 'box', 'screen',
  'page', 'link', 'email', 'manager', 'strength', 'policy', 'requirements', 'you', 'i', 'we', 'they', 'is', 'was', 'be',
  'been', 'being', 'have', 'has', 'had', 'just', 'now', 'then', 'all', 'any', 'number', 'code', 'anymore', 'ever',
  'never', 'at', 'by', 'about', 'really', 'very', 'so', 'quite', 'pretty', 'super', 'kind', 'sort', 'long', 'short',
  'hard', 'easy', 'weird', 'complicated', 'case-sensitive', 'printed', 'written', 'on', 'under', 'somewhere',
]);

function credentialLabel(cue: string): RedactionLabel {
  const c = cue.toLowerCase();
  if (c.startsWith('pin') || c.startsWith('pass code') || c.startsWith('passcode')) return 'pin';
  if (c.startsWith('pass') || c.includes('answer') || c.includes('maiden')) return 'password';
  return 'code';
}

/** "my PIN is 4321", "password is hunter2": the value after a credential cue. */
function findCredentials(text: string): Finding[] {
  const out: Finding[] = [];
  CREDENTIAL_CUE.lastIndex = 0;
  for (let m = CREDENTIAL_CUE.exec(text); m; m = CREDENTIAL_CUE.exec(text)) {
    const afterCue = m.index + m[0].length;
    const lead = CREDENTIAL_LEAD.exec(text.slice(afterCue))![0];
    const valueStart = afterCue + lead.length;
    const value = /^[^.?!,;]*/.exec(text.slice(valueStart))![0];
    const run = findDigitRuns(value)[0];
    const digitsFirst = run !== undefined && run.start === 0;
    const words = value.split(/\s+/).filter(Boolean).slice(0, 4);
    const first = (words[0] ?? '').toLowerCase().replace(/[^a-z0-9]/g, '');
    // A bare word right after the cue ("password reset") is a value only after "is" or ":".
    const wordValue = !digitsFirst && words.length > 0 && !NOT_A_VALUE.has(first) && lead.trim() !== '';
    if (!digitsFirst && !wordValue) continue;
    const label = credentialLabel(m[1]!);
    const end = digitsFirst ? valueStart + run.end : valueStart + spanOfWords(value, words.length);
    const what = label === 'pin' ? 'PIN' : label === 'code' ? 'security code' : 'password or secret answer';
    out.push({ start: valueStart, end, label, category: 'credentials', trigger: `${what} after '${m[1]!.toLowerCase()}'` });
  }
  return out;
}

function spanOfWords(value: string, count: number): number {
  const re = /\S+/g;
  let end = 0;
  for (let i = 0; i < count; i++) {
    const m = re.exec(value);
    if (!m) break;
    end = m.index + m[0].length;
  }
  return end;
}

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const SPOKEN_EMAIL = /\b[a-z0-9._-]+(?:\s+(?:dot|underscore)\s+[a-z0-9_-]+)*\s+at\s+[a-z0-9-]+(?:\s+dot\s+[a-z0-9-]+)*\s+dot\s+(?:com|net|org|edu|gov|io|co|uk|de|fr|ca|us|info|biz|me)\b/gi;

function findEmails(text: string): Finding[] {
  const out: Finding[] = [];
  for (const re of [EMAIL, SPOKEN_EMAIL]) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) out.push({ start: m.index, end: m.index + m[0].length, label: 'email', trigger: 'email address' });
  }
  return out;
}

/** Written ("GB82 WEST 1234 …") or spelled out ("G B eight two W E S T one two …") IBANs, mod-97 checked. */
function findIbans(text: string): Finding[] {
  const chunks = alnumChunks(text);
  const out: Finding[] = [];
  let i = 0;
  while (i < chunks.length) {
    let j = i;
    while (j < chunks.length && (j === i || chunks[j]!.joined)) j++;
    out.push(...ibansInStream(text, chunks.slice(i, j)));
    i = j;
  }
  return out;
}

interface Chunk {
  s: string;
  start: number;
  end: number;
  /** Continues the previous chunk (only spaces between them). */
  joined: boolean;
}

const SPOKEN_DIGIT: Record<string, string> = {
  zero: '0', oh: '0', one: '1', two: '2', three: '3', four: '4', five: '5', six: '6', seven: '7', eight: '8', nine: '9',
};

function alnumChunks(text: string): Chunk[] {
  const out: Chunk[] = [];
  const re = /[A-Za-z0-9]+/g;
  let last = -1;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const w = m[0];
    const lower = w.toLowerCase();
    let s: string | null = null;
    if (/^\d+$/.test(w)) s = w;
    else if (lower in SPOKEN_DIGIT) s = SPOKEN_DIGIT[lower]!;
    else if (w.length === 1) s = w.toUpperCase();
    else if (/^[A-Z0-9]{2,34}$/.test(w) || (/\d/.test(w) && /^[A-Za-z0-9]+$/.test(w))) s = w.toUpperCase();
    if (s === null) {
      last = -1;
      continue;
    }
    const between = last >= 0 ? text.slice(last, m.index) : 'x';
    out.push({ s, start: m.index, end: m.index + w.length, joined: /^[\s,.-]*$/.test(between) && !/[.]\s/.test(between) });
    last = m.index + w.length;
  }
  return out;
}

function ibansInStream(text: string, chunks: Chunk[]): Finding[] {
  const stream = chunks.map((c) => c.s).join('');
  if (stream.length < 15) return [];
  const owner: number[] = [];
  chunks.forEach((c, k) => {
    for (let x = 0; x < c.s.length; x++) owner.push(k);
  });
  const out: Finding[] = [];
  for (let p = 0; p + 15 <= stream.length; p++) {
    if (!/^[A-Z]{2}\d{2}$/.test(stream.slice(p, p + 4))) continue;
    const len = ibanLength(stream.slice(p, p + 2));
    if (len === undefined || p + len > stream.length) continue;
    if (!ibanOk(stream.slice(p, p + len))) continue;
    const spoken = chunks.slice(owner[p]!, owner[p + len - 1]! + 1).some((c) => !/^[A-Z0-9]+$/.test(text.slice(c.start, c.end)));
    out.push({
      start: chunks[owner[p]!]!.start,
      end: chunks[owner[p + len - 1]!]!.end,
      label: 'iban',
      category: 'bank_account',
      trigger: `IBAN (${stream.slice(p, p + 2)}, mod-97 ok${spoken ? ', spoken' : ''})`,
    });
    p += len - 1;
  }
  return out;
}

// Health data is a disclosure of medical details: a diagnosis, a condition with its treatment, medication taken, a
// member or policy ID. Asking about access ("can I bring my wheelchair?", "I have a disability, is there a ramp?") or
// an accommodation ("my daughter's celiac, do you have gluten free options?") is not.
const HEALTH_CONDITIONS =
  /\b(diabet\w*|cancer|tumou?r|leukemia|lymphoma|hiv|aids|hepatitis|asthma|epilep\w*|seizures?|dementia|alzheimer'?s|parkinson'?s|multiple sclerosis|sclerosis|autism|adhd|bipolar|schizophreni\w*|clinical depression|depression|anxiety disorder|panic attacks?|ptsd|ocd|eating disorder|anorexia|bulimia|heart (?:attack|condition|disease|failure)|stroke|high blood pressure|hypertension|kidney (?:disease|failure)|liver disease|copd|arthritis|lupus|crohn'?s|celiac|std|sti|herpes|chlamydia|pregnan\w*|miscarriage|infertility|covid|long covid|addiction|alcoholism|opioid use|substance abuse|chronic pain|migraines?|insomnia|sleep apnea|obesity|thyroid|cholesterol|paralys\w*|amputat\w*|overdose)\b/i;
const HEALTH_TREATMENTS =
  /\b(chemo(?:therapy)?|radiation therapy|radiotherapy|dialysis|insulin|metformin|lisinopril|atorvastatin|statins?|antidepressants?|prozac|zoloft|lexapro|xanax|valium|adderall|ritalin|oxycodone|methadone|suboxone|morphine|opioids?|antibiotics|prescriptions?|medications?|meds|surgery|transplant|physical therapy|physiotherapy|therapist|psychiatrist|oncologist|cardiologist|rehab|hospice|hospitali[sz]ed|ivf|inhaler|epipen|pacemaker)\b/i;
const HEALTH_CONTEXT = /\b(diagnosed with|suffer(?:s|ing)? from|was told i have|(?:i|he|she) (?:have|has|had) been treated for|my diagnosis|my (?:medical|health) condition|(?:my|his|her) doctor (?:says|said|prescribed|told)|prescribed (?:me|him|her)|(?:member|policy|subscriber|medicare|medicaid|insurance) (?:id|number)(?: is)?\b[^.?!]*\d)/i;
/** A condition said to be one's own (or a relative's): "I have", "she's got", "my son has". */
const POSSESSED = /\b(?:i|he|she|they|we|my \w+) (?:have|has|had|got|'ve got|'s got|suffer\w*|live with|lives with|am on|is on|are on|take|takes|am taking|is taking)\b|\b(?:i'm|i am|he's|she's|he is|she is) (?:on|taking|being treated)\b/i;
const DOSAGE = /\b\d+(?:\.\d+)? ?(?:mg|milligrams?|units|ml)\b/i;
/** An accommodation or access question: the need is mentioned to be met, not disclosed as a record. */
const ACCOMMODATION =
  /\b(?:access\w*|fridge|refrigerat\w*|cold|ramp|elevator|lift|step[- ]free|stairs|bring|allowed|options?|menu|gluten|dairy|vegan|allerg\w*|seat\w*|boarding|help (?:her|him|me|them|us)|assist\w*|accommodat\w*|wheelchair|room|table)\b/i;
const ASKS = /\?|^\s*(?:can|could|do|does|is|are|will|would|may)\b|\b(?:do you|does the|is there|are there|can i|could i|can you|could you)\b/i;
const PERSONAL = /\b(i|i'm|im|i've|ive|my|me|mine|husband|wife|son|daughter|mother|mom|mum|father|dad|child|kid|partner|baby|he|she|his|her)\b/i;

function findHealth(text: string): Finding[] {
  if (!PERSONAL.test(text)) return [];
  const at = (m: RegExpExecArray, trigger: string): Finding => ({ start: m.index, end: m.index, label: 'number', category: 'health', trigger });
  const ctx = HEALTH_CONTEXT.exec(text);
  if (ctx) return [at(ctx, /\d/.test(ctx[1]!) ? 'health: member or policy ID' : `health: said '${ctx[1]!.toLowerCase().replace(/\s+is$/, '')}'`)];
  const cond = HEALTH_CONDITIONS.exec(text);
  const treat = HEALTH_TREATMENTS.exec(text);
  if (!cond && !treat) return [];
  if (ACCOMMODATION.test(text) && ASKS.test(text)) return [];
  const found: Finding[] = [];
  const possessed = POSSESSED.test(text);
  if (cond && (treat || possessed)) found.push(at(cond, 'health: condition named'));
  if (treat && (cond || (possessed && /\b(?:on|take|takes|taking)\b/i.test(text)) || DOSAGE.test(text))) found.push(at(treat, 'health: treatment named'));
  return found;
}

/** Every finding in one text on its own (no conversation), sorted by position. Health findings are zero-width. */
export function scanText(text: string): Finding[] {
  const findings: Finding[] = [...findEmails(text), ...findIbans(text), ...findCredentials(text)];
  const taken = (r: DigitRun): boolean => findings.some((f) => f.label !== 'email' && r.start < f.end && r.end > f.start && f.end > f.start);
  for (const run of findDigitRuns(text)) {
    if (taken(run)) continue;
    const f = classifyRun(text, run);
    if (f) findings.push(f);
  }
  findings.push(...findHealth(text));
  return findings.sort((a, b) => a.start - b.start);
}

// --- Across turns -------------------------------------------------------------------------------------------

const FILLER_WORDS = /^(?:and|then|um+|uh+|er|erm|ah|okay|ok|so|yes|yeah|sure|right|its|it's|it is|the rest is|next|after that|continuing|\s|[,.;:!?-])*$/i;

function runAtStart(text: string): DigitRun | null {
  const first = findDigitRuns(text)[0];
  return first && FILLER_WORDS.test(text.slice(0, first.start)) ? first : null;
}

function runAtEnd(text: string): DigitRun | null {
  const runs = findDigitRuns(text);
  const last = runs[runs.length - 1];
  return last && FILLER_WORDS.test(text.slice(last.end)) ? last : null;
}

/** Agent turns that let the caller go on reading ("mm-hmm", "go on"), as opposed to a new question. */
const BACKCHANNEL = /^\W*(?:\w+\W*){0,4}$/;

/** The turns of the chain, oldest first, each with the piece of digits it contributes. */
export interface ChainPiece {
  /** Index in the context array, or -1 for the current text. */
  turn: number;
  run: DigitRun;
}

/**
 * Digits read out over consecutive caller turns ("four one one one one one one one" … "one one one one …"):
 * the current turn's leading digits and, going back, each caller turn that ended with digits, for as long as
 * the turns in between held nothing but digits. Agent turns in between (back-channel "mm-hmm") are skipped.
 */
export function digitChain(text: string, context: readonly Turn[], maxTurns = 4): ChainPiece[] {
  const lead = runAtStart(text);
  if (!lead) return [];
  const pieces: ChainPiece[] = [{ turn: -1, run: lead }];
  let whole = true;
  let total = lead.digits.length;
  for (let i = context.length - 1, seen = 0; i >= 0 && seen < maxTurns && whole && total < 24; i--) {
    const turn = context[i]!;
    if (turn.track !== 'inbound') {
      if (BACKCHANNEL.test(turn.text) && !turn.text.includes('?')) continue;
      break;
    }
    seen++;
    const tail = runAtEnd(turn.text);
    if (!tail) break;
    pieces.unshift({ turn: i, run: tail });
    total += tail.digits.length;
    whole = FILLER_WORDS.test(turn.text.slice(0, tail.start));
  }
  return pieces.length > 1 ? pieces : [];
}

/** The chain joined into one run, so that card and SSN checks see the whole number. */
function joinedRun(pieces: ChainPiece[], from: number): DigitRun {
  const part = pieces.slice(from);
  return {
    digits: part.map((p) => p.run.digits).join(''),
    start: 0,
    end: 0,
    groups: part.flatMap((p) => p.run.groups),
    spoken: part.some((p) => p.run.spoken),
  };
}

/** What a chain of digits over several turns is, given the cues said around it; null when nothing sensitive. */
export function classifyChain(pieces: ChainPiece[], cues: Set<Cue>): Omit<Finding, 'start' | 'end'> | null {
  for (let from = 0; from < pieces.length - 1; from++) {
    const run = joinedRun(pieces, from);
    const turns = pieces.length - from;
    const card = findCard(run);
    if (card && !cues.has('other')) {
      return { label: 'card', category: 'payment_card', trigger: `card number over ${turns} turns (${card.network}, ${card.length} digits, Luhn ok)` };
    }
    const n = run.digits.length;
    if (cues.has('card') && !cues.has('other') && !cues.has('last4') && n >= 8) {
      return { label: 'card', category: 'payment_card', trigger: `card digits over ${turns} turns (${n} digits so far)` };
    }
    if (n === 9 && (cues.has('ssn') || (ssnValid(run.digits) && run.groups.join('-') === '3-2-4'))) {
      return { label: 'ssn', category: 'government_id', trigger: `SSN over ${turns} turns` };
    }
    if (cues.has('bank') && n >= 8) return { label: 'account', category: 'bank_account', trigger: `account number over ${turns} turns (${n} digits)` };
  }
  return null;
}

const ASKED_CREDENTIAL = /\b(pin|pass ?code|password|security code|cvv|cvc|verification code|one[- ]time code|otp|access code|security question|maiden name|digits on the back)\b/i;

/** What the agent (or the caller, announcing it) asked for in the turns just before: "what's the card number?". */
export function askedFor(context: readonly Turn[]): { cues: Set<Cue>; credential: string | null } {
  const recent = context.slice(-2);
  const cues = new Set<Cue>();
  let credential: string | null = null;
  for (const turn of recent) {
    // A caller turn counts only when it announces a value it has not read yet ("my card number is…").
    if (turn.track === 'inbound' && findDigitRuns(turn.text).length > 0) continue;
    // …and only when it ends by leading into it ("my card number is"), not when it mentions a card in passing.
    if (turn.track === 'inbound' && !/\b(?:number|numbers|is|are|it's|its|reads|goes|digits|code)\W*$/i.test(turn.text)) continue;
    for (const c of cuesIn(turn.text)) cues.add(c);
    const m = ASKED_CREDENTIAL.exec(turn.text);
    if (m) credential = m[1]!.toLowerCase();
  }
  return { cues, credential };
}

export interface SensitiveResult {
  categories: SensitiveCategory[];
  triggers: string[];
}

function addFinding(out: SensitiveResult, category: SensitiveCategory, trigger: string): void {
  if (!out.categories.includes(category)) out.categories.push(category);
  if (!out.triggers.includes(trigger)) out.triggers.push(trigger);
}

/** Sensitive categories in the current caller text, using earlier turns for numbers read over several turns. */
export function detectSensitive(text: string, context: readonly Turn[]): SensitiveResult {
  const out: SensitiveResult = { categories: [], triggers: [] };
  for (const f of scanText(text)) if (f.category) addFinding(out, f.category, f.trigger);
  const asked = askedFor(context);
  const pieces = digitChain(text, context);
  if (pieces.length > 0) {
    const cues = new Set(asked.cues);
    for (const p of pieces) for (const c of cuesIn(p.turn < 0 ? text : context[p.turn]!.text)) cues.add(c);
    const chain = classifyChain(pieces, cues);
    if (chain?.category) addFinding(out, chain.category, chain.trigger);
  }
  if (out.categories.length === 0) answerToQuestion(text, asked, out);
  return out;
}

/** The caller answering the agent's question with digits: the question says what they are. */
function answerToQuestion(text: string, asked: ReturnType<typeof askedFor>, out: SensitiveResult): void {
  const runs = findDigitRuns(text);
  const n = runs.reduce((s, r) => s + r.digits.length, 0);
  const { cues } = asked;
  if (asked.credential && (n >= 3 && n <= 8 || (n === 0 && text.trim().split(/\s+/).length <= 4 && !text.includes('?')))) {
    if (n > 0 || !/\b(don'?t|do not|forgot|no|not sure|what|why|hold on|wait|sorry)\b/i.test(text)) {
      addFinding(out, 'credentials', `answer after being asked for '${asked.credential}'`);
    }
    return;
  }
  if (cues.has('other') || cues.has('phone')) return;
  if (cues.has('card') && !cues.has('last4') && !cues.has('expiry') && n >= 4) addFinding(out, 'payment_card', `card digits after being asked for the card (${n} digits)`);
  else if (cues.has('ssn') && (n === 9 || n === 4)) addFinding(out, 'government_id', n === 4 ? 'last four of SSN after being asked' : 'SSN after being asked (9 digits)');
  else if (cues.has('bank') && n >= 6) addFinding(out, 'bank_account', `account number after being asked (${n} digits)`);
  else if (cues.has('id') && n >= 5) addFinding(out, 'government_id', `ID number after being asked (${n} digits)`);
}
