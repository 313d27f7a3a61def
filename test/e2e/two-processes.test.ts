// The scale-out set-up an operator runs: two service processes (instances A and B, each its own port and
// INSTANCE_ID) on one PostgreSQL (a fresh schema) and one Redis, behind a load balancer that here sends every Media
// Stream to A and every HTTP request (Twilio's transcription callbacks, the supervisor API) to B. Each process calls
// Twilio with an API key of its own, so the emulator's records say which instance made each request.
// What a user notices: a caller asking for a person is handed off once, by A; a caller reading a card has A's stream
// stopped and no digit stored or logged; a rule an admin saves through B acts on A's next caller turn within 1 s; and
// when A is killed, B notices within INSTANCE_TTL_SECONDS and takes care of A's open calls. No fixed sleeps.
import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EmulatedCall } from '../../src/simulator/call.js';
import { observe } from '../../src/simulator/observe.js';
import { loadScenarios, type Scenario } from '../../src/simulator/scenario.js';
import { createStore, type SqlStore } from '../../src/store/index.js';
import { issueToken } from '../../src/supervisor/tokens.js';
import { dropSchemas, IN_CI, newSchema, PG_URL, postgresAnswers } from '../store/postgres.js';
import { redisReachable, redisUrl } from '../support/redis.js';
import { eventually, quietCall, scriptedCall, sid } from '../support/twilio-client.js';
import { freePort, RestartRig, type ServiceProcess } from './restart-process.js';

const pgReachable = await postgresAnswers();
const TTL_SECONDS = 3;
/** Words of the card and of what follows it in reads-card-number, as spoken or as digits. */
const CARD = /four one one one|one one one one|twelve twenty eight|three four five|(?<![0-9a-f])4111[ -]?1111/i;

interface Balanced {
  kind: 'stream' | 'http';
  to: 'A' | 'B';
  path: string;
}

