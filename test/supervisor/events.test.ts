// GET /api/events: the bus's live events as Server-Sent Events, redacted text only; a client that goes
// away is unsubscribed, a revoked token's stream ends, and an open stream does not hold up the service's shutdown.
import Fastify from 'fastify';
import { get, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalBus } from '../../src/bus/local.js';
import type { LiveEvent } from '../../src/bus/types.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { MemoryStore } from '../../src/store/memory.js';
import { guard } from '../../src/supervisor/auth.js';
import { speakJson } from '../../src/supervisor/http.js';
import { eventRoutes } from '../../src/supervisor/routes/events.js';
import { issueToken } from '../../src/supervisor/tokens.js';
import { eventually } from '../support/twilio-client.js';

/** A bus that counts its subscribers, so that a test can see a stream let go of its subscription. */
class CountingBus extends LocalBus {
  subscribers = 0;
  override subscribe(listener: (event: LiveEvent) => void): () => void {
    this.subscribers++;
    const off = super.subscribe(listener);
    let on = true;
    return () => {
      if (on) this.subscribers--;
      on = false;
      off();
    };
  }
}

let stack: LocalStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function start() {
  const store = new MemoryStore();
  const bus = new CountingBus();
  const { token, id: tokenId } = await issueToken(store, { name: 'watcher', role: 'viewer' });
  const { token: admin } = await issueToken(store, { name: 'boss', role: 'admin' });
  stack = await startLocalStack({ speed: 10, env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' }, parts: { store, bus } });
  return { stack, bus, store, token, tokenId, admin };
}

/** An event a test publishes itself, told apart by its reason. */
const probe = (reason: string): LiveEvent => ({ type: 'gate', callSid: `CA${'0'.repeat(32)}`, open: true, reason, by: 'test', at: Date.now() });
const probesIn = (events: LiveEvent[]) => events.flatMap((e) => (e.type === 'gate' && e.by === 'test' ? [e.reason] : []));
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A Server-Sent Events client on node:http (fetch's connection pool would open a spare connection after an
 * abort, which a closing server then waits for). `next(until)` reads events until `until` holds.
 */
async function openEvents(url: string, token?: string) {
  const events: LiveEvent[] = [];
  let buffer = '';
  let wake = () => {};
  let ended = false;
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = get(url, { headers: token ? { authorization: `Bearer ${token}` } : {} }, resolve);
    req.on('error', reject);
  });
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of block.split('\n')) if (line.startsWith('data: ')) events.push(JSON.parse(line.slice(6)) as LiveEvent);
    }
    wake();
  });
  res.on('close', () => {
    ended = true;
    wake();
  });
  return {
    status: res.statusCode,
    contentType: res.headers['content-type'],
    events,
    get ended() {
      return ended;
    },
    async next(until: (events: LiveEvent[]) => boolean, ms = 5000): Promise<LiveEvent[]> {
      const deadline = Date.now() + ms;
      while (!until(events)) {
        if (ended || Date.now() > deadline) throw new Error(`the event stream ${ended ? 'ended' : 'timed out'} before the expected events`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 50);
        });
      }
      return events;
    },
    close: () => res.destroy(),
  };
}

