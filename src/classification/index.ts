// The classification stage's front door: builds the configured Classifier (local, llm or cascade) from plain options.
// The server's config module maps environment variables onto these options; nothing here reads the environment.

import type { Classifier } from '../types.js';
import { CascadeClassifier } from './cascade.js';
import { LlmClassifier } from './llm.js';
import { LocalClassifier } from './local.js';

/** The LLM classifier's settings, as configuration reads them (src/config.ts). */
export interface LlmSettings {
  apiKey?: string | undefined;
  baseURL?: string | undefined;
  model: string;
  timeoutMs: number;
  maxRetries: number;
  deadlineMs: number;
  debounceMs: number;
  maxRequestsPerMinutePerCall: number;
}

export interface ClassifierOptions {
  kind: 'local' | 'llm' | 'cascade';
  llm?: LlmSettings;
  logger?: { warn(obj: object, msg?: string): void };
}

export function createClassifier(options: ClassifierOptions): Classifier {
  const local = new LocalClassifier();
  warmUp(local);
  if (options.kind === 'local') return local;
  const llm = options.llm;
  if (!llm) throw new Error(`classifier kind "${options.kind}" needs llm options (model, timeoutMs, …): set LLM_MODEL and OPENAI_API_KEY or OPENAI_BASE_URL`);
  const model = new LlmClassifier({ ...llm, local, logger: options.logger });
  if (options.kind === 'llm') return model;
  return new CascadeClassifier(local, model, { deadlineMs: llm.deadlineMs, logger: options.logger });
}

export { CascadeClassifier } from './cascade.js';
export { LlmClassifier, LlmClassifierError, loadPrompt } from './llm.js';
export { LocalClassifier } from './local.js';
export { redact, redactTurns } from './redact.js';

/** The first classifications compile the hot paths (tens of ms); pay that at start-up, not on a caller's turn. */
function warmUp(local: LocalClassifier): void {
  const samples = [
    'I have been waiting for three weeks and this is ridiculous',
    'can I talk to a real person please',
    'my card number is four one one one one one one one one one one one one one one one',
    'thanks, that is all I needed',
  ];
  for (let i = 0; i < 20; i++) {
    for (const text of samples) local.assess({ text, track: 'inbound', context: [{ track: 'outbound', text: 'How can I help?' }] });
  }
}
