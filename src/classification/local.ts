// The default classifier: no key, deterministic, well under a millisecond. A small trained linear model
// (models/local-classifier.json) plus rules for requests for a person, sensitive data and call-specific frustration.

import { performance } from 'node:perf_hooks';
import type { Assessment, ClassifyInput, Classifier, SensitiveCategory } from '../types.js';
import { contextSignals, frustrationCues } from './frustration.js';
import { loadModel, sigmoid, type LinearModel } from './model.js';
import { detectSensitive } from './sensitive.js';
import { findHumanRequest } from './wants-human.js';

export interface LocalClassifierOptions {
  /** Path of the model JSON; defaults to models/local-classifier.json in the repository. */
  modelPath?: string;
}

/** Per-text model output plus the utterance's own cues, cached because context turns are scored again and again. */
interface TurnScore {
  frustration: number;
  frustrationLogit: number;
  positive: number;
  negative: number;
  wantsHuman: number;
  cueTriggers: string[];
}

const CACHE_SIZE = 1000;
const SMALLTALK = /^\W*(?:hi|hello|hey|good (?:morning|afternoon|evening)|thanks?|thank you|bye|goodbye|ok(?:ay)?|yes|yeah|no|sure|great|perfect|alright)\b[\w\s,.!']{0,30}$/i;

export class LocalClassifier implements Classifier {
  readonly name = 'local' as const;
  readonly modelVersion: string;
  private readonly model: LinearModel;
  private readonly cache = new Map<string, TurnScore>();

  constructor(options: LocalClassifierOptions = {}) {
    this.model = loadModel(options.modelPath);
    this.modelVersion = this.model.version;
  }

  classify(input: ClassifyInput): Promise<Assessment> {
    return Promise.resolve(this.assess(input));
  }

  /** The same as classify, synchronously (the cascade and the benchmark use it). */
  assess(input: ClassifyInput): Assessment {
    const started = performance.now();
    const context = input.context ?? [];
    const sensitive = detectSensitive(input.text, context);
    if (input.track === 'outbound') return this.agentTurn(sensitive, started);

    const own = this.scoreTurn(input.text);
    const earlier = context.filter((t) => t.track === 'inbound').slice(-4).map((t) => this.scoreTurn(t.text).frustration);
    const ctx = contextSignals(input.text, context, earlier, own.frustration);
    const frustration = sigmoid(own.frustrationLogit + ctx.boost);
    const human = findHumanRequest(input.text);
    const humanProb = sigmoid(own.wantsHuman);
    const wantsHuman = human.explicit || (!human.declined && humanProb >= this.model.wantsHumanThreshold);
    const sentiment = clamp(own.positive - Math.max(own.negative, frustration), -1, 1);

    const triggers = [
      ...(human.trigger ? [human.trigger] : wantsHuman ? ['asks for a person (model)'] : []),
      ...sensitive.triggers,
      ...own.cueTriggers,
      ...ctx.triggers,
    ];
    // Below the cascade's 0.9 unless a rule matched, so that model-only guesses still go to the LLM.
    const confidence = sensitive.categories.length > 0 || human.explicit
      ? 0.95
      : Math.min(0.85, round((certainty(frustration) + certainty(humanProb / (2 * this.model.wantsHumanThreshold))) / 2));
    return {
      frustration: round(frustration),
      sentiment: round(sentiment),
      wantsHuman,
      intent: intentOf(input.text, wantsHuman, sensitive.categories, frustration),
      sensitive: sensitive.categories,
      triggers,
      confidence,
      source: 'local',
      rationale: rationale(wantsHuman, human.explicit, sensitive.categories, frustration, [...own.cueTriggers, ...ctx.triggers]),
      latencyMs: round(performance.now() - started, 3),
    };
  }

  private agentTurn(sensitive: { categories: SensitiveCategory[]; triggers: string[] }, started: number): Assessment {
    return {
      frustration: 0,
      sentiment: 0,
      wantsHuman: false,
      intent: 'agent',
      sensitive: sensitive.categories,
      triggers: sensitive.triggers,
      confidence: 0.9,
      source: 'local',
      rationale: sensitive.categories.length > 0 ? `agent turn with ${sensitive.categories.join(', ')}` : 'agent turn',
      latencyMs: round(performance.now() - started, 3),
    };
  }

  private scoreTurn(text: string): TurnScore {
    const hit = this.cache.get(text);
    if (hit) return hit;
    const s = this.model.score(text);
    const cues = frustrationCues(text);
    const frustrationLogit = s.frustration + cues.boost;
    const score: TurnScore = {
      frustration: sigmoid(frustrationLogit),
      frustrationLogit,
      positive: sigmoid(s.positive),
      negative: sigmoid(s.negative),
      wantsHuman: s.wantsHuman,
      cueTriggers: cues.triggers,
    };
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(text, score);
    return score;
  }
}

function intentOf(text: string, wantsHuman: boolean, sensitive: SensitiveCategory[], frustration: number): string {
  if (wantsHuman) return 'request_human';
  if (sensitive.includes('payment_card') || sensitive.includes('bank_account')) return 'payment';
  if (sensitive.includes('government_id')) return 'identity';
  if (sensitive.includes('credentials')) return 'credentials';
  if (sensitive.includes('health')) return 'health';
  if (frustration >= 0.5) return 'complaint';
  if (SMALLTALK.test(text)) return 'smalltalk';
  if (text.trim().endsWith('?')) return 'question';
  return 'other';
}

function rationale(wantsHuman: boolean, explicit: boolean, sensitive: SensitiveCategory[], frustration: number, cues: string[]): string {
  const parts: string[] = [];
  if (wantsHuman) parts.push(explicit ? 'asks for a person' : 'probably asks for a person');
  if (sensitive.length > 0) parts.push(`says ${sensitive.join(', ').replace(/_/g, ' ')} data`);
  const level = frustration >= 0.75 ? 'very frustrated' : frustration >= 0.5 ? 'frustrated' : frustration >= 0.3 ? 'somewhat tense' : 'calm';
  parts.push(cues.length > 0 ? `${level} (${cues.slice(0, 3).join('; ')})` : level);
  return parts.join('; ');
}

/** 0.5 at the decision boundary, 1 far from it. */
function certainty(p: number): number {
  return 0.5 + Math.min(0.5, Math.abs(p - 0.5));
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

