// GET /metrics: open by default (what a Prometheus scrape expects), behind a bearer token when METRICS_TOKEN is set.
import { afterEach, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../src/simulator/local-stack.js';

let stack: LocalStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

it('serves Prometheus metrics to anyone when no METRICS_TOKEN is set', async () => {
  stack = await startLocalStack({ env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' } });
  const res = await fetch(`${stack.serviceUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(await res.text()).toContain('takeover_');
});

it('asks for the bearer token when METRICS_TOKEN is set, and refuses a wrong one', async () => {
  const token = 'metrics-' + 'x'.repeat(24);
  stack = await startLocalStack({ env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local', METRICS_TOKEN: token } });
  const url = `${stack.serviceUrl}/metrics`;
  const missing = await fetch(url);
  expect(missing.status).toBe(401);
  expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
  expect(await missing.text()).not.toContain('takeover_');
  expect((await fetch(url, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
  expect((await fetch(url, { headers: { authorization: `Basic ${token}` } })).status).toBe(401);
  const ok = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  expect(ok.status).toBe(200);
  expect(await ok.text()).toContain('takeover_');
});

it('refuses a METRICS_TOKEN too short to be a secret, naming the variable and not echoing it', async () => {
  await expect(startLocalStack({ env: { LOG_LEVEL: 'silent', METRICS_TOKEN: 'short' } })).rejects.toThrow(/METRICS_TOKEN \(value not shown\): must be at least 16/);
});
