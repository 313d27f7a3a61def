// Under pressure the supervisor API refuses with 503 and says why, while Twilio's media stream and callbacks for
// live calls, /health and /metrics are still served.
import { afterAll, expect, it } from 'vitest';
import { loadScenarios } from '../../src/simulator/scenario.js';
import { eventually, openStream, send, sid, startFrames } from '../support/twilio-client.js';
import { startApiStack, type ApiStack } from './api-stack.js';

let s: ApiStack;
afterAll(async () => {
  await s?.close();
});

it('answers 503 on /api over PRESSURE_MAX_HEAP_USED_MB, and still serves live calls, /health and /metrics', async () => {
  // A heap limit of 1 MB: the process is always "under pressure" from the first sample (1 s) on.
  s = await startApiStack({ env: { PRESSURE_MAX_HEAP_USED_MB: '1' } });
  const refused = await eventually(async () => {
    const r = await s.api('GET', '/api/me', { as: 'viewer' });
    return r.status === 503 ? r : undefined;
  }, 5000, 'the API to be under pressure');
  expect(refused.headers.get('retry-after')).toBe('10');
  expect(refused.body.error).toMatch(/^the service is under pressure \(\d+ MB of heap used, over PRESSURE_MAX_HEAP_USED_MB\): live calls are served first; retry in 10 s$/);
  expect((await s.api('GET', '/api/events', { as: 'viewer' })).status).toBe(503);

  expect((await fetch(`${s.serviceUrl}/health`)).status).toBe(200);
  const metrics = await (await fetch(`${s.serviceUrl}/metrics`)).text();
  expect(metrics).toMatch(/^takeover_pressure_refused_total\{type="heapUsedBytes"\} [1-9]\d*$/m);

  const ws = await openStream(s);
  const callSid = sid('CA');
  send(ws, startFrames(s, callSid, sid('MZ')));
  await eventually(() => s.service.monitor.session(callSid), 5000, 'the stream to start monitoring its call');
  ws.close();
  const call = s.emulator.placeCall((await loadScenarios()).find((sc) => sc.name === 'asks-for-human')!);
  await eventually(() => call.events.some((e) => e.kind === 'rest' && e.resource === 'Calls'), 20_000, 'the caller to be handed off');
  // The emulator's transcription callbacks were all taken (204), none refused.
  const callbacks = call.events.flatMap((e) => (e.kind === 'callback' ? [e.status] : []));
  expect(callbacks.length).toBeGreaterThan(0);
  expect(callbacks.every((status) => status < 300)).toBe(true);
  expect((await s.api('GET', '/api/me', { as: 'viewer' })).status).toBe(503);
}, 30_000);