describe('live events', () => {
  it('streams a call as it happens, with the card number already redacted', async () => {
    const { stack, token } = await start();
    const feed = await openEvents(`${stack.serviceUrl}/api/events`, token);
    expect(feed.status).toBe(200);
    expect(feed.contentType).toMatch(/^text\/event-stream/);

    const scenario = (await loadScenarios()).find((s) => s.name === 'reads-card-number')!;
    const call = stack.emulator.placeCall(scenario);
    const events = await feed.next((evs) => evs.some((e) => e.type === 'gate' && !e.open));
    feed.close();

    const mine = events.filter((e) => e.callSid === call.sid);
    expect(mine.map((e) => e.type)).toEqual(expect.arrayContaining(['call', 'utterance', 'assessment', 'decision', 'gate']));
    const said = mine.filter((e): e is Extract<LiveEvent, { type: 'utterance' }> => e.type === 'utterance').map((e) => e.text);
    expect(said).toContain('I would like to pay the balance on my account.');
    for (const text of said) expect(text).not.toMatch(/\d{4,}/);
  });

  it('needs a token', async () => {
    const { stack } = await start();
    const feed = await openEvents(`${stack.serviceUrl}/api/events`);
    expect(feed.status).toBe(401);
    feed.close();
  });

  it('lets go of the bus when the client disconnects', async () => {
    const { stack, bus, token } = await start();
    const before = bus.subscribers;
    const feed = await openEvents(`${stack.serviceUrl}/api/events`, token);
    await eventually(() => bus.subscribers === before + 1, 2000, 'the stream to subscribe');
    feed.close();
    await eventually(() => bus.subscribers === before, 2000, 'the stream to unsubscribe');
  });

  it('does not hold up shutdown while a client is connected', async () => {
    const { stack: s, token } = await start();
    const feed = await openEvents(`${s.serviceUrl}/api/events`, token);
    const started = Date.now();
    await s.close();
    stack = undefined;
    expect(Date.now() - started).toBeLessThan(1000);
    await eventually(() => feed.ended, 1000, 'the stream to end');
  });
});

describe('a revoked token', () => {
  it('loses its stream as soon as an admin revokes it, and is sent nothing more', async () => {
    const { stack, bus, token, tokenId, admin } = await start();
    const before = bus.subscribers;
    const feed = await openEvents(`${stack.serviceUrl}/api/events`, token);
    expect(feed.status).toBe(200);
    await eventually(() => bus.subscribers === before + 1, 2000, 'the stream to subscribe');
    bus.publish(probe('before'));
    await feed.next((evs) => probesIn(evs).includes('before'));

    const revoked = await fetch(`${stack.serviceUrl}/api/tokens/${tokenId}`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } });
    expect(revoked.status).toBe(204);
    // Well before the 15 s heartbeat: the revocation itself ends the stream.
    await eventually(() => feed.ended, 1000, 'the stream to end');
    expect(bus.subscribers).toBe(before);

    bus.publish(probe('after'));
    await pause(100);
    expect(probesIn(feed.events)).toEqual(['before']);
    const again = await openEvents(`${stack.serviceUrl}/api/events`, token);
    expect(again.status).toBe(401);
    again.close();
  });

  it('loses its stream at the next heartbeat when revoked where this instance cannot see it (another instance, the CLI)', async () => {
    const store = new MemoryStore();
    const bus = new CountingBus();
    const { token, id } = await issueToken(store, { name: 'watcher', role: 'viewer' });
    // The events route alone, with a heartbeat of 50 ms: nothing on this instance revokes the token.
    const app = Fastify();
    await app.register(
      async (api) => {
        speakJson(api);
        await guard(api, { store });
        await api.register(eventRoutes, { bus, store, heartbeatMs: 50 });
      },
      { prefix: '/api' },
    );
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const feed = await openEvents(`${url}/api/events`, token);
      expect(feed.status).toBe(200);
      await eventually(() => bus.subscribers === 1, 2000, 'the stream to subscribe');

      // Heartbeats check the token again and keep a good one's stream, even while the store cannot answer.
      const find = store.findTokenByHash.bind(store);
      store.findTokenByHash = async () => {
        throw new Error('database unreachable');
      };
      await pause(250);
      store.findTokenByHash = find;
      await pause(150);
      expect(feed.ended).toBe(false);
      bus.publish(probe('before'));
      await feed.next((evs) => probesIn(evs).includes('before'));

      // As another instance's API or `npm run token -- revoke` would: straight in the shared store.
      await store.revokeToken(id, Date.now());
      await eventually(() => feed.ended, 2000, 'the stream to end at a heartbeat');
      expect(bus.subscribers).toBe(0);
      bus.publish(probe('after'));
      await pause(100);
      expect(probesIn(feed.events)).toEqual(['before']);
    } finally {
      await app.close();
    }
  });
});
