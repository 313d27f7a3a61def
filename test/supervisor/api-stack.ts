// The service beside the Twilio emulator, with one token per role, and a small client for the supervisor API.
import { RuleBook } from '../../src/rules/rule-book.js';
import { parseRuleSet, type RuleInput } from '../../src/rules/schema.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { scenarioSchema, type Scenario } from '../../src/simulator/scenario.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Store, TokenRole } from '../../src/store/types.js';
import { issueToken } from '../../src/supervisor/tokens.js';
import type { Classifier } from '../../src/types.js';

/** A call that stays up long enough for a person to act: the caller pauses for a long while before the last line. */
export const LONG_CALL: Scenario = scenarioSchema.parse({
  name: 'long-call',
  description: 'A calm caller who takes their time.',
  expect: { outcome: 'none' },
  recording: true,
  lines: [
    { speaker: 'agent', text: 'Thanks for calling Acme Home. How can I help you today?' },
    { speaker: 'caller', text: 'I have a question about my last bill.' },
    { speaker: 'caller', text: 'Let me find it.', gapMs: 120_000 },
  ],
});

export interface ApiStack extends LocalStack {
  store: Store;
  tokens: Record<TokenRole, string>;
  /** Calls the API as `as` (a role's token, or a raw token string, or null for none). */
  api<T = any>(method: string, path: string, opts?: { as?: TokenRole | null; token?: string; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: T; headers: Headers }>;
}

export async function startApiStack(options: { store?: Store; classifier?: Classifier; rules?: RuleInput[]; speed?: number; env?: Record<string, string> } = {}): Promise<ApiStack> {
  const store = options.store ?? new MemoryStore();
  const tokens = {} as Record<TokenRole, string>;
  for (const role of ['viewer', 'supervisor', 'admin'] as const) tokens[role] = (await issueToken(store, { name: `${role}-sam`, role })).token;
  const stack = await startLocalStack({
    speed: options.speed ?? 4,
    env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local', ...options.env },
    parts: {
      store,
      ...(options.classifier ? { classifier: options.classifier } : {}),
      ...(options.rules ? { rules: new RuleBook(parseRuleSet(options.rules)) } : {}),
    },
  });
  return {
    ...stack,
    store,
    tokens,
    async api(method, path, opts = {}) {
      const token = opts.token ?? (opts.as === null ? undefined : tokens[opts.as ?? 'admin']);
      const res = await fetch(`${stack.serviceUrl}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
  };
}

/** A classifier whose answers a test can read off the text: "real person" wants a human, each "!" adds frustration. */
export const scriptedClassifier: Classifier = {
  name: 'local',
  async classify({ text }) {
    const bangs = (text.match(/!/g) ?? []).length;
    return {
      frustration: Math.min(1, bangs * 0.4),
      sentiment: bangs > 0 ? -0.6 : 0.2,
      wantsHuman: /real person/i.test(text),
      intent: 'other',
      sensitive: /card number/i.test(text) ? ['payment_card'] : [],
      triggers: [],
      confidence: 0.9,
      source: 'local',
      rationale: 'scripted for tests',
      latencyMs: 0,
    };
  },
};
