// Turns an utterance into hashed sparse features (words, negation-scoped words, word pairs, character n-grams,
// shouting cues; each present or not) for the linear model. Shared by training and inference so they never drift apart.

/** Distinct feature indices of one text (a feature present twice counts once) and their common value. */
export interface SparseFeatures {
  indices: Int32Array;
  value: number;
}

const NEGATORS = new Set([
  'not', 'no', 'never', 'nothing', 'nobody', 'none', 'nor', 'neither', 'cannot', 'without', 'hardly', 'barely',
  'dont', 'cant', 'wont', 'isnt', 'doesnt', 'didnt', 'wasnt', 'arent', 'couldnt', 'wouldnt', 'shouldnt', 'havent',
  'hasnt', 'aint',
]);
const NEGATION_SCOPE = 3;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function hashString(s: string, seed: number): number {
  let h = (FNV_OFFSET ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ (b >>> 15), 0x2c1b3c6d) ^ b;
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return (h ^ (h >>> 15)) >>> 0;
}

/** Lower-cased words (apostrophes dropped, so "don't" = "dont") and the punctuation that ends a negation scope. */
function tokenize(text: string): string[] {
  return text.toLowerCase().replace(/[’‘`]/g, "'").replace(/'/g, '').match(/[a-z0-9]+|[!?.,;:]/g) ?? [];
}

const SEED_WORD = 1;
const SEED_NEG = 2;
const SEED_PAIR = 3;
const SEED_CHAR = 4;
const SEED_META = 5;

function shoutingCues(text: string): string[] {
  const cues: string[] = [];
  const words = text.match(/[A-Za-z]{3,}/g) ?? [];
  const caps = words.filter((w) => w === w.toUpperCase()).length;
  if (caps >= 1) cues.push('caps');
  if (words.length >= 2 && caps * 2 >= words.length) cues.push('caps-most');
  const bangs = (text.match(/!/g) ?? []).length;
  if (bangs >= 1) cues.push('bang');
  if (bangs >= 2) cues.push('bangs');
  if (/\?!|!\?/.test(text)) cues.push('interrobang');
  if (/([a-z])\1\1/i.test(text)) cues.push('elongated');
  return cues;
}

/** Hashes the text into `2^bits` buckets. Pure and deterministic. */
export function extractFeatures(text: string, bits: number): SparseFeatures {
  const mask = (1 << bits) - 1;
  const out: number[] = [];
  const tokens = tokenize(text);
  let negLeft = 0;
  let prev = hashString('<s>', SEED_PAIR);
  const words: string[] = [];
  for (const tok of tokens) {
    if (tok.length === 1 && '!?.,;:'.includes(tok)) {
      negLeft = 0;
      if (tok === '!' || tok === '?') out.push(hashString(tok, SEED_WORD) & mask);
      continue;
    }
    const hw = hashString(tok, SEED_WORD);
    out.push((negLeft > 0 ? hashString(tok, SEED_NEG) : hw) & mask);
    out.push(mix(prev, hw) & mask);
    prev = hw;
    words.push(tok);
    if (NEGATORS.has(tok)) negLeft = NEGATION_SCOPE;
    else if (negLeft > 0) negLeft--;
  }
  out.push(mix(prev, hashString('</s>', SEED_PAIR)) & mask);
  pushCharGrams(words, mask, out);
  for (const cue of shoutingCues(text)) out.push(hashString(cue, SEED_META) & mask);
  const indices = distinct(out, bits);
  return { indices, value: indices.length > 0 ? 1 / Math.sqrt(indices.length) : 0 };
}

// Which buckets the current text has used: a stamp per bucket, so removing repeats costs no sort and no clearing.
let stamps = new Uint32Array(0);
let stamp = 0;

/** The indices without repeats, first occurrence first: binary presence features (what training's NB ratios count). */
function distinct(out: number[], bits: number): Int32Array {
  if (stamps.length !== 1 << bits) {
    stamps = new Uint32Array(1 << bits);
    stamp = 0;
  }
  if (++stamp === 0xffffffff) {
    stamps.fill(0);
    stamp = 1;
  }
  const indices = new Int32Array(out.length);
  let n = 0;
  for (const idx of out) {
    if (stamps[idx] === stamp) continue;
    stamps[idx] = stamp;
    indices[n++] = idx;
  }
  return n === out.length ? indices : indices.slice(0, n);
}

/** Character 3..5-grams inside each word padded with spaces: catch misspellings ("talkiing") and inflections. */
function pushCharGrams(words: string[], mask: number, out: number[]): void {
  for (const w of words) {
    const padded = ` ${w} `;
    for (let start = 0; start < padded.length - 2; start++) {
      let h = (FNV_OFFSET ^ SEED_CHAR) >>> 0;
      for (let len = 1; len <= 5 && start + len <= padded.length; len++) {
        h ^= padded.charCodeAt(start + len - 1);
        h = Math.imul(h, FNV_PRIME);
        if (len >= 3) out.push((h >>> 0) & mask);
      }
    }
  }
}

/** w·x for one head's weights. */
export function dot(weights: Float32Array | Float64Array, x: SparseFeatures): number {
  let s = 0;
  const idx = x.indices;
  for (let i = 0; i < idx.length; i++) s += weights[idx[i]!]!;
  return s * x.value;
}
