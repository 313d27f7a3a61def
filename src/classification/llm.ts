// Classifier backed by any OpenAI-compatible chat model (OpenAI, Ollama, vLLM) with Structured Outputs, the prompt
// in prompts/classify.md, redacted context, and a per-call debounce and rate limit so partial transcripts stay cheap.

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import OpenAI, { APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { SENSITIVE_CATEGORIES, type Assessment, type ClassifyInput, type Classifier, type Turn } from '../types.js';
import { LocalClassifier } from './local.js';
import { redact, redactTurns } from './redact.js';

const DEFAULT_PROMPT_PATH = fileURLToPath(new URL('../../prompts/classify.md', import.meta.url));

export interface LlmClassifierOptions {
  /** Optional for servers that need none (Ollama, vLLM); required by api.openai.com. */
  apiKey?: string;
  /** OpenAI-compatible base URL, e.g. http://localhost:11434/v1; defaults to https://api.openai.com/v1. */
  baseURL?: string;
  model: string;
  /** Per request, including each retry. */
  timeoutMs: number;
  /** Retries on connection errors, 408, 409, 429 and 5xx (the SDK's own policy). */
  maxRetries: number;
  /** A partial transcript waits this long; a newer utterance of the same call in that time replaces it. */
  debounceMs: number;
  maxRequestsPerMinutePerCall: number;
  /** How many earlier turns go with the request (default 8). */
  contextTurns?: number;
  promptPath?: string;
  /** Answers for partials skipped by the debounce or the rate limit; defaults to a new LocalClassifier. */
  local?: LocalClassifier;
  logger?: { warn(obj: object, msg?: string): void };
}

const LlmAssessmentSchema = z.object({
  frustration: z.number(),
  sentiment: z.number(),
  wantsHuman: z.boolean(),
  intent: z.enum(['request_human', 'complaint', 'payment', 'identity', 'credentials', 'health', 'question', 'smalltalk', 'other']),
  sensitive: z.array(z.enum(SENSITIVE_CATEGORIES)),
  triggers: z.array(z.string()),
  confidence: z.number(),
  rationale: z.string(),
});

export type LlmFailure = 'timeout' | 'aborted' | 'refusal' | 'invalid_output' | 'http' | 'connection';

/** Why the model gave no usable assessment; `kind` lets the cascade say what happened in `fallback`. */
export class LlmClassifierError extends Error {
  constructor(readonly kind: LlmFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LlmClassifierError';
  }
}

/** An assessment, or the reason no request was made (debounced partial, rate limit). */
export type LlmOutcome = { assessment: Assessment } | { skipped: string };

export interface Prompt {
  version: string;
  system: string;
}

/** Reads a prompt file whose first line is `version: …`. */
export function loadPrompt(path: string = DEFAULT_PROMPT_PATH): Prompt {
  const raw = readFileSync(path, 'utf8');
  const m = /^version:\s*(\S+)\s*\n/.exec(raw);
  if (!m) throw new Error(`${path} must start with a line "version: <name>" (e.g. version: classify-2026-11-21)`);
  return { version: m[1]!, system: raw.slice(m[0].length).trim() };
}

const WINDOW_MS = 60_000;

interface CallState {
  pending?: { supersede: () => void };
  sent: number[];
  lastSeen: number;
}

export class LlmClassifier implements Classifier {
  readonly name = 'llm' as const;
  readonly prompt: Prompt;
  private readonly client: OpenAI;
  private readonly calls = new Map<string, CallState>();
  private readonly local: LocalClassifier;

  constructor(private readonly options: LlmClassifierOptions) {
    if (!options.apiKey && !options.baseURL) {
      throw new Error('the LLM classifier needs an API key (OPENAI_API_KEY) or an OpenAI-compatible base URL (OPENAI_BASE_URL)');
    }
    this.prompt = loadPrompt(options.promptPath);
    // Both passed explicitly so that the SDK never falls back to reading the environment itself.
    this.client = new OpenAI({
      apiKey: options.apiKey ?? 'none',
      baseURL: options.baseURL ?? 'https://api.openai.com/v1',
      timeout: options.timeoutMs,
      maxRetries: options.maxRetries,
    });
    this.local = options.local ?? new LocalClassifier();
  }

  /** Throws LlmClassifierError when the model fails; a skipped partial gets the local assessment, marked in `fallback`. */
  async classify(input: ClassifyInput): Promise<Assessment> {
    const outcome = await this.assess(input);
    if ('assessment' in outcome) return outcome.assessment;
    return { ...this.local.assess(input), fallback: outcome.skipped };
  }

  /** One model request for the input, unless the debounce or the rate limit says not to; `signal` aborts it. */
  async assess(input: ClassifyInput, signal?: AbortSignal): Promise<LlmOutcome> {
    const started = performance.now();
    const state = input.callSid ? this.state(input.callSid) : undefined;
    if (state) {
      if (!(await this.debounce(state, input.final === true, signal))) return { skipped: 'partial superseded by a newer utterance' };
      const now = Date.now();
      state.sent = state.sent.filter((t) => now - t < WINDOW_MS);
      if (state.sent.length >= this.options.maxRequestsPerMinutePerCall) {
        return { skipped: `llm rate limit (${this.options.maxRequestsPerMinutePerCall} requests per minute per call)` };
      }
      state.sent.push(now);
    }
    if (signal?.aborted) throw new LlmClassifierError('aborted', 'llm request aborted before it was sent');
    return { assessment: await this.request(input, started, signal) };
  }

  async close(): Promise<void> {
    for (const s of this.calls.values()) s.pending?.supersede();
    this.calls.clear();
  }

  private async request(input: ClassifyInput, started: number, signal?: AbortSignal): Promise<Assessment> {
    let completion;
    try {
      completion = await this.client.chat.completions.parse(
        {
          model: this.options.model,
          temperature: 0,
          messages: [
            { role: 'system', content: this.prompt.system },
            { role: 'user', content: userMessage(input, this.options.contextTurns ?? 8) },
          ],
          response_format: zodResponseFormat(LlmAssessmentSchema, 'assessment'),
        },
        { signal },
      );
    } catch (err) {
      throw toLlmError(err, this.options.timeoutMs);
    }
    const choice = completion.choices[0];
    const message = choice?.message;
    if (message?.refusal) throw new LlmClassifierError('refusal', `llm refused: ${redact(message.refusal).slice(0, 200)}`);
    if (!message?.parsed) throw new LlmClassifierError('invalid_output', 'llm returned no assessment');
    const out = message.parsed;
    const usage = completion.usage;
    return {
      frustration: clamp(out.frustration, 0, 1),
      sentiment: clamp(out.sentiment, -1, 1),
      wantsHuman: out.wantsHuman,
      intent: out.intent,
      sensitive: [...new Set(out.sensitive)],
      // The model was told never to echo values; redact anyway, since a leak here would reach logs and stores.
      triggers: out.triggers.map((t) => redact(t).slice(0, 120)),
      confidence: clamp(out.confidence, 0, 1),
      source: 'llm',
      rationale: redact(out.rationale).slice(0, 500),
      latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
      promptVersion: this.prompt.version,
      ...(usage ? { usage: { inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens } } : {}),
    };
  }

  private state(callSid: string): CallState {
    const now = Date.now();
    // Forget calls quiet for a while, so a long-running process does not keep every call it ever saw.
    if (this.calls.size > 100) {
      for (const [sid, s] of this.calls) if (now - s.lastSeen > 5 * WINDOW_MS && !s.pending) this.calls.delete(sid);
    }
    let s = this.calls.get(callSid);
    if (!s) this.calls.set(callSid, (s = { sent: [], lastSeen: now }));
    s.lastSeen = now;
    return s;
  }

  /** Resolves true when this utterance should go to the model: finals at once, partials if nothing newer came. */
  private debounce(state: CallState, final: boolean, signal?: AbortSignal): Promise<boolean> {
    state.pending?.supersede();
    state.pending = undefined;
    if (final || this.options.debounceMs <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const entry = {
        supersede: (): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', entry.supersede);
          resolve(false);
        },
      };
      const timer = setTimeout(() => {
        if (state.pending === entry) state.pending = undefined;
        signal?.removeEventListener('abort', entry.supersede);
        resolve(true);
      }, this.options.debounceMs);
      signal?.addEventListener('abort', entry.supersede, { once: true });
      state.pending = entry;
    });
  }
}

