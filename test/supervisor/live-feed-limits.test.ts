// Live-event streams are capped per token and in total: one viewer token opening 10,000 of them is refused
// beyond its cap with 429, and a caller who asks for a person meanwhile is handed off as fast as ever.
import { get, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { LiveEvent } from '../../src/bus/types.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import { eventually } from '../support/twilio-client.js';
import { startApiStack, type ApiStack } from './api-stack.js';

let s: ApiStack | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

interface Feed {
  status: number;
  /** The error of a refused stream. */
  error?: string;
  retryAfter?: string;
  events: LiveEvent[];
  ended: boolean;
  close(): void;
}

/** Opens GET /api/events on a connection of its own; a refused one is read to its end and closed. */
function openFeed(url: string, token: string): Promise<Feed> {
  return new Promise((resolve, reject) => {
    const req = get(`${url}/api/events`, { agent: false, headers: { authorization: `Bearer ${token}` } }, (res: IncomingMessage) => {
      res.setEncoding('utf8');
      let text = '';
      const feed: Feed = { status: res.statusCode!, events: [], ended: false, close: () => res.destroy() };
      res.on('close', () => (feed.ended = true));
      if (res.statusCode !== 200) {
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          feed.error = (JSON.parse(text) as { error: string }).error;
          feed.retryAfter = res.headers['retry-after'];
          res.destroy();
          resolve(feed);
        });
        return;
      }
      res.on('data', (chunk: string) => {
        text += chunk;
        let end;
        while ((end = text.indexOf('\n\n')) !== -1) {
          for (const line of text.slice(0, end).split('\n')) if (line.startsWith('data: ')) feed.events.push(JSON.parse(line.slice(6)) as LiveEvent);
          text = text.slice(end + 2);
        }
      });
      resolve(feed);
    });
    req.on('error', reject);
  });
}

const metric = async (url: string, line: RegExp) => Number(line.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? NaN);

