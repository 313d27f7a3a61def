// The cascade end to end with the Chat Completions double: sure local answers skip the LLM, the rest asks it,
// and a slow or failing LLM leaves the local assessment standing, saying why in `fallback`.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClassifier } from '../../src/classification/index.js';
import type { Classifier, ClassifyInput } from '../../src/types.js';
import { startChatDouble, type ChatDouble } from '../doubles/openai-chat.js';

const ANSWER = {
  frustration: 0.75,
  sentiment: -0.5,
  wantsHuman: false,
  intent: 'complaint',
  sensitive: [],
  triggers: ['sarcasm about the wait'],
  confidence: 0.8,
  rationale: 'Sarcastic about waiting.',
};

let llm: ChatDouble;
let cascade: Classifier;
const warnings: string[] = [];

beforeAll(async () => {
  llm = await startChatDouble();
  cascade = createClassifier({
    kind: 'cascade',
    llm: { apiKey: 'test', baseURL: llm.baseURL, model: 'test-model', timeoutMs: 2000, maxRetries: 0, deadlineMs: 300, debounceMs: 0, maxRequestsPerMinutePerCall: 100 },
    logger: { warn: (_obj, msg) => void warnings.push(msg ?? '') },
  });
});
afterAll(async () => {
  await cascade.close?.();
  await llm.close();
});
afterEach(() => {
  llm.requests.length = 0;
  warnings.length = 0;
});

const say = (text: string, extra: Partial<ClassifyInput> = {}) => cascade.classify({ text, track: 'inbound', context: [], final: true, ...extra });

describe('cascade', () => {
  it('answers an explicit request for a person locally, without asking the LLM', async () => {
    const a = await say('let me talk to a real person');
    expect(a).toMatchObject({ source: 'local', wantsHuman: true });
    expect(a.fallback).toBeUndefined();
    expect(llm.requests).toHaveLength(0);
  });

  it('answers a card number locally, without sending anything to the LLM', async () => {
    const a = await say('my card is 4111 1111 1111 1111');
    expect(a).toMatchObject({ source: 'local', sensitive: ['payment_card'] });
    expect(llm.requests).toHaveLength(0);
  });

  it('asks the LLM about the rest and returns its reading', async () => {
    llm.reply({ json: ANSWER });
    const a = await say('oh great, another twenty minutes of hold music, lovely');
    expect(a).toMatchObject({ source: 'llm', frustration: 0.75, intent: 'complaint' });
    expect(a.promptVersion).toMatch(/^classify-/);
    expect(a.usage).toBeDefined();
    expect(llm.requests).toHaveLength(1);
  });

  it('keeps the local assessment when the LLM misses the deadline, and says so', async () => {
    llm.reply({ json: ANSWER, delayMs: 1500 });
    const started = Date.now();
    const a = await say('well that is just wonderful');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(a.source).toBe('local');
    expect(a.fallback).toBe('llm timeout after 300 ms');
  });

  it('keeps the local assessment when the LLM fails', async () => {
    llm.reply({ status: 500 });
    const failed = await say('I suppose that is one way to do it');
    expect(failed).toMatchObject({ source: 'local', fallback: expect.stringContaining('llm http 500') });
    expect(warnings).toHaveLength(1);

    llm.reply({ content: 'not json at all' });
    expect((await say('I suppose')).fallback).toMatch(/not a valid assessment/);

    llm.reply({ refusal: 'no' });
    expect((await say('hmm')).fallback).toMatch(/refused/);
  });
});
