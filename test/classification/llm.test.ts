// The LLM classifier against a local Chat Completions double: answers, broken answers, refusals, slow and
// rate-limited servers, what the request carries (prompt version, redacted context), and the per-call debounce.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LlmClassifier, LlmClassifierError, type LlmClassifierOptions } from '../../src/classification/llm.js';
import { LocalClassifier } from '../../src/classification/local.js';
import type { ClassifyInput } from '../../src/types.js';
import { startChatDouble, type ChatDouble } from '../doubles/openai-chat.js';

const ANSWER = {
  frustration: 0.8,
  sentiment: -0.6,
  wantsHuman: true,
  intent: 'request_human',
  sensitive: [],
  triggers: ["said 'somebody who knows'"],
  confidence: 0.9,
  rationale: 'The caller is annoyed and wants someone else.',
};

let llm: ChatDouble;
const local = new LocalClassifier();
const open: LlmClassifier[] = [];

beforeAll(async () => {
  llm = await startChatDouble();
});
afterAll(async () => {
  await llm.close();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  llm.requests.length = 0;
});

function classifier(overrides: Partial<LlmClassifierOptions> = {}): LlmClassifier {
  const c = new LlmClassifier({
    apiKey: 'test-key',
    baseURL: llm.baseURL,
    model: 'test-model',
    timeoutMs: 2000,
    maxRetries: 0,
    debounceMs: 0,
    maxRequestsPerMinutePerCall: 100,
    local,
    ...overrides,
  });
  open.push(c);
  return c;
}

const input = (text: string, extra: Partial<ClassifyInput> = {}): ClassifyInput => ({ text, track: 'inbound', context: [], final: true, ...extra });

describe('LLM classifier', () => {
  it('turns a valid structured answer into an assessment with prompt version and token usage', async () => {
    llm.reply({ json: ANSWER, usage: { prompt_tokens: 321, completion_tokens: 54 } });
    const c = classifier();
    const a = await c.classify(input('honestly can I get somebody who knows what they are doing'));
    expect(a).toMatchObject({ source: 'llm', wantsHuman: true, frustration: 0.8, intent: 'request_human', usage: { inputTokens: 321, outputTokens: 54 } });
    expect(a.promptVersion).toBe(c.prompt.version);
    expect(a.promptVersion).toMatch(/^classify-\d{4}-\d{2}-\d{2}$/);
    const body = llm.requests[0]!.body;
    expect(body.model).toBe('test-model');
    expect(body.response_format).toMatchObject({ type: 'json_schema', json_schema: { name: 'assessment', strict: true } });
    expect(body.messages[0].role).toBe('system');
  });

  it('sends the recent turns redacted, with a card read over two turns removed from both', async () => {
    llm.reply({ json: ANSWER });
    await classifier().classify(
      input('one one one one one one one one', {
        context: [
          { track: 'outbound', text: 'Please read me your card number.' },
          { track: 'inbound', text: 'four one one one one one one one' },
          { track: 'outbound', text: 'mm-hmm' },
        ],
      }),
    );
    const user = llm.requests[0]!.body.messages[1].content as string;
    expect(user).toContain('caller: [card]');
    expect(user).toMatch(/Latest caller utterance:\n\[card\]/);
    expect(user).not.toMatch(/one one|four/);
  });

  it('clamps out-of-range numbers and redacts values the model echoes', async () => {
    llm.reply({ json: { ...ANSWER, frustration: 1.7, sentiment: -3, triggers: ['card 4111 1111 1111 1111'], rationale: 'read 4111111111111111' } });
    const a = await classifier().classify(input('whatever'));
    expect(a.frustration).toBe(1);
    expect(a.sentiment).toBe(-1);
    expect(JSON.stringify(a)).not.toMatch(/(?<![\d.])4111(?:[ -]?1111|(?!\d))/);
  });

  it('treats invalid JSON as an error', async () => {
    llm.reply({ content: '{"frustration": 0.5, oops' });
    await expect(classifier().classify(input('hello'))).rejects.toMatchObject({ name: 'LlmClassifierError', kind: 'invalid_output' });
  });

  it('treats JSON that does not match the schema as an error', async () => {
    llm.reply({ json: { frustration: 'very', wantsHuman: 'maybe' } });
    await expect(classifier().classify(input('hello'))).rejects.toMatchObject({ kind: 'invalid_output' });
  });

  it('treats a refusal as an error', async () => {
    llm.reply({ refusal: "I can't help with that." });
    const err = await classifier().classify(input('hello')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LlmClassifierError);
    expect(err).toMatchObject({ kind: 'refusal' });
  });

  it('times out on a slow server', async () => {
    llm.reply({ json: ANSWER, delayMs: 1000 });
    await expect(classifier({ timeoutMs: 100 }).classify(input('hello'))).rejects.toMatchObject({ kind: 'timeout', message: 'llm timeout after 100 ms' });
  });

  it('retries a 429 and then succeeds', async () => {
    llm.reply({ status: 429 }, { json: ANSWER });
    const a = await classifier({ maxRetries: 1 }).classify(input('hello'));
    expect(a.source).toBe('llm');
    expect(llm.requests).toHaveLength(2);
  });

  it('reports a 429 that outlasts the retries as an http error', async () => {
    llm.reply({ status: 429 }, { status: 429 });
    await expect(classifier({ maxRetries: 1 }).classify(input('hello'))).rejects.toMatchObject({ kind: 'http', message: expect.stringContaining('429') });
  });

  it('sends only the last of a burst of partials for one call, and finals at once', async () => {
    llm.setDefault({ json: ANSWER });
    try {
      const c = classifier({ debounceMs: 50 });
      const partials = ['I want', 'I want to talk', 'I want to talk to a'].map((text) => c.classify(input(text, { callSid: 'CA1', final: false })));
      const results = await Promise.all(partials);
      expect(results.map((r) => r.source)).toEqual(['local', 'local', 'llm']);
      expect(results[0]!.fallback).toBe('partial superseded by a newer utterance');
      expect(llm.requests).toHaveLength(1);
      expect(llm.requests[0]!.body.messages[1].content).toContain('I want to talk to a');

      const pending = c.classify(input('I want to talk to a', { callSid: 'CA1', final: false }));
      const final = await c.classify(input('I want to talk to a person', { callSid: 'CA1', final: true }));
      expect((await pending).fallback).toBe('partial superseded by a newer utterance');
      expect(final.source).toBe('llm');
      expect(llm.requests).toHaveLength(2);
    } finally {
      llm.setDefault({ status: 500 });
    }
  });

  it('keeps to the per-call rate limit, answering locally beyond it', async () => {
    llm.setDefault({ json: ANSWER });
    try {
      const c = classifier({ maxRequestsPerMinutePerCall: 2 });
      const sources = [];
      for (let i = 0; i < 3; i++) sources.push((await c.classify(input(`turn ${i}`, { callSid: 'CA2' }))).source);
      expect(sources).toEqual(['llm', 'llm', 'local']);
      expect((await c.classify(input('again', { callSid: 'CA2' }))).fallback).toMatch(/rate limit/);
      expect((await c.classify(input('other call', { callSid: 'CA3' }))).source).toBe('llm');
    } finally {
      llm.setDefault({ status: 500 });
    }
  });

  it('refuses to start without a key or a base URL', () => {
    expect(() => new LlmClassifier({ model: 'm', timeoutMs: 1, maxRetries: 0, debounceMs: 0, maxRequestsPerMinutePerCall: 1 })).toThrow(/OPENAI_API_KEY/);
  });
});
