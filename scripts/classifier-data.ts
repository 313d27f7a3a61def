// Loads the labelled data in ../shared/data (or TAKEOVER_DATA_DIR) for training and scoring the local classifier,
// and decides, by a hash of the text, which rows are held aside for the report and which may be tuned on.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export function dataDir(): string {
  const dir = process.env.TAKEOVER_DATA_DIR ?? resolve(REPO_ROOT, '../shared/data');
  if (!existsSync(join(dir, 'goemotions'))) {
    throw new Error(`no classifier data in ${dir}: set TAKEOVER_DATA_DIR to the folder holding goemotions/, bitext/ and presidio/`);
  }
  return dir;
}

function fnv(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const normal = (text: string): string => text.trim().toLowerCase().replace(/\s+/g, ' ');

/** 20% of rows, chosen by a hash of the text: never trained or tuned on, only reported. */
export function isHeldAside(text: string): boolean {
  return fnv(normal(text), 0x5eed) % 100 < 20;
}

/** 15% of the remaining rows, for choosing thresholds (a different hash, so independent of the held-aside part). */
export function isTuning(text: string): boolean {
  return fnv(normal(text), 0x7e57) % 100 < 15;
}

/** Cross-validation fold (0..folds-1) of a training row, by a third hash of the text. */
export function crossValidationFold(text: string, folds: number): number {
  return fnv(normal(text), 0xc0f0) % folds;
}

export interface EmotionRow {
  text: string;
  labels: number[];
}

export const FRUSTRATION_LABELS = [2, 3, 9, 10, 11];
export const POSITIVE_LABELS = [0, 1, 4, 5, 8, 13, 15, 17, 18, 20, 21, 23];
export const NEGATIVE_LABELS = [2, 3, 9, 10, 11, 12, 14, 16, 19, 24, 25];

export function loadGoEmotions(split: 'train' | 'dev'): EmotionRow[] {
  const raw = readFileSync(join(dataDir(), 'goemotions', `${split}.tsv`), 'utf8');
  return raw.split('\n').filter(Boolean).map((line) => {
    const [text = '', labels = ''] = line.split('\t');
    return { text, labels: labels.split(',').map(Number) };
  });
}

export const isFrustrated = (row: EmotionRow): boolean => row.labels.some((l) => FRUSTRATION_LABELS.includes(l));

export interface IntentRow {
  text: string;
  intent: string;
}

/** RFC 4180 CSV (quoted fields may hold commas, quotes and newlines). */
export function parseCsv(raw: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (quoted) {
      if (c === '"' && raw[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && raw[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return rows;
}

export function loadBitext(): IntentRow[] {
  const [header, ...rows] = parseCsv(readFileSync(join(dataDir(), 'bitext', 'customer_support_sample.csv'), 'utf8'));
  const ti = header!.indexOf('instruction');
  const ii = header!.indexOf('intent');
  return rows.filter((r) => r.length > ii).map((r) => ({ text: r[ti]!, intent: r[ii]! }));
}

export interface PresidioRow {
  text: string;
  entities: string[];
}

export const STRICT_ENTITIES = ['CREDIT_CARD', 'US_SSN', 'IBAN_CODE', 'US_DRIVER_LICENSE'];

export function loadPresidio(): PresidioRow[] {
  const rows = JSON.parse(readFileSync(join(dataDir(), 'presidio', 'generated_small.json'), 'utf8')) as {
    full_text: string;
    spans: { entity_type: string }[];
  }[];
  return rows.map((r) => ({ text: r.full_text, entities: r.spans.map((s) => s.entity_type) }));
}
