// Half-open connections (a WebSocket upgrade that never finishes, a socket that never says anything) are closed
// after the handshake timeout and never held beyond PENDING_CONNECTIONS_MAX, while real Twilio streams connect.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadScenarios } from '../src/simulator/scenario.js';
import { startLocalStack, type LocalStack } from '../src/simulator/local-stack.js';
import { eventually, openStream, send, sid, startFrames } from './support/twilio-client.js';

let stack: LocalStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** The start of a WebSocket upgrade to /media-stream, without the blank line that would end it. */
const HALF_UPGRADE = 'GET /media-stream HTTP/1.1\r\nHost: takeover\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n';

/** Opens a socket that sends half an upgrade (or nothing) and resolves when the server closes it, with how long that took. */
function halfOpen(port: number, say: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket: Socket = connect(port, '127.0.0.1', () => socket.write(say));
    socket.on('error', () => undefined); // a reset from the server is a close as good as any
    socket.on('close', () => resolve(performance.now() - started));
    socket.setTimeout(30_000, () => {
      socket.destroy();
      reject(new Error('the server kept a half-open socket for 30 s'));
    });
  });
}

const counter = async (url: string, name: string) =>
  Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);

describe('half-open connections', () => {
  it('closes a socket that never finishes its upgrade after the handshake timeout', async () => {
    stack = await startLocalStack({ env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local', HANDSHAKE_TIMEOUT_MS: '300' } });
    const port = Number(new URL(stack.serviceUrl).port);
    const [upgrade, silent] = await Promise.all([halfOpen(port, HALF_UPGRADE), halfOpen(port, '')]);
    for (const ms of [upgrade, silent]) {
      expect(ms).toBeGreaterThanOrEqual(290);
      expect(ms).toBeLessThan(2000);
    }
    expect(await counter(stack.serviceUrl, 'takeover_connections_closed_total{reason="handshake_timeout"}')).toBe(2);
  });

  it('holds no more than the bound while 20,000 half-open upgrades arrive, and real streams still connect', async () => {
    stack = await startLocalStack({
      speed: 4,
      env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local', PENDING_CONNECTIONS_MAX: '200', HANDSHAKE_TIMEOUT_MS: '2000' },
    });
    const s = stack;
    const port = Number(new URL(s.serviceUrl).port);
    const server = s.service.app.server;
    let most = 0;
    const sampler = setInterval(() => server.getConnections((_err, n) => (most = Math.max(most, n))), 5);

    // 20,000 sockets, 1,000 at a time from this process, each sending half an upgrade and waiting to be closed.
    let opened = 0;
    const flood = async () => {
      while (opened < 20_000) {
        opened++;
        await halfOpen(port, HALF_UPGRADE);
      }
    };
    const flooding = Promise.all(Array.from({ length: 1000 }, flood));

    // Meanwhile: a signed Media Stream from Twilio connects and starts, and an emulated caller asking for a person
    // is handed off.
    await eventually(() => opened > 5000, 30_000, 'the flood to be under way');
    const ws = await openStream(s);
    const callSid = sid('CA');
    send(ws, startFrames(s, callSid, sid('MZ')));
    await eventually(() => s.service.monitor.session(callSid), 5000, 'the stream to start monitoring its call');
    const scenario = (await loadScenarios()).find((sc) => sc.name === 'asks-for-human')!;
    const call = s.emulator.placeCall(scenario);
    await eventually(() => call.events.some((e) => e.kind === 'rest' && e.resource === 'Calls'), 30_000, 'the caller to be handed off');
    await flooding;
    clearInterval(sampler);
    ws.close();

    // Every one was closed by the server; never more sockets than twice the bound, one accept batch (the listen
    // backlog, 511) and the few real ones.
    expect(opened).toBe(20_000);
    expect(most).toBeLessThanOrEqual(2 * 200 + 511 + 20);
    const evicted = await counter(s.serviceUrl, 'takeover_connections_closed_total{reason="evicted"}');
    const timedOut = await counter(s.serviceUrl, 'takeover_connections_closed_total{reason="handshake_timeout"}');
    expect(evicted + timedOut).toBeGreaterThanOrEqual(20_000);
    console.log(`half-open flood: 20,000 sockets, at most ${most} open on the server at once; ${evicted} evicted, ${timedOut} timed out`);
  }, 120_000);
});
