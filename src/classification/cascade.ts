// Local first, the LLM only when it adds something: what the local classifier is sure of (a request for a person,
// sensitive data) returns at once; the rest goes to the LLM with a deadline, and the local assessment stands if it fails.

import { performance } from 'node:perf_hooks';
import type { Assessment, ClassifyInput, Classifier } from '../types.js';
import { LlmClassifierError, type LlmClassifier } from './llm.js';
import type { LocalClassifier } from './local.js';

export interface CascadeOptions {
  /** How long the LLM may take, debounce included, before the local assessment is used. */
  deadlineMs: number;
  /** Local confidence at or above which a request for a person is final (rule matches get 0.95). */
  sureConfidence?: number;
  logger?: { warn(obj: object, msg?: string): void };
}

export class CascadeClassifier implements Classifier {
  readonly name = 'cascade' as const;

  constructor(
    private readonly local: LocalClassifier,
    private readonly llm: LlmClassifier,
    private readonly options: CascadeOptions,
  ) {}

  async classify(input: ClassifyInput): Promise<Assessment> {
    const started = performance.now();
    const local = this.local.assess(input);
    if (this.isSure(local)) return local;
    const elapsed = (): number => Math.round((performance.now() - started) * 1000) / 1000;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), this.options.deadlineMs);
    });
    try {
      const outcome = await Promise.race([this.llm.assess(input, controller.signal), deadline]);
      if (outcome === 'deadline') {
        controller.abort();
        return { ...local, latencyMs: elapsed(), fallback: `llm timeout after ${this.options.deadlineMs} ms` };
      }
      if ('skipped' in outcome) return { ...local, latencyMs: elapsed(), fallback: outcome.skipped };
      return { ...merge(local, outcome.assessment), latencyMs: elapsed() };
    } catch (err) {
      const reason = err instanceof LlmClassifierError ? err.message : `llm failed: ${err instanceof Error ? err.message : String(err)}`;
      this.options.logger?.warn({ callSid: input.callSid, kind: err instanceof LlmClassifierError ? err.kind : 'unknown' }, reason);
      return { ...local, latencyMs: elapsed(), fallback: reason };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.llm.close();
  }

  private isSure(local: Assessment): boolean {
    return local.sensitive.length > 0 || (local.wantsHuman && local.confidence >= (this.options.sureConfidence ?? 0.9));
  }
}

/** The LLM's reading, never dropping a sensitive category the local rules found. */
function merge(local: Assessment, llm: Assessment): Assessment {
  const sensitive = [...new Set([...local.sensitive, ...llm.sensitive])];
  return { ...llm, sensitive, triggers: [...new Set([...llm.triggers, ...(llm.sensitive.length < sensitive.length ? local.triggers : [])])] };
}
