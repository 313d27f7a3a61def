// Two instances on one database (a SQLite file both open) and one Redis: a rule an admin saves through instance B
// acts on the call instance A holds within 1 s, on the caller's next turn there. The store poll, the fallback for a
// lost announcement, is set to an hour here, so only the announcement on the bus can do it.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildService, type Service } from '../../src/app.js';
import { RedisBus } from '../../src/bus/redis.js';
import { loadConfig } from '../../src/config.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { observe } from '../../src/simulator/observe.js';
import type { Scenario } from '../../src/simulator/scenario.js';
import { createStore, type SqlStore } from '../../src/store/index.js';
import { issueToken } from '../../src/supervisor/tokens.js';
import { eventually, scriptedCall } from '../support/twilio-client.js';
import { redisReachable, redisUrl } from '../support/redis.js';

const reachable = redisReachable;

/** A caller who says the same thing every few hundred ms: no default rule acts on it. */
const repeating: Scenario = scriptedCall('says-pineapple', 'a caller who keeps saying a word no rule knows yet', [
  { speaker: 'agent', text: 'Thanks for calling, how can I help?', gapMs: 200 },
  ...Array.from({ length: 60 }, () => ({ speaker: 'caller' as const, text: 'Pineapple.', gapMs: 250 })),
]);

describe.skipIf(!reachable)('a rule change across instances', () => {
  const channel = `takeover:test:${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'takeover-rules-'));
  let a: LocalStack | undefined;
  let b: Service | undefined;
  const stores: SqlStore[] = [];
  afterAll(async () => {
    await a?.close();
    await b?.close();
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a rule saved through B acts on the next caller turn of a call A holds, within 1 s (no poll)', async () => {
    const sqlitePath = join(dir, 'takeover.db');
    const env = { LOG_LEVEL: 'silent', CLASSIFIER: 'local', RULES_POLL_SECONDS: '3600' };
    const storeA = await createStore({ sqlitePath });
    stores.push(storeA);
    a = await startLocalStack({ speed: 1, env, parts: { store: storeA, bus: await RedisBus.connect({ url: redisUrl, channel }) } });
    const storeB = await createStore({ sqlitePath });
    stores.push(storeB);
    b = await buildService(
      loadConfig({ ...env, PORT: '0', PUBLIC_URL: a.config.publicUrl, TWILIO_ACCOUNT_SID: a.config.twilio.accountSid, TWILIO_AUTH_TOKEN: a.config.twilio.authToken, TWILIO_API_BASE_URL: a.config.twilio.apiBaseUrl }),
      { store: storeB, bus: await RedisBus.connect({ url: redisUrl, channel }) },
    );
    const bUrl = await b.app.listen({ port: 0, host: '127.0.0.1' });
    const { token } = await issueToken(storeB, { name: 'ada', role: 'admin' });

    const call = a.emulator.placeCall(repeating);
    const session = await eventually(() => a!.service.monitor.session(call.sid), 5000, 'A to hold the call');
    // A has heard the caller say it, and nothing was done.
    const heard = () => call.events.filter((e) => e.kind === 'callback' && e.event === 'transcription-content' && e.status === 204).length;
    await eventually(() => heard() >= 3, 10_000, 'three caller turns heard on A');
    expect(call.events.filter((e) => e.kind === 'rest')).toEqual([]);
    expect(b.monitor.session(call.sid)).toBeUndefined();

    const res = await fetch(`${bUrl}/api/rules`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'pineapple', when: { type: 'phrase', phrases: ['pineapple'], track: 'inbound' }, action: { type: 'handoff', to: { queue: 'fruit' } }, cooldownSeconds: 0 }),
    });
    const saved = Date.now();
    expect(res.status).toBe(201);
    // A runs the new set (what its callers' next turns are judged by) within 1 s.
    await eventually(() => a!.service.rules.rules.some((r) => r.id === 'pineapple'), 5000, 'A to run the new rule');
    const running = Date.now();

    const handoff = await eventually(
      () => call.events.find((e) => e.kind === 'rest' && e.resource === 'Calls' && /<Enqueue[^>]*>fruit<\/Enqueue>/.test(e.form.Twiml ?? '')),
      10_000,
      'A to hand the caller off by the new rule',
    );
    console.info(`rule saved on B: running on A after ${running - saved} ms; A's handoff request after ${handoff.at - saved} ms`);
    expect(running - saved).toBeLessThan(1000);
    // On the caller's first turn that reached A after that.
    const next = call.transcriptPosts.find((p) => p.final && p.at >= running)!;
    expect(observe(call)).toMatchObject({ triggerLine: next.line, triggerFinal: true });
    expect(handoff.at).toBeGreaterThanOrEqual(next.at);
    await eventually(() => session.state === 'handed_off', 5000, 'the call handed off on A');
  }, 30_000);
});
