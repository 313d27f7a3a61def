// Configuration is checked once at start: a missing or wrong value names the variable and what to do.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const sid = 'AC' + '0123456789abcdef'.repeat(2);
const base = { TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: 'secret', PUBLIC_URL: 'https://takeover.example.com/' };

const problems = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('configuration', () => {
  it('derives the signed URLs from PUBLIC_URL and defaults to the embedded setup', () => {
    const c = loadConfig(base);
    expect(c.publicUrl).toBe('https://takeover.example.com');
    expect(c.mediaStreamUrl).toBe('wss://takeover.example.com/media-stream');
    expect(c.verifySignatures).toBe(true);
    expect(c.classifier.kind).toBe('local');
    expect(c.summary.kind).toBe('local');
    expect(c.twilio.apiBaseUrl).toBe('https://api.twilio.com');
  });

  it('turns on the cascade and the LLM summary when an OpenAI key is set', () => {
    const c = loadConfig({ ...base, OPENAI_API_KEY: 'k' });
    expect(c.classifier.kind).toBe('cascade');
    expect(c.summary.kind).toBe('llm');
  });

  it('names every wrong variable and what to do', () => {
    expect(problems({ ...base, TWILIO_AUTH_TOKEN: '' })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^TWILIO_AUTH_TOKEN is not set: signature checks need it \(or set ALLOW_UNSIGNED=1/)]),
    );
    expect(problems({ ...base, PUBLIC_URL: '' })[0]).toMatch(/^PUBLIC_URL is not set/);
    expect(problems({ ...base, TWILIO_ACCOUNT_SID: 'AC123' })[0]).toMatch(/^TWILIO_ACCOUNT_SID="AC123": must look like AC followed by 32 hex digits/);
    expect(problems({ ...base, PORT: 'eighty' })[0]).toMatch(/^PORT="eighty"/);
    expect(problems({ ...base, CLASSIFIER: 'llm' })[0]).toMatch(/^CLASSIFIER=llm needs OPENAI_API_KEY/);
    expect(problems({ ...base, ALLOW_UNSIGNED: 'maybe' })[0]).toMatch(/^ALLOW_UNSIGNED="maybe"/);
    expect(problems({ ...base, TWILIO_API_KEY_SID: 'SK' + '0'.repeat(32) })).toEqual([
      'TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET go together: set both or neither',
    ]);
  });

  it('lets local use go without signatures only when asked explicitly', () => {
    const c = loadConfig({ TWILIO_ACCOUNT_SID: sid, TWILIO_API_KEY_SID: 'SK' + '0'.repeat(32), TWILIO_API_KEY_SECRET: 's', ALLOW_UNSIGNED: '1' });
    expect(c.verifySignatures).toBe(false);
    expect(c.publicUrl).toBe('http://localhost:3000');
  });

  it('stops the server at start with the message and exit code 2', async () => {
    const run = promisify(execFile)('npx', ['tsx', 'src/server.ts'], { env: { PATH: process.env.PATH!, HOME: process.env.HOME! } });
    const err = (await run.catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).toBe(2);
    expect(err.stderr).toContain('takeover cannot start.');
    expect(err.stderr).toContain('TWILIO_AUTH_TOKEN is not set');
    expect(err.stderr).toContain('TWILIO_ACCOUNT_SID is not set');
  });
});
