// The plain values that flow from stage to stage (design.md "Key types"). No stage-specific
// wire format appears here: Twilio JSON stays in src/media, provider JSON in its own stage.

/** `inbound` is the caller, `outbound` the AI agent (Twilio's track names, without `_track`). */
export type Track = 'inbound' | 'outbound';

/** One piece of transcribed speech, partial or final. */
export interface Utterance {
  callSid: string;
  track: Track;
  text: string;
  final: boolean;
  /** Audio time from the start of the stream, when the provider knows it (ms). */
  startMs?: number;
  endMs?: number;
  /** Wall clock (Date.now()) when the transcript reached takeover. */
  receivedAt: number;
  /** Provider order (Twilio SequenceId, OpenAI item order); later is larger. */
  sequence?: number;
  provider: 'twilio' | 'openai';
}

/** A turn of the conversation as the classifier sees it (already redacted when it is stored). */
export interface Turn {
  track: Track;
  text: string;
}

export const SENSITIVE_CATEGORIES = ['payment_card', 'bank_account', 'government_id', 'credentials', 'health'] as const;
export type SensitiveCategory = (typeof SENSITIVE_CATEGORIES)[number];

/** What a classifier concluded about one utterance in its context. Never carries a sensitive value. */
export interface Assessment {
  /** 0 = calm, 1 = furious. */
  frustration: number;
  /** -1 = very negative, 1 = very positive. */
  sentiment: number;
  wantsHuman: boolean;
  /** Short label, e.g. `request_human`, `complaint`, `payment`, `smalltalk`, `other`. */
  intent: string;
  sensitive: SensitiveCategory[];
  /** Phrases or cues that triggered the assessment (e.g. "real person", "card number (16 digits)"); never the sensitive value. */
  triggers: string[];
  /** 0..1, how sure the classifier is of this assessment as a whole. */
  confidence: number;
  source: 'local' | 'llm';
  rationale: string;
  latencyMs: number;
  /** Set by classifiers driven by a prompt file (prompts/…); the version the assessment came from. */
  promptVersion?: string;
  /** Token usage of an LLM request, when one was made. */
  usage?: { inputTokens: number; outputTokens: number };
  /** Set when a fallback was used (e.g. the LLM missed its deadline and the local assessment stands). */
  fallback?: string;
}

export interface ClassifyInput {
  /** Lets a classifier keep per-call state (debounce, rate limit); absent for one-off classification. */
  callSid?: string;
  text: string;
  track: Track;
  /** Earlier turns of the same call, oldest first (the current text is not included). */
  context: Turn[];
  /** True when the utterance is a final transcript; classifiers may skip expensive work on partials. */
  final?: boolean;
}

export interface Classifier {
  readonly name: 'local' | 'llm' | 'cascade';
  classify(input: ClassifyInput): Promise<Assessment>;
  close?(): Promise<void>;
}
