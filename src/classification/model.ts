// The trained linear model of the local classifier: loading the compact JSON in models/ and scoring a text.
// Weights are int8 with one scale per head, so the file stays small; scripts/train-classifier.ts writes it.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { dot, extractFeatures } from './features.js';

const DEFAULT_MODEL_PATH = fileURLToPath(new URL('../../models/local-classifier.json', import.meta.url));

export const HEAD_NAMES = ['frustration', 'positive', 'negative', 'wantsHuman'] as const;
export type HeadName = (typeof HEAD_NAMES)[number];

const HeadJson = z.object({ bias: z.number(), scale: z.number().positive(), weights: z.string() });
export const ModelJson = z.object({
  format: z.literal(1),
  version: z.string(),
  bits: z.number().int().min(10).max(24),
  heads: z.object({ frustration: HeadJson, positive: HeadJson, negative: HeadJson, wantsHuman: HeadJson }),
  /** Decision thresholds chosen on the tuning split (probabilities); frustration is calibrated so 0.5 is its threshold. */
  thresholds: z.object({ wantsHuman: z.number().min(0).max(1) }),
  training: z.record(z.string(), z.unknown()).optional(),
});
export type ModelJson = z.infer<typeof ModelJson>;

interface Head {
  bias: number;
  weights: Float32Array;
}

export interface TextScores {
  /** Logits (before any context); frustration's is calibrated so that 0 is the decision threshold. */
  frustration: number;
  positive: number;
  negative: number;
  wantsHuman: number;
}

export class LinearModel {
  readonly version: string;
  readonly bits: number;
  readonly wantsHumanThreshold: number;
  private readonly heads: Record<HeadName, Head>;

  constructor(json: ModelJson) {
    this.version = json.version;
    this.bits = json.bits;
    this.wantsHumanThreshold = json.thresholds.wantsHuman;
    const size = 1 << json.bits;
    const decode = (h: z.infer<typeof HeadJson>, name: string): Head => {
      const bytes = Buffer.from(h.weights, 'base64');
      if (bytes.length !== size) throw new Error(`model head ${name} has ${bytes.length} weights, expected ${size}: retrain with npm run train`);
      const weights = new Float32Array(size);
      for (let i = 0; i < size; i++) weights[i] = ((bytes[i]! << 24) >> 24) * h.scale;
      return { bias: h.bias, weights };
    };
    this.heads = {
      frustration: decode(json.heads.frustration, 'frustration'),
      positive: decode(json.heads.positive, 'positive'),
      negative: decode(json.heads.negative, 'negative'),
      wantsHuman: decode(json.heads.wantsHuman, 'wantsHuman'),
    };
  }

  score(text: string): TextScores {
    const x = extractFeatures(text, this.bits);
    const s = (h: Head): number => dot(h.weights, x) + h.bias;
    return {
      frustration: s(this.heads.frustration),
      positive: s(this.heads.positive),
      negative: s(this.heads.negative),
      wantsHuman: s(this.heads.wantsHuman),
    };
  }
}

const loaded = new Map<string, LinearModel>();

/** Loads (once per path) and checks the model file; the message says how to make one when it is missing. */
export function loadModel(path: string = DEFAULT_MODEL_PATH): LinearModel {
  const cached = loaded.get(path);
  if (cached) return cached;
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch {
    throw new Error(`local classifier model not found at ${path}: run npm run train (needs ../shared/data or TAKEOVER_DATA_DIR)`);
  }
  const parsed = ModelJson.safeParse(JSON.parse(raw));
  if (!parsed.success) throw new Error(`local classifier model at ${path} is not valid (${parsed.error.issues[0]?.message}): run npm run train`);
  const model = new LinearModel(parsed.data);
  loaded.set(path, model);
  return model;
}

export const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** int8 weights with one scale (max |w| / 127), base64: what the trainer writes and LinearModel reads. */
export function quantize(weights: Float64Array | Float32Array): { scale: number; weights: string } {
  let max = 0;
  for (const w of weights) max = Math.max(max, Math.abs(w));
  const scale = max > 0 ? max / 127 : 1;
  const bytes = Buffer.alloc(weights.length);
  for (let i = 0; i < weights.length; i++) bytes[i] = Math.round(weights[i]! / scale) & 0xff;
  return { scale, weights: bytes.toString('base64') };
}
