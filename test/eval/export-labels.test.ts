// npm run export-labels on a real store: emulated calls through the whole service into a SQLite file, verdicts
// marked through the API, then the CLI writes the marked turns, and `npm run eval -- --labels` reads them back.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelledTurns, loadLabels, setOf } from '../../scripts/conversations.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import { createStore } from '../../src/store/index.js';
import { startApiStack } from '../supervisor/api-stack.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'takeover-labels-'));
const db = join(dir, 'takeover.db');
const out = join(dir, 'labels.jsonl');
const PAUSED_WORDS = 'words heard while paused';

function run(script: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const base = { ...process.env };
    delete base.DATABASE_URL;
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const sids: Record<string, string> = {};

beforeAll(async () => {
  const store = await createStore({ sqlitePath: db });
  const s = await startApiStack({ store, speed: 4 });
  try {
    const scenarios = new Map((await loadScenarios()).map((sc) => [sc.name, sc]));
    const calls = ['asks-for-human', 'frustrated-caller', 'calm-caller', 'reads-card-number'].map((name) => [name, s.emulator.placeCall(scenarios.get(name)!)] as const);
    await Promise.all(calls.map(([, c]) => c.done));
    await s.service.monitor.settle();
    for (const [name, c] of calls) sids[name] = c.sid;

    const decision = async (name: string, ruleId: string) => {
      const detail = (await s.api('GET', `/api/calls/${sids[name]}`, { as: 'viewer' })).body;
      const found = detail.decisions.find((d: { ruleId: string }) => d.ruleId === ruleId);
      if (!found) throw new Error(`the ${name} call was not decided on by ${ruleId}: ${JSON.stringify(detail.audit.map((e: { kind: string; actor: string; data: unknown }) => [e.kind, e.actor, e.data]))} ${JSON.stringify(detail.transcript)}`);
      return found.decisionId as string;
    };
    const mark = async (name: string, body: object) => expect((await s.api('POST', `/api/calls/${sids[name]}/verdicts`, { as: 'supervisor', body })).status).toBe(201);
    const whole = async (name: string) => {
      const lines = await store.transcript(sids[name]!);
      return { from: lines[0]!.at, to: lines.at(-1)!.at + 60_000 };
    };

    await mark('asks-for-human', { kind: 'right', decisionId: await decision('asks-for-human', 'caller-asks-for-a-person') });
    await mark('frustrated-caller', { kind: 'should_not_have_acted', decisionId: await decision('frustrated-caller', 'caller-frustrated') });
    await mark('calm-caller', { kind: 'right', stretch: await whole('calm-caller') });
    await mark('reads-card-number', { kind: 'right', decisionId: await decision('reads-card-number', 'sensitive-data') });
    // A line stored inside the paused stretch (as an older version might have): the export must never write it.
    const gate = (await store.audit(sids['reads-card-number']!)).find((e) => e.kind === 'gate' && e.data.open === false)!;
    await store.appendTranscript({ callSid: sids['reads-card-number']!, at: gate.at + 5, track: 'inbound', text: PAUSED_WORDS });
    await mark('reads-card-number', { kind: 'should_have_acted', ruleId: 'caller-frustrated', stretch: await whole('reads-card-number') });
  } finally {
    await s.close();
  }
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run export-labels', () => {
  it('writes one labelled conversation per verdict that names a turn label, redacted, nothing of a paused stretch', async () => {
    const r = await run('scripts/export-labels.ts', ['--out', out], { SQLITE_PATH: db });
    expect(r.stderr).toContain('4 labelled conversation(s) written');
    expect(r.stderr).toMatch(/skipped: 1 rule sensitive-data has no turn label/);
    expect(r.code).toBe(0);

    const text = readFileSync(out, 'utf8');
    expect(text).not.toContain(PAUSED_WORDS);
    expect(text).not.toContain('withheld');
    expect(text).not.toMatch(/four one one one|4111/i);
    expect(text).not.toContain('security code');

    const all = loadLabels(out, 'all');
    const byCall = (name: string) => all.find((c) => c.id.startsWith(`${sids[name]}:`))!;
    // The request for a person, marked on the turn that fired the rule; the conversation stops there.
    const person = byCall('asks-for-human');
    expect(setOf(person)).toBe('person');
    expect(person.turns.filter((t) => t.asksForPerson).map((t) => t.text)).toEqual(['Actually, can I please talk to a real person about this?']);
    expect(person.turns.at(-1)!.asksForPerson).toBe(true);
    expect(person.kind).toBe('caller-asks-for-a-person');
    // A handoff the supervisor says was wrong: a calm conversation up to that turn.
    expect(setOf(byCall('frustrated-caller'))).toBe('calm');
    expect(setOf(byCall('calm-caller'))).toBe('calm');
    // A stretch that should have been acted on: its caller turns are upset, the paused ones are not there at all.
    const missed = byCall('reads-card-number');
    expect(setOf(missed)).toBe('upset');
    expect(missed.turns.map((t) => t.text)).toEqual([
      'Thanks for calling Acme Home. How can I help you today?',
      'I would like to pay the balance on my account.',
      'Sure. How would you like to pay?',
    ]);

    // What train learns from it: the marked turns, and every caller turn of a calm conversation as neither.
    const taught = labelledTurns(all);
    expect(taught).toContainEqual({ text: 'Actually, can I please talk to a real person about this?', wantsHuman: true });
    expect(taught).toContainEqual({ text: 'I would like to pay the balance on my account.', frustrated: true });
    expect(taught.some((t) => t.frustrated === false && t.wantsHuman === false)).toBe(true);
  });

  it('npm run eval -- --labels replays the exported conversations through the rules', async () => {
    const r = await run('scripts/eval.ts', ['--labels', out, '--split', 'all', '--examples', '5']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.labels).toEqual({ file: out, conversations: 4, calm: 2, person: 1, upset: 1 });
    // The request for a person is handed off on the request.
    expect(report.personRequests.asks).toMatchObject({ conversations: 1, handedOff: 1, when: { onRequest: 1 } });
    // The handoff marked wrong still happens with these rules: a false takeover the figures show, by that rule.
    expect(report.falseTakeovers).toMatchObject({ conversations: 2, withTakeover: 1 });
    expect(report.falseTakeovers.byRule['caller-frustrated'].conversations).toBe(1);
    expect(report.upsetCallers.conversations).toBe(1);
  });

  it('names a wrong option', async () => {
    const r = await run('scripts/export-labels.ts', ['--since', 'last tuesday'], { SQLITE_PATH: db });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--since must be an ISO date or epoch milliseconds');
  });
});