/** A load balancer on `port`: WebSocket upgrades (Media Streams) go to `streams`, other requests to `requests`. */
async function startBalancer(port: number, streams: number, requests: number) {
  const log: Balanced[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    log.push({ kind: 'http', to: 'B', path: req.url ?? '' });
    const upstream = request({ host: '127.0.0.1', port: requests, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.headersSent ? res.destroy() : res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('upgrade', (req, client: Socket, head: Buffer) => {
    log.push({ kind: 'stream', to: 'A', path: req.url ?? '' });
    const upstream = connect(streams, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (client.destroy(), upstream.destroy()));
    }
    const headers = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    upstream.write(`${req.method} ${req.url} HTTP/${req.httpVersion}\r\n${headers.join('\r\n')}\r\n\r\n`);
    upstream.write(head);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    log,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The JSON log lines of `p` with message `msg`. */
function logged(p: ServiceProcess, msg: string): ({ time: number } & Record<string, unknown>)[] {
  return p.output
    .join('')
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as { time: number } & Record<string, unknown>);
}

/** A caller who keeps saying a word no rule knows yet, a turn every ~250 ms of real time at speed 2. */
const pineapple: Scenario = scriptedCall('says-pineapple', 'a caller who keeps saying a word no rule knows yet', [
  { speaker: 'agent', text: 'Thanks for calling, how can I help?', gapMs: 200 },
  ...Array.from({ length: 80 }, () => ({ speaker: 'caller' as const, text: 'Pineapple.', gapMs: 150, durationMs: 350 })),
]);

describe.skipIf(!redisReachable || (!pgReachable && !IN_CI))('two service processes, one PostgreSQL, one Redis', () => {
  let rig: RestartRig | undefined;
  let balancer: Awaited<ReturnType<typeof startBalancer>> | undefined;
  let store: SqlStore | undefined;
  afterAll(async () => {
    await rig?.close();
    await balancer?.close();
    await store?.close();
    if (pgReachable) await dropSchemas();
  });

  it('streams on A, callbacks on B: one handoff from A, a pause that stops A’s stream, a rule saved on B acting on A within 1 s, A’s death noticed by B within the TTL', async () => {
    const schema = newSchema();
    // The test's own connection creates the schema and its tables; the services find them migrated.
    store = await createStore({ databaseUrl: PG_URL, sqlitePath: 'unused', postgresSchema: schema });
    const databaseUrl = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const keys = { A: { sid: sid('SK'), secret: sid('') }, B: { sid: sid('SK'), secret: sid('') } };
    rig = await new RestartRig({
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_CHANNEL: `takeover:test:${randomBytes(4).toString('hex')}`,
      INSTANCE_TTL_SECONDS: String(TTL_SECONDS),
      // Only the announcement on Redis can bring the rule change to A in time, not the store poll.
      RULES_POLL_SECONDS: '3600',
    }).start(2, { apiKeys: [keys.A, keys.B] });
    const [portA, portB] = [await freePort(), await freePort()];
    // The emulator reaches the service at the rig's port: the balancer listens there.
    balancer = await startBalancer(rig.port, portA, portB);
    const env = (name: 'A' | 'B', port: number) => ({
      PORT: String(port),
      INSTANCE_ID: `two-${name.toLowerCase()}`,
      // Each instance keeps the audit entries the database cannot take yet in a folder of its own.
      AUDIT_QUEUE_DIR: join(rig!.dir, `audit-queue-${name}`),
      TWILIO_API_KEY_SID: keys[name].sid,
      TWILIO_API_KEY_SECRET: keys[name].secret,
    });
    const [a, b] = await Promise.all([rig.spawnService(undefined, env('A', portA)), rig.spawnService(undefined, env('B', portB))]);
    const { token } = await issueToken(store, { name: 'ada', role: 'admin' });

    const scenarios = await loadScenarios();
    const named = (n: string) => scenarios.find((s) => s.name === n)!;
    const emulator = rig.emulator;
    const human = emulator.placeCall(named('asks-for-human'));
    const card = emulator.placeCall(named('reads-card-number'));
    const fruit = emulator.placeCall(pineapple);
    const quiet = emulator.placeCall(quietCall('quiet-on-a', 'a caller still on the line when A is killed'));
    const rest = (call: EmulatedCall) => call.events.filter((e) => e.kind === 'rest');
    const handoffs = (call: EmulatedCall) => rest(call).filter((e) => e.resource === 'Calls' && /<Enqueue|<Dial/.test(e.form.Twiml ?? ''));

    // A rule saved through B, once A has heard the caller say the word three times and done nothing.
    const heard = () => fruit.events.filter((e) => e.kind === 'callback' && e.event === 'transcription-content' && e.final && e.status === 204).length;
    await eventually(() => heard() >= 3, 15_000, 'three caller turns heard');
    expect(rest(fruit)).toEqual([]);
    const asked = Date.now();
    const saved = await fetch(`${b.url}/api/rules`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'pineapple', when: { type: 'phrase', phrases: ['pineapple'], track: 'inbound' }, action: { type: 'handoff', to: { queue: 'fruit' } }, cooldownSeconds: 0 }),
    });
    expect(saved.status).toBe(201);
    const { version } = (await saved.json()) as { version: number };
    const fruitHandoff = await eventually(() => handoffs(fruit)[0], 10_000, 'A to hand the caller off by the new rule');
    const changeToAction = fruitHandoff.at - asked;
    expect(fruitHandoff.form.Twiml).toMatch(/<Enqueue[^>]*>fruit<\/Enqueue>/);
    expect(fruitHandoff.user).toBe(keys.A.sid);
    // When A ran the new set, by its own log (same machine, same clock).
    const running = await eventually(() => logged(a, 'rules changed by another instance are running now').find((l) => l.version === version)?.time, 5000, 'A to log the new rule set');
    expect(running - asked).toBeLessThan(1000);
    // It acted on the caller's next turn: no later than the first one posted once A ran it.
    const trigger = fruit.transcriptPosts.filter((p) => p.final && p.at <= fruitHandoff.at).at(-1)!;
    const next = fruit.transcriptPosts.find((p) => p.final && p.at >= running)!;
    expect(trigger.line).toBeLessThanOrEqual(next.line);
    expect(observe(fruit)).toMatchObject({ triggerLine: trigger.line, triggerFinal: true });
    expect(changeToAction).toBeLessThan(1000);

    // The caller asking for a person: one handoff, asked of Twilio by A.
    await eventually(() => handoffs(human).length > 0, 15_000, 'the caller asking for a person to be handed off');
    await eventually(() => card.events.some((e) => e.kind === 'stream-stop'), 15_000, 'the card reader’s stream to stop');
    await eventually(async () => (await store!.getCall(quiet.sid))?.instanceId === 'two-a', 10_000, 'the quiet call on record under A');
    await eventually(async () => (await store!.getCall(card.sid))?.status === 'paused', 10_000, 'the card call paused on record');
    expect(observe(human)).toMatchObject({ observed: ['handoff'], triggerLine: named('asks-for-human').expect.triggerLine });
    expect(handoffs(human).map((e) => e.user)).toEqual([keys.A.sid]);

    // The card: A stopped the stream it held (by REST, with its key) and it was not opened again.
    const streamStops = rest(card).filter((e) => e.resource === 'Streams/{Sid}' && e.form.Status === 'stopped');
    expect(streamStops.map((e) => e.user)).toEqual([keys.A.sid]);
    expect(card.events.filter((e) => e.kind === 'stream-open')).toHaveLength(1);
    expect(card.events.find((e) => e.kind === 'stream-stop')).toMatchObject({ why: 'stopped through the REST API' });
    expect(observe(card).observed).toEqual(['pause']);

    // Every stream went to A and every callback to B, and all of them were taken; B asked nothing of Twilio.
    const calls = [human, card, fruit, quiet];
    expect(balancer.log.filter((r) => r.kind === 'stream').length).toBe(calls.flatMap((c) => c.events.filter((e) => e.kind === 'stream-open')).length);
    expect(balancer.log.filter((r) => r.kind === 'http' && r.path === '/twilio/transcription').length).toBeGreaterThan(10);
    for (const call of calls) {
      expect(call.events.filter((e) => e.kind === 'callback' && e.status !== 204 && e.status !== 200), call.scenario.name).toEqual([]);
      expect((await store.getCall(call.sid))?.instanceId, call.scenario.name).toBe('two-a');
      const lifecycle = (await store.audit(call.sid)).filter((e) => e.kind === 'call').map((e) => e.data.event);
      // Started once, under A, and never moved: B made no session of its own for any of them.
      expect(lifecycle.filter((e) => e !== 'ended'), call.scenario.name).toEqual(['started']);
    }
    expect(emulator.restLog().filter((e) => e.user !== keys.A.sid)).toEqual([]);
    const decisions = await eventually(async () => {
      const ruleIds = (await store!.audit(fruit.sid)).filter((e) => e.kind === 'decision').map((e) => e.data.ruleId);
      return ruleIds.includes('pineapple') ? ruleIds : undefined;
    }, 5000, 'the new rule’s decision in the audit trail');
    expect(decisions).toContain('pineapple');

    // A is killed: B notices within the TTL, ends A's open call on record and takes over its pause.
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await a.exited;
    const ended = await eventually(async () => {
      const r = await store!.getCall(quiet.sid);
      return r?.endedAt !== undefined ? r : undefined;
    }, 10_000, 'B to end the call A left open');
    const noticedMs = Date.now() - killedAt;
    expect(ended.status).toBe('ended');
    // A's last heartbeat was at most 2 s before the kill and B looks every TTL/3 (1 s): TTL + 1 s at most, plus 1 s
    // for a loaded machine.
    expect(noticedMs).toBeLessThan(TTL_SECONDS * 1000 + 2000);
    // The record and its audit entry are two writes (the audit goes through the durable write queue): wait for both.
    const endedEntry = await eventually(async () => (await store!.audit(quiet.sid)).find((e) => e.kind === 'call' && e.data.event === 'ended'), 5000, 'the end of the quiet call in the audit trail');
    expect(endedEntry.data).toMatchObject({
      why: 'its instance stopped sending heartbeats before the call ended',
      heldBy: 'two-a',
    });
    await eventually(async () => (await store!.getCall(card.sid))?.instanceId === 'two-b', 5000, 'B to hold the paused call');
    expect(b.output.join('')).toMatch(/instance two-a stopped sending heartbeats/);

    // Nothing of the card was stored or logged, on either instance.
    for (const call of calls) {
      const text = (await store.transcript(call.sid)).map((l) => l.text).join('\n');
      expect(text, call.scenario.name).not.toMatch(CARD);
      expect(JSON.stringify(await store.audit(call.sid)), call.scenario.name).not.toMatch(CARD);
    }
    expect((await store.transcript(card.sid)).map((l) => l.text).join('\n')).toContain('pay the balance');
    for (const p of [a, b] satisfies ServiceProcess[]) expect(p.output.join('')).not.toMatch(CARD);
    console.info(`two processes: rule saved on B running on A after ${running - asked} ms, A's handoff by it after ${changeToAction} ms; A's death noticed by B after ${noticedMs} ms (TTL ${TTL_SECONDS} s)`);
  }, 60_000);
});
