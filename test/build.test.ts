// The production build: `npm run build` compiles src/ to dist/, and the compiled service (`node dist/server.js`, what
// `npm start` runs, no TypeScript loader) finds everything it reads from disk as it does from source: the local model,
// the rules, the TwiML templates, the dashboard's files and the dry run's worker thread. Calls placed by the emulator
// get their actions from it; a supervisor's dry run runs in its worker.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { observe } from '../src/simulator/observe.js';
import { loadScenarios } from '../src/simulator/scenario.js';
import { issueToken } from '../src/supervisor/tokens.js';
import { RestartRig, type ServiceProcess } from './e2e/restart-process.js';

const ROOT = new URL('../', import.meta.url).pathname;
const scenarios = new Map((await loadScenarios()).map((s) => [s.name, s]));
let rig: RestartRig;
let service: ServiceProcess;

beforeAll(async () => {
  await promisify(execFile)('npm', ['run', 'build'], { cwd: ROOT });
  rig = await new RestartRig().start(4);
  service = await rig.spawnService(['dist/server.js']);
}, 180_000);
afterAll(async () => {
  await rig?.close();
});

describe('npm run build && npm start', () => {
  it('npm start runs the compiled JavaScript with node, no TypeScript loader', () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe('node dist/server.js');
    expect(existsSync(`${ROOT}dist/server.js`)).toBe(true);
    expect(existsSync(`${ROOT}dist/supervisor/dry-run-worker.js`)).toBe(true);
    // Only the service: no tests, benchmarks or scripts compiled into it.
    expect(existsSync(`${ROOT}dist/test`)).toBe(false);
    expect(existsSync(`${ROOT}dist/src`)).toBe(false);
  });

  it('answers /healthz and /readyz, and serves the dashboard', async () => {
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${service.url}/readyz`)).json()).toMatchObject({ ready: true });
    const page = await fetch(`${service.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    expect((await fetch(`${service.url}/assets/app.js`)).status).toBe(200);
  });

  it('hands off the caller who asks for a person and sends the caller who pays to <Pay> and back (TwiML templates, model, rules from disk)', async () => {
    const calls = ['asks-for-human', 'pays-securely', 'calm-caller'].map((name) => rig.emulator.placeCall(scenarios.get(name)!));
    await Promise.all(calls.map((c) => c.done));
    // Each got its action (which line triggered it is the scenario tests' business: a loaded machine may decide a line later).
    for (const call of calls) {
      const { expected, observed } = observe(call);
      expect(observed, call.scenario.name).toEqual(expected === 'none' ? [] : [expected]);
    }
    const handoff = rig.emulator.restLog().find((e) => e.resource === 'Calls' && /<Enqueue\b|<Dial\b/.test(e.form.Twiml ?? ''));
    expect(handoff).toBeDefined();
    const pays = calls[1]!;
    expect(pays.events.filter((e) => e.kind === 'pay').map((e) => (e as { status: number }).status)).toEqual([200]);
  }, 60_000);

  it('runs a supervisor\'s dry run in its worker thread, loaded from dist', async () => {
    const { token } = await issueToken(await rig.store(), { name: 'build-test', role: 'viewer' });
    const r = await fetch(`${service.url}/api/rules/dry-run`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ transcript: [{ track: 'inbound', text: 'I want to speak to a real person right now, please.' }] }),
    });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ turns: 1, fired: [expect.objectContaining({ action: 'handoff', turn: 0 })] });
  }, 30_000);
});
