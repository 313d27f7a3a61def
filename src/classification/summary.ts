// The short note that goes with a handoff (TaskRouter task attributes): an LLM summary when one is
// configured and answers within its deadline, otherwise the caller's last turns, redacted.
import OpenAI from 'openai';
import { now } from '../clock.js';
import type { Turn } from '../types.js';
import { loadPrompt, type Prompt } from './llm.js';
import { redact, redactTurns } from './redact.js';

export interface HandoffSummarizer {
  /** Never throws; `source` says which summary was used. */
  summarize(reason: string, turns: readonly Turn[]): Promise<{ text: string; source: 'llm' | 'local'; fallback?: string }>;
}

const MAX_CHARS = 400;

/** The caller's last three turns, redacted: good enough to start the conversation, and free. */
function localSummary(turns: readonly Turn[]): string {
  const caller = redactTurns(turns)
    .filter((t) => t.track === 'inbound')
    .slice(-3)
    .map((t) => t.text);
  return caller.length ? `Caller recently said: ${caller.join(' / ')}`.slice(0, MAX_CHARS) : '';
}

export const localSummarizer: HandoffSummarizer = {
  async summarize(_reason, turns) {
    return { text: localSummary(turns), source: 'local' };
  },
};

export interface LlmSummarizerOptions {
  apiKey?: string;
  baseURL?: string;
  model: string;
  /** The handoff waits at most this long for the summary; then the local one is used. */
  deadlineMs: number;
  promptPath?: string;
  logger?: { warn(obj: object, msg?: string): void };
}

const SUMMARY_PROMPT_PATH = new URL('../../prompts/summary.md', import.meta.url).pathname;

export class LlmSummarizer implements HandoffSummarizer {
  readonly #client: OpenAI;
  readonly #prompt: Prompt;

  constructor(private readonly opts: LlmSummarizerOptions) {
    // The deadline is the only timeout that matters: a retry would never fit in it.
    this.#client = new OpenAI({ apiKey: opts.apiKey ?? 'none', baseURL: opts.baseURL, timeout: opts.deadlineMs, maxRetries: 0 });
    this.#prompt = loadPrompt(opts.promptPath ?? SUMMARY_PROMPT_PATH);
  }

  get promptVersion(): string {
    return this.#prompt.version;
  }

  async summarize(reason: string, turns: readonly Turn[]) {
    const started = now();
    const redacted = redactTurns(turns);
    const transcript = redacted.map((t) => `${t.track === 'inbound' ? 'caller' : 'agent'}: ${t.text}`).join('\n');
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.opts.deadlineMs);
    try {
      const res = await this.#client.chat.completions.create(
        {
          model: this.opts.model,
          messages: [
            { role: 'system', content: this.#prompt.system },
            { role: 'user', content: `Reason for the handover: ${reason}\n\n${transcript}` },
          ],
          max_tokens: 120,
          temperature: 0,
        },
        { signal: abort.signal },
      );
      const text = res.choices[0]?.message?.content?.trim();
      if (!text) throw new Error('empty answer');
      // Redacted again: the model saw only redacted text, but may still write out a number it pieced together.
      return { text: redact(text).slice(0, MAX_CHARS), source: 'llm' as const };
    } catch (err) {
      const late = abort.signal.aborted;
      const fallback = late ? `llm summary missed its ${this.opts.deadlineMs} ms deadline` : `llm summary failed: ${(err as Error).message.slice(0, 120)}`;
      this.opts.logger?.warn({ ms: Math.round(now() - started), late }, 'handoff summary fell back to the local one');
      return { text: localSummary(turns), source: 'local' as const, fallback };
    } finally {
      clearTimeout(timer);
    }
  }
}