describe('live-event streams', () => {
  it('refuses 10,000 streams from one viewer token beyond its cap while callers who ask for a person are handed off within 10 ms', async () => {
    s = await startApiStack({ speed: 4 });
    const stack = s;
    const { viewer } = stack.tokens;
    const asksForHuman = (await loadScenarios()).find((sc) => sc.name === 'asks-for-human')!;

    type Call = ReturnType<typeof stack.emulator.placeCall>;
    const calls: Call[] = [];
    const handedOff = (call: Call) => call.events.some((e) => e.kind === 'rest' && e.resource === 'Calls');
    // Five callers, one after another while the streams are being opened.
    const placeAt = new Set([200, 2_000, 4_000, 6_000, 8_000]);
    // The process's first handoff loads and compiles its code path (about 20 ms here, flood or not): one before the flood.
    const first = stack.emulator.placeCall({ ...asksForHuman, name: 'warm-up' });
    await eventually(() => handedOff(first), 10_000, 'the first call to be handed off');
    const open: Feed[] = [];
    const refused = new Map<string, number>();
    let attempts = 0;
    // 10,000 attempts from the test process, 50 at a time, and on until every call has been handed off.
    const opener = async () => {
      while (attempts < 10_000 || calls.length < placeAt.size || !calls.every(handedOff)) {
        attempts++;
        if (placeAt.has(attempts)) calls.push(stack.emulator.placeCall({ ...asksForHuman, name: `asks-for-human-${attempts}` }));
        const feed = await openFeed(stack.serviceUrl, viewer);
        if (feed.status === 200) open.push(feed);
        else refused.set(`${feed.status} ${feed.error}`, (refused.get(`${feed.status} ${feed.error}`) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 50 }, opener));

    // Ten streams, the cap, were served; every other attempt was refused with 429 saying which limit and what to do.
    expect(open).toHaveLength(10);
    expect([...refused.keys()]).toEqual([
      '429 token "viewer-sam" already has 10 live-event streams open on this instance (LIVE_FEEDS_PER_TOKEN=10): close one (another tab or client using this token), or give each client its own token',
    ]);
    expect(refused.get([...refused.keys()][0]!)).toBe(attempts - 10);
    expect(attempts).toBeGreaterThanOrEqual(10_000);

    // Each handoff: from the transcript reaching takeover to the REST request leaving for Twilio (audit trail).
    await stack.service.monitor.settle();
    const ms: number[] = [];
    for (const call of calls) {
      const outcome = (await stack.store.audit(call.sid)).find((e) => e.kind === 'outcome' && e.data.result === 'done')!;
      const { transcriptAt, requestSentAt } = outcome.data.timings as { transcriptAt: number; requestSentAt: number };
      ms.push(Math.round((requestSentAt - transcriptAt) * 100) / 100);
    }
    console.log(`live-feed flood: ${attempts} attempts, ${open.length} served; transcript → REST request (ms): ${ms.join(', ')}`);
    // Typically about 1 ms. On this 2-core VM shared with other jobs (load average 9-11) a decision now and then
    // loses its core for 5-17 ms whatever the service does, hence the median; the old code, with every stream
    // served, took 35-310 ms (median 52 ms) with 9,000 open.
    expect([...ms].sort((x, y) => x - y)[2]).toBeLessThan(10);
    for (const m of ms) expect(m).toBeLessThan(50);
    const call = calls[0]!;

    // The streams that were served saw the call, and the metrics say what happened.
    await eventually(() => open.every((f) => f.events.some((e) => e.type === 'decision' && e.callSid === call!.sid)), 5000, 'every open stream to see the decision');
    expect(await metric(stack.serviceUrl, /^takeover_live_feeds (\d+)$/m)).toBe(10);
    expect(await metric(stack.serviceUrl, /^takeover_live_feeds_refused_total\{limit="per_token"\} (\d+)$/m)).toBe(attempts - 10);

    // A stream's slot is free again once it closes.
    open.pop()!.close();
    const again = await eventually(async () => {
      const feed = await openFeed(stack.serviceUrl, viewer);
      if (feed.status !== 200) return undefined;
      return feed;
    }, 5000, 'a slot to be free again');
    expect(again.status).toBe(200);
    for (const feed of [...open, again]) feed.close();
  }, 120_000);

  it('refuses a stream beyond LIVE_FEEDS_MAX with 503, whatever the token, until one closes', async () => {
    s = await startApiStack({ env: { LIVE_FEEDS_MAX: '3', LIVE_FEEDS_PER_TOKEN: '2' } });
    const { viewer, supervisor, admin } = s.tokens;
    const first = [await openFeed(s.serviceUrl, viewer), await openFeed(s.serviceUrl, viewer), await openFeed(s.serviceUrl, supervisor)];
    expect(first.map((f) => f.status)).toEqual([200, 200, 200]);
    const third = await openFeed(s.serviceUrl, viewer);
    expect(third.status).toBe(429);
    expect(third.error).toMatch(/LIVE_FEEDS_PER_TOKEN=2/);
    const full = await openFeed(s.serviceUrl, admin);
    expect(full.status).toBe(503);
    expect(full.retryAfter).toBe('10');
    expect(full.error).toBe(
      'this instance already serves 3 live-event streams (LIVE_FEEDS_MAX=3): retry later, connect to another instance, or ask the operator to raise LIVE_FEEDS_MAX',
    );
    expect(await metric(s.serviceUrl, /^takeover_live_feeds_refused_total\{limit="total"\} (\d+)$/m)).toBe(1);

    first[0]!.close();
    const url = s.serviceUrl;
    const admitted = await eventually(async () => {
      const feed = await openFeed(url, admin);
      return feed.status === 200 ? feed : undefined;
    }, 5000, 'the closed stream’s slot to be free');
    for (const feed of [...first, admitted]) feed.close();
  });
});