const SPEAKER: Record<Turn['track'], string> = { inbound: 'caller', outbound: 'agent' };

/** The request text: recent turns and the latest utterance, redacted together so numbers split over turns go too. */
function userMessage(input: ClassifyInput, contextTurns: number): string {
  const recent = (input.context ?? []).slice(-contextTurns);
  const redacted = redactTurns([...recent, { track: input.track, text: input.text }]);
  const current = redacted.pop()!;
  const history = redacted.map((t) => `${SPEAKER[t.track]}: ${t.text}`).join('\n');
  return [
    history ? `Conversation so far (oldest first):\n${history}` : 'Conversation so far: (none)',
    `Latest ${SPEAKER[current.track]} utterance${input.final === false ? ' (partial transcript)' : ''}:\n${current.text}`,
  ].join('\n\n');
}

function toLlmError(err: unknown, timeoutMs: number): LlmClassifierError {
  if (err instanceof LlmClassifierError) return err;
  if (err instanceof APIConnectionTimeoutError) return new LlmClassifierError('timeout', `llm timeout after ${timeoutMs} ms`, { cause: err });
  if (err instanceof APIUserAbortError) return new LlmClassifierError('aborted', 'llm request aborted', { cause: err });
  if (err instanceof APIError && err.status !== undefined) return new LlmClassifierError('http', `llm http ${err.status}: ${err.message.slice(0, 200)}`, { cause: err });
  if (err instanceof APIError) return new LlmClassifierError('connection', `llm connection failed: ${err.message.slice(0, 200)}`, { cause: err });
  if (err instanceof SyntaxError || err instanceof z.ZodError) {
    return new LlmClassifierError('invalid_output', `llm output is not a valid assessment: ${err.message.slice(0, 200)}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new LlmClassifierError('invalid_output', `llm output unusable: ${message.slice(0, 200)}`, { cause: err });
}

function clamp(x: number, lo: number, hi: number): number {
  return Number.isFinite(x) ? Math.min(hi, Math.max(lo, x)) : lo;
}
