// Two instances behind one load balancer, sharing Redis: a supervisor connected to one instance takes over a
// call whose stream the other instance holds, and sees its live events.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { buildService, type Service } from '../../src/app.js';
import { RedisBus } from '../../src/bus/redis.js';
import type { LiveEvent } from '../../src/bus/types.js';
import { loadConfig } from '../../src/config.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import type { Scenario } from '../../src/simulator/scenario.js';
import { MemoryStore } from '../../src/store/memory.js';
import { issueToken } from '../../src/supervisor/tokens.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { eventually, postCallback, scriptedCall } from '../support/twilio-client.js';
import { redisReachable, redisUrl } from '../support/redis.js';

const reachable = redisReachable;

const quiet: Scenario = scriptedCall('quiet', 'a caller who says little, for a long time', [
  { speaker: 'agent', text: 'Thanks for calling, how can I help?', gapMs: 200 },
  { speaker: 'caller', text: 'Hello, I have a question about my order.', gapMs: 60_000 },
]);

describe.skipIf(!reachable)('several instances on one Redis', () => {
  const channel = `takeover:test:${randomBytes(4).toString('hex')}`;
  let a: LocalStack;
  let b: Service;
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('runs a takeover asked of instance B on the call that instance A holds, and B sees A’s events', async () => {
    a = await startLocalStack({ speed: 1, env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' }, parts: { bus: await RedisBus.connect({ url: redisUrl, channel }) } });
    const storeB = new MemoryStore();
    const { token } = await issueToken(storeB, { name: 'sam', role: 'supervisor' });
    b = await buildService(loadConfig({ LOG_LEVEL: 'silent', PORT: '0', PUBLIC_URL: a.config.publicUrl, TWILIO_ACCOUNT_SID: a.config.twilio.accountSid, TWILIO_AUTH_TOKEN: a.config.twilio.authToken, TWILIO_API_BASE_URL: a.config.twilio.apiBaseUrl }), {
      store: storeB,
      bus: await RedisBus.connect({ url: redisUrl, channel }),
    });
    const bUrl = await b.app.listen({ port: 0, host: '127.0.0.1' });
    const seenOnB: LiveEvent[] = [];
    b.bus.subscribe((e) => seenOnB.push(e));

    const call = a.emulator.placeCall(quiet);
    await eventually(() => a.service.monitor.session(call.sid), 5000, 'A to hold the call');
    expect(b.monitor.session(call.sid)).toBeUndefined();
    await eventually(() => seenOnB.some((e) => e.callSid === call.sid), 5000, 'B to see the call’s events');

    const res = await fetch(`${bUrl}/api/calls/${call.sid}/takeover`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ queue: 'escalations' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ result: 'done', detail: 'handed off: queue escalations' });
    const update = call.events.find((e) => e.kind === 'rest' && e.resource === 'Calls');
    expect(update?.kind === 'rest' && update.form.Twiml).toContain('<Enqueue>escalations</Enqueue>');
    expect(a.service.monitor.session(call.sid)?.state).toBe('handed_off');

    // Every instance answers "not mine": no waiting for a timeout to learn that nobody holds the call.
    const asked = Date.now();
    const unknown = await fetch(`${bUrl}/api/calls/CA${'0'.repeat(32)}/takeover`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(unknown.status).toBe(404);
    expect(Date.now() - asked).toBeLessThan(1000);
  }, 30_000);

  it('hands a transcription callback that lands on B to A, which holds the stream: one session, one handoff, from A', async () => {
    a ??= await startLocalStack({ speed: 1, env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' }, parts: { bus: await RedisBus.connect({ url: redisUrl, channel }) } });
    const storeB2 = new MemoryStore();
    const b2 = await buildService(loadConfig({ LOG_LEVEL: 'silent', PORT: '0', PUBLIC_URL: a.config.publicUrl, TWILIO_ACCOUNT_SID: a.config.twilio.accountSid, TWILIO_AUTH_TOKEN: a.config.twilio.authToken, TWILIO_API_BASE_URL: a.config.twilio.apiBaseUrl }), {
      store: storeB2,
      bus: await RedisBus.connect({ url: redisUrl, channel }),
    });
    try {
      const bUrl = await b2.app.listen({ port: 0, host: '127.0.0.1' });
      const call = a.emulator.placeCall({ ...quiet, name: 'quiet-callbacks-elsewhere' });
      const transcriptionSid = await eventually(() => a.service.monitor.session(call.sid)?.transcription?.sid, 5000, 'A to start the call’s transcription');
      // Twilio signs over the public URL; the load balancer sent this one to B.
      const params = {
        AccountSid: a.config.twilio.accountSid,
        CallSid: call.sid,
        TranscriptionSid: transcriptionSid,
        TranscriptionEvent: 'transcription-content',
        TranscriptionData: JSON.stringify({ transcript: 'Can you put me through to a real person, please?', confidence: 0.93 }),
        Final: 'true',
        Track: 'inbound_track',
        SequenceId: '1000',
      };
      const post = () => postCallback(a, '/twilio/transcription', params, { to: bUrl });
      expect((await post()).status).toBe(204);
      await eventually(() => a.service.monitor.session(call.sid)?.state === 'handed_off', 5000, 'A to hand the caller off');
      expect(b2.monitor.session(call.sid), 'B made no session of its own').toBeUndefined();
      // Twilio delivering the same callback again, to B: the holder knows it, and nothing happens twice.
      expect((await post()).status).toBe(200);
      await a.service.monitor.settle();
      const updates = call.events.filter((e) => e.kind === 'rest' && e.resource === 'Calls');
      expect(updates).toHaveLength(1);
      // An unsigned one is refused where it lands, before anything is forwarded.
      const unsigned = await postCallback(a, '/twilio/transcription', { ...params, SequenceId: '1001' }, { to: bUrl, signature: null });
      expect(unsigned.status).toBe(403);
    } finally {
      await b2.close();
    }
  }, 30_000);

  it('hands a finished <Pay> that lands on B to A, which paused the call: A listens again', async () => {
    a ??= await startLocalStack({ speed: 1, env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' }, parts: { bus: await RedisBus.connect({ url: redisUrl, channel }) } });
    const b3 = await buildService(loadConfig({ LOG_LEVEL: 'silent', PORT: '0', PUBLIC_URL: a.config.publicUrl, TWILIO_ACCOUNT_SID: a.config.twilio.accountSid, TWILIO_AUTH_TOKEN: a.config.twilio.authToken, TWILIO_API_BASE_URL: a.config.twilio.apiBaseUrl }), {
      store: new MemoryStore(),
      bus: await RedisBus.connect({ url: redisUrl, channel }),
    });
    try {
      const bUrl = await b3.app.listen({ port: 0, host: '127.0.0.1' });
      const call = a.emulator.placeCall({ ...quiet, name: 'quiet-secure-pay-elsewhere', parameters: { flow: 'secure-pay' } });
      const transcriptionSid = await eventually(() => a.service.monitor.session(call.sid)?.transcription?.sid, 5000, 'A to start the call’s transcription');
      const signedPost = (path: string, params: Record<string, string>) => postCallback(a, path, params, { to: bUrl });
      const card = await signedPost('/twilio/transcription', {
        AccountSid: a.config.twilio.accountSid,
        CallSid: call.sid,
        TranscriptionSid: transcriptionSid,
        TranscriptionEvent: 'transcription-content',
        TranscriptionData: JSON.stringify({ transcript: 'my card number is 4111 1111 1111 1111', confidence: 0.9 }),
        Final: 'true',
        Track: 'inbound_track',
        SequenceId: '1000',
      });
      expect(card.status).toBe(204);
      await eventually(() => call.twiml.includes('<Pay action='), 5000, 'A to send the caller to <Pay>');
      // The pause is done once Twilio has answered it (a caller takes far longer at the <Pay> than that).
      await a.service.monitor.settle();
      expect(a.service.monitor.session(call.sid)?.state).toBe('paused');
      const action = /<Pay action="([^"]+)"/.exec(call.twiml)![1]!.replace(/&amp;/g, '&');
      const path = action.slice(a.config.publicUrl.length);
      const done = await signedPost(path, { AccountSid: a.config.twilio.accountSid, CallSid: call.sid, CallStatus: 'in-progress', Result: 'success', PaymentConfirmationCode: 'ch_0123456789ab' });
      expect(done.status).toBe(200);
      // A takes the call back: its stream is started again, and it listens.
      expect(await done.text()).toContain('<Stream');
      expect(a.service.monitor.session(call.sid)?.state).toBe('monitoring');
      expect(a.service.monitor.session(call.sid)?.gate.isOpen).toBe(true);
      expect(b3.monitor.session(call.sid)).toBeUndefined();
    } finally {
      await b3.close();
    }
  }, 30_000);

  it('notices an instance whose heartbeat stopped within INSTANCE_TTL_SECONDS, and ends the calls it left open on record', async () => {
    const ttlChannel = `takeover:test:${randomBytes(4).toString('hex')}`;
    const busA = await RedisBus.connect({ url: redisUrl, channel: ttlChannel, holder: 'ttl-a' });
    const dying = await startLocalStack({ speed: 1, env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local', INSTANCE_ID: 'ttl-a' }, parts: { bus: busA } });
    const watcher = await buildService(
      loadConfig({ LOG_LEVEL: 'silent', PORT: '0', PUBLIC_URL: dying.config.publicUrl, TWILIO_ACCOUNT_SID: dying.config.twilio.accountSid, TWILIO_AUTH_TOKEN: dying.config.twilio.authToken, TWILIO_API_BASE_URL: dying.config.twilio.apiBaseUrl, INSTANCE_ID: 'ttl-b', INSTANCE_TTL_SECONDS: '3' }),
      { store: dying.service.store, bus: await RedisBus.connect({ url: redisUrl, channel: ttlChannel, holder: 'ttl-b' }) },
    );
    try {
      const call = dying.emulator.placeCall({ ...quiet, name: 'quiet-instance-dies' });
      await eventually(async () => (await dying.service.store.getCall(call.sid))?.instanceId === 'ttl-a', 5000, 'the call on record under A');
      // A stops beating, as a killed process does (its Redis connection goes; nothing of it is closed politely).
      const silentFrom = Date.now();
      await busA.close();
      const record = await eventually(async () => {
        const r = await dying.service.store.getCall(call.sid);
        return r?.endedAt !== undefined ? r : undefined;
      }, 10_000, 'B to end the dead instance’s call on record');
      const noticedMs = Date.now() - silentFrom;
      expect(record.status).toBe('ended');
      expect(noticedMs).toBeLessThan(3000 + 3000);
      // The record and its audit entry are two writes: wait for the entry too.
      const ended = await eventually(async () => (await dying.service.store.audit(call.sid)).find((e) => e.kind === 'call' && e.data.event === 'ended'), 5000, 'the end in the audit trail');
      expect(ended.data).toMatchObject({ why: 'its instance stopped sending heartbeats before the call ended', heldBy: 'ttl-a' });
      console.info(`instance TTL 3 s: the dead instance's call ended on record ${noticedMs} ms after it went silent`);
    } finally {
      await watcher.close();
      await dying.close().catch(() => undefined);
    }
  }, 30_000);

  it('answers 503 "cannot be reached", not 404 "it has ended", when Redis is down, and acts once it is back', async () => {
    a ??= await startLocalStack({ speed: 1, env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' }, parts: { bus: await RedisBus.connect({ url: redisUrl, channel }) } });
    // Instance C reaches Redis through a proxy of this test's own, which the test cuts: the shared server stays up.
    const redis = new URL(redisUrl);
    const proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    const storeC = new MemoryStore();
    const { token } = await issueToken(storeC, { name: 'sam', role: 'supervisor' });
    const c = await buildService(loadConfig({ LOG_LEVEL: 'silent', PORT: '0', PUBLIC_URL: a.config.publicUrl, TWILIO_ACCOUNT_SID: a.config.twilio.accountSid, TWILIO_AUTH_TOKEN: a.config.twilio.authToken, TWILIO_API_BASE_URL: a.config.twilio.apiBaseUrl }), {
      store: storeC,
      bus: await RedisBus.connect({ url: `redis://127.0.0.1:${proxy.port}`, channel }),
    });
    try {
      const cUrl = await c.app.listen({ port: 0, host: '127.0.0.1' });
      const takeover = () =>
        fetch(`${cUrl}/api/calls/${call.sid}/takeover`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ queue: 'escalations' }),
        });
      const call = a.emulator.placeCall({ ...quiet, name: 'quiet-during-outage' });
      await eventually(() => a.service.monitor.session(call.sid), 5000, 'A to hold the call');

      await proxy.cut();
      const refused = await takeover();
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      const { error } = (await refused.json()) as { error: string };
      // Why Redis cannot be asked depends on how far ioredis got when the connection went: its state, or its retries
      // running out on the publish. Either way: nothing was done, and the answer says so.
      expect(error).toMatch(new RegExp(`^the instance holding call ${call.sid} cannot be reached \\((the connection to Redis is \\w+|could not publish to Redis \\(.+\\))\\); nothing was done: check Redis \\(REDIS_URL\\) and retry$`));
      expect(error).not.toMatch(/ended/);
      expect(a.service.monitor.session(call.sid)?.state).toBe('monitoring');
      expect(call.events.some((e) => e.kind === 'rest' && e.resource === 'Calls')).toBe(false);

      // Redis is back: the same request, retried as the answer says, reaches A and is done.
      await proxy.restore();
      const done = await eventually(async () => {
        const r = await takeover();
        return r.status === 503 ? undefined : r;
      }, 10_000, 'C to reach Redis again');
      expect(done.status).toBe(200);
      expect(await done.json()).toMatchObject({ result: 'done', detail: 'handed off: queue escalations' });
      expect(a.service.monitor.session(call.sid)?.state).toBe('handed_off');
    } finally {
      await c.close();
      await proxy.close();
    }
  }, 30_000);

  it('answers 503, not 404, when the instance holding the call has lost Redis (it is alive, and cannot be asked)', async () => {
    const holderChannel = `takeover:test:${randomBytes(4).toString('hex')}`;
    const redis = new URL(redisUrl);
    const proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    const holder = await startLocalStack({
      speed: 1,
      env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' },
      parts: { bus: await RedisBus.connect({ url: `redis://127.0.0.1:${proxy.port}`, channel: holderChannel }) },
    });
    const storeQ = new MemoryStore();
    const { token } = await issueToken(storeQ, { name: 'sam', role: 'supervisor' });
    const q = await buildService(loadConfig({ LOG_LEVEL: 'silent', PORT: '0', PUBLIC_URL: holder.config.publicUrl, TWILIO_ACCOUNT_SID: holder.config.twilio.accountSid, TWILIO_AUTH_TOKEN: holder.config.twilio.authToken, TWILIO_API_BASE_URL: holder.config.twilio.apiBaseUrl }), {
      store: storeQ,
      bus: await RedisBus.connect({ url: redisUrl, channel: holderChannel }),
    });
    try {
      const qUrl = await q.app.listen({ port: 0, host: '127.0.0.1' });
      const call = holder.emulator.placeCall({ ...quiet, name: 'quiet-holder-cut-off' });
      await eventually(() => holder.service.monitor.session(call.sid), 5000, 'the holder to hold the call');

      await proxy.cut();
      const refused = await fetch(`${qUrl}/api/calls/${call.sid}/end`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { error: string }).error).toMatch(
        /cannot be reached \(1 of 1 other instances did not answer within 5000 ms\); the action may still be running there: look at the call \(GET \/api\/calls\/:callSid\) before you retry$/,
      );
      expect(holder.service.monitor.session(call.sid)?.state).toBe('monitoring');
    } finally {
      await q.close();
      await holder.close();
      await proxy.close();
    }
  }, 30_000);
});
