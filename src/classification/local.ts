// The default classifier: no key, deterministic, well under a millisecond. A small trained linear model
// (models/local-classifier.json) plus rules for requests for a person, sensitive data and call-specific frustration.

import { performance } from 'node:perf_hooks';
import type { Assessment, ClassifyInput, Classifier, SensitiveCategory, Turn } from '../types.js';
import { agentFailed, contextSignals, frustrationCues, type ContextResult } from './frustration.js';
import { loadModel, sigmoid, type LinearModel } from './model.js';
import { detectSensitive } from './sensitive.js';
import { agentAsked, answersAgent, isPlainAnswer, isShortReply } from './neutral.js';
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
  /** An answer such as "no, that's all" with no cue of frustration (neutral when it answers the agent). */
  plainAnswer: boolean;
  /** A short flat reply ("Q S three one one."): neutral when it answers the agent's question. */
  shortReply: boolean;
}

const CACHE_SIZE = 1000;
/** Where a plain answer's own frustration is capped (about 0.12); earlier turns can still lift it. */
const PLAIN_ANSWER_LOGIT = -2;
/** Context that makes a call tense (the agent going round in circles, earlier tense turns), as a logit boost. */
const TENSE_CALL = 1.5;
/** How much of what the call added to an earlier turn carries on to the next ones. */
const CARRY = 0.5;
const TENSE_FLOOR = -1;
const POLITE = /\b(?:thanks|thank you|great|wow|fantastic|wonderful|perfect|helpful|lovely|brilliant|sure|right)\b/i;
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
    const { frustration, ctx } = this.inCall(input.text, own, context, this.earlierCallerScores(context));
    const human = findHumanRequest(input.text);
    const humanProb = sigmoid(own.wantsHuman);
    // Requests for a person are decided by the rules alone: the model, trained on templated tickets, took "SF please"
    // and "transfer my miles" for requests. Its probability still informs the confidence.
    const wantsHuman = human.explicit;
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

  /** A caller turn's frustration in its call: its own score, the turns before it and what the agent did. */
  private inCall(text: string, own: TurnScore, context: readonly Turn[], earlier: readonly number[]): { frustration: number; ctx: ContextResult; plainAnswer: boolean } {
    // A plain answer to the agent ("No, that's all") is neutral on a call, whatever the model learned from Reddit.
    // A short flat reply to the agent's question is neutral too ("Tracking number?" "Q S three one one."), unless the
    // question was the agent failing again ("Could you repeat that?" "I just want my refund").
    const plainAnswer = (own.plainAnswer && answersAgent(context)) || (own.shortReply && asksPlainly(context));
    const ownLogit = plainAnswer ? Math.min(own.frustrationLogit, PLAIN_ANSWER_LOGIT) : own.frustrationLogit;
    const ctx = contextSignals(text, context, earlier, sigmoid(ownLogit));
    // Once the call is tense, "thanks", "great" and "wow" are more often bitter than grateful: they no longer calm the score.
    // The Reddit-trained model reads many a terse complaint ("That's dangerous. Do you understand that?") as calm; in a
    // tense call its verdict is floored, so that what the conversation says is not cancelled by it.
    const tense = ctx.boost >= TENSE_CALL && !plainAnswer;
    const bitter = tense ? Math.max(ownLogit, POLITE.test(text) ? 0 : TENSE_FLOOR) : ownLogit;
    return { frustration: sigmoid(bitter + ctx.boost), ctx, plainAnswer };
  }

  /** The caller's last four turns before this one, each scored as it was heard: its own words (a plain answer to the
   *  agent is capped), lifted by part of what the call around it added, so that tension that built up carries on. */
  private earlierCallerScores(context: readonly Turn[]): number[] {
    const scores: number[] = [];
    context.forEach((t, i) => {
      if (t.track !== 'inbound') return;
      const s = this.scoreTurn(t.text);
      const before = context.slice(0, i);
      const plain = (s.plainAnswer && answersAgent(before)) || (s.shortReply && asksPlainly(before));
      const alone = plain ? sigmoid(Math.min(s.frustrationLogit, PLAIN_ANSWER_LOGIT)) : s.frustration;
      const heard = this.inCall(t.text, s, before, scores.slice(-4)).frustration;
      scores.push(alone + CARRY * Math.max(0, heard - alone));
    });
    return scores.slice(-4);
  }

  private scoreTurn(text: string): TurnScore {
    const hit = this.cache.get(text);
    if (hit) return hit;
    const s = this.model.score(text);
    const cues = frustrationCues(text);
    // Sarcasm turns the model's reading of "great" and "thanks" upside down: start from neutral instead.
    const frustrationLogit = (cues.sarcasm ? Math.max(s.frustration, 0) : s.frustration) + cues.boost;
    const score: TurnScore = {
      frustration: sigmoid(frustrationLogit),
      frustrationLogit,
      positive: sigmoid(s.positive),
      negative: sigmoid(s.negative),
      wantsHuman: s.wantsHuman,
      cueTriggers: cues.triggers,
      plainAnswer: cues.triggers.length === 0 && isPlainAnswer(text),
      shortReply: cues.triggers.length === 0 && isShortReply(text),
    };
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(text, score);
    return score;
  }
}

/** The agent's last turn is a question, and not one that says it failed to understand. */
function asksPlainly(context: readonly Turn[]): boolean {
  return agentAsked(context) && !agentFailed(context[context.length - 1]!.text);
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

