// The note a human gets with a handoff: an LLM summary when it answers in time, the caller's last
// turns (redacted) when it does not. Played on the emulator with a local Chat Completions double.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RuleBook } from '../../src/rules/rule-book.js';
import { parseRuleSet } from '../../src/rules/schema.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import { startChatDouble, type ChatDouble } from '../doubles/openai-chat.js';

const workflowSid = 'WW' + 'd'.repeat(32);
const rules = () =>
  new RuleBook(parseRuleSet([{ id: 'ask', when: { type: 'wants_human' }, action: { type: 'handoff', to: { queue: 'care', workflowSid } } }]));
const scenario = (await loadScenarios()).find((s) => s.name === 'asks-for-human')!;

let llm: ChatDouble;
let stack: LocalStack | undefined;
beforeAll(async () => {
  llm = await startChatDouble();
});
afterAll(async () => llm?.close());
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function taskOf(env: Record<string, string>) {
  stack = await startLocalStack({
    speed: 10,
    env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local', HANDOFF_SUMMARY: 'llm', OPENAI_BASE_URL: llm.baseURL, OPENAI_API_KEY: 'test', ...env },
    parts: { rules: rules() },
  });
  const call = stack.emulator.placeCall(scenario);
  await call.done;
  await stack.service.monitor.settle();
  const update = call.events.find((e) => e.kind === 'rest' && e.resource === 'Calls');
  if (!update || update.kind !== 'rest') throw new Error('no handoff');
  const xml = /<Task>(.*)<\/Task>/.exec(update.form.Twiml!)![1]!;
  return JSON.parse(xml.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
}

describe('handoff summary', () => {
  it('carries the LLM summary in the task, from a redacted prompt', async () => {
    llm.reply({ content: 'Caller has a question about a charge on the last bill and wants a person.' });
    const task = await taskOf({});
    expect(task.summary).toBe('Caller has a question about a charge on the last bill and wants a person.');
    const request = llm.requests.at(-1)!.body;
    expect(request.messages[0].content).toContain('handing over');
    expect(request.messages[1].content).toContain('caller asked for a person');
  });

  it('redacts what the model writes, too: a number it pieced together does not reach the task', async () => {
    llm.reply({ content: 'Caller disputes a charge on card 4111 1111 1111 1111 and can be reached on +1 415 555 0134.' });
    const task = await taskOf({});
    expect(task.summary).toContain('disputes a charge');
    expect(task.summary).not.toMatch(/4111|0134/);
    expect(task.summary).toMatch(/\[card\]/);
  });

  it('falls back to the caller’s last turns when the LLM misses its deadline, without delaying the handoff much', async () => {
    llm.reply({ content: 'too late', delayMs: 2000 });
    const started = Date.now();
    const task = await taskOf({ SUMMARY_DEADLINE_MS: '200' });
    expect(task.summary).toMatch(/^Caller recently said: .*charge on my last bill/);
    expect(Date.now() - started).toBeLessThan(10_000);
    const audit = await stack!.service.store.audit(task.callSid);
    expect(audit.some((e) => String(e.data.summary ?? '').includes('missed its 200 ms deadline'))).toBe(true);
  });
});
