// The classify CLI through a child process: JSON lines in, exactly one JSON line out per input, nothing else on stdout.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChatDouble, type ChatDouble } from '../doubles/openai-chat.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function run(args: string[], stdin: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const base = { ...process.env };
    for (const k of ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'LLM_MODEL']) delete base[k];
    const child = spawn('npx', ['tsx', 'src/cli/classify.ts', ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

const lines = (out: string): any[] => out.trim().split('\n').map((l) => JSON.parse(l));

describe('classify CLI', () => {
  let llm: ChatDouble;
  beforeAll(async () => {
    llm = await startChatDouble();
  });
  afterAll(async () => {
    await llm.close();
  });

  it('writes exactly one JSON line per input line, bad lines included', async () => {
    const input = [
      JSON.stringify({ id: 'a', text: 'let me talk to a real person' }),
      JSON.stringify({ id: 'b', text: 'one one one one one one one one', context: ['my card number is four one one one one one one one', { track: 'agent', text: 'mm-hmm' }] }),
      'this is not json',
      '',
      JSON.stringify({ id: 'c' }),
      JSON.stringify({ id: 'd', text: 'are you a bot?' }),
    ].join('\n');
    const { code, stdout, stderr } = await run([], `${input}\n`);
    expect(code).toBe(0);
    const out = lines(stdout);
    expect(out.map((o) => o.id)).toEqual(['a', 'b', null, 'c', 'd']);
    expect(out[0]).toMatchObject({ wantsHuman: true, frustrated: expect.any(Boolean), sensitive: [], source: 'local' });
    expect(Object.keys(out[0]).sort()).toEqual(['frustrated', 'frustration', 'id', 'latencyMs', 'sensitive', 'sentiment', 'source', 'wantsHuman']);
    expect(out[1].sensitive).toEqual(['payment_card']);
    expect(out[2].error).toMatch(/not JSON/);
    expect(out[3].error).toMatch(/text/);
    expect(out[4].wantsHuman).toBe(false);
    expect(stderr).toMatch(/line 3: not JSON/);
  });

  it('uses the LLM through OPENAI_BASE_URL with --classifier cascade', async () => {
    llm.setDefault({
      json: { frustration: 0.9, sentiment: -0.8, wantsHuman: false, intent: 'complaint', sensitive: [], triggers: [], confidence: 0.9, rationale: 'annoyed' },
    });
    const { code, stdout } = await run(['--classifier', 'cascade'], `${JSON.stringify({ id: 1, text: 'oh wonderful, more hold music' })}\n`, {
      OPENAI_BASE_URL: llm.baseURL,
      OPENAI_API_KEY: 'test',
      LLM_MODEL: 'test-model',
    });
    expect(code).toBe(0);
    expect(lines(stdout)).toEqual([expect.objectContaining({ id: 1, source: 'llm', frustration: 0.9, frustrated: true })]);
    expect(llm.requests.at(-1)!.body.model).toBe('test-model');
  });

  it('says what is missing when --classifier llm has no key or base URL', async () => {
    const { code, stdout, stderr } = await run(['--classifier', 'llm'], '');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/OPENAI_API_KEY/);
  });
});
