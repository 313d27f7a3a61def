// Configuration is checked once at start: a missing or wrong value names the variable and what to do.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { workerEnv } from '../src/cluster.js';
import { ConfigError, ENV_VARIABLES, loadConfig, describeWrongValue, maskUrl } from '../src/config.js';

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

  it('runs WORKERS processes (auto: one per core) only with Redis, each an instance of its own', () => {
    expect(loadConfig(base).lifecycle.workers).toBe(1);
    expect(problems({ ...base, WORKERS: '2' })).toEqual([
      "WORKERS above 1 needs REDIS_URL: the processes reach each other's calls over Redis; set REDIS_URL, or WORKERS=1",
    ]);
    expect(problems({ ...base, WORKERS: '0' }).join('\n')).toMatch(/^WORKERS/);
    expect(problems({ ...base, WORKERS: 'many' }).join('\n')).toMatch(/^WORKERS/);
    const c = loadConfig({ ...base, WORKERS: 'auto', REDIS_URL: 'redis://127.0.0.1:6379', INSTANCE_ID: 'east-1' });
    expect(c.lifecycle.workers).toBeGreaterThanOrEqual(1);
    expect(workerEnv(c, 2)).toMatchObject({ INSTANCE_ID: 'east-1:w2', WORKERS: '1' });
    expect(workerEnv(c, 2).AUDIT_QUEUE_DIR).toMatch(/audit-queue\/w2$/);
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

  it('names a wrong URL variable without printing the password in it', () => {
    const redis = problems({ ...base, REDIS_URL: 'redis://:hunter2@cache.internal:notaport' });
    expect(redis).toHaveLength(1);
    expect(redis[0]).toMatch(/^REDIS_URL="redis:\/\/:\*\*\*@cache\.internal:notaport": is not a valid URL/);
    expect(redis[0]).not.toContain('hunter2');
    const openai = problems({ ...base, OPENAI_BASE_URL: 'http//admin:hunter2@llm.internal/v1' });
    expect(openai[0]).toBe('OPENAI_BASE_URL="***@llm.internal/v1": Invalid URL'); // a typo in the scheme still hides the password
    const scheme = problems({ ...base, OPENAI_BASE_URL: 'https://admin:hunter2@llm.internal:port/v1?api-key=sk-live' });
    expect(scheme[0]).toBe('OPENAI_BASE_URL="https://admin:***@llm.internal:port/v1?api-key=***": Invalid URL');
    const realtime = problems({ ...base, OPENAI_REALTIME_URL: 'wss://user:hunter2@rt.internal:x/v1' });
    expect(realtime[0]).toMatch(/^OPENAI_REALTIME_URL="wss:\/\/user:\*\*\*@rt\.internal:x\/v1"/);
    const api = problems({ ...base, TWILIO_API_BASE_URL: 'ftp://svc:hunter2@api.internal:port' });
    expect(api[0]).toMatch(/^TWILIO_API_BASE_URL="ftp:\/\/svc:\*\*\*@api\.internal:port"/);
    for (const p of [...redis, ...openai, ...scheme, ...realtime, ...api]) expect(p).not.toMatch(/hunter2|sk-live/);
  });

  it('never prints a secret, nor a value that may be a secret set in the wrong variable', () => {
    const token = 'f'.repeat(32);
    const swapped = problems({ ...base, TWILIO_ACCOUNT_SID: token, TWILIO_AUTH_TOKEN: sid });
    expect(swapped[0]).toMatch(/^TWILIO_ACCOUNT_SID \(value not shown: it does not start with AC/);
    expect(swapped.join('\n')).not.toContain(token);
    const secrets = ENV_VARIABLES.filter((v) => /TOKEN|SECRET|_KEY$/.test(v));
    expect(secrets).toEqual(expect.arrayContaining(['TWILIO_AUTH_TOKEN', 'TWILIO_API_KEY_SECRET', 'OPENAI_API_KEY']));
    for (const v of secrets) expect(describeWrongValue(v, 'hunter2')).toBe(`${v} (value not shown)`);
    const key = problems({ ...base, TWILIO_API_KEY_SID: token, TWILIO_API_KEY_SECRET: 's' });
    expect(key[0]).toMatch(/^TWILIO_API_KEY_SID \(value not shown/);
    expect(key.join('\n')).not.toContain(token);
  });

  it('masks the credentials of a URL, valid or not', () => {
    expect(maskUrl('redis://:hunter2@host:6379/0')).toBe('redis://:***@host:6379/0');
    expect(maskUrl('rediss://default:p@ss/w?rd@host:notaport')).toBe('rediss://default:***@host:notaport');
    expect(maskUrl('https://ghp_token@git.example/x')).toBe('https://***@git.example/x');
    expect(maskUrl('https://host/v1?api-key=abc&x=1#frag')).toBe('https://host/v1?api-key=***&x=***#***');
    expect(maskUrl('https://host/path')).toBe('https://host/path');
    expect(maskUrl('redis//:hunter2@host')).toBe('***@host');
    expect(maskUrl('eighty')).toBe('eighty');
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
