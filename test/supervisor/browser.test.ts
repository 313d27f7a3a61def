// The supervisors' dashboard in a real browser (Chromium, headless) against the running service and the Twilio
// emulator: sign in with a token, watch a call, take it over; add a rule in the page and see it hand off the next call.
// A call is opened from the live board (its row); the board itself, with 500 calls, is in board.test.ts.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedCall } from '../../src/simulator/call.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { loadScenarios, scenarioSchema, type Scenario } from '../../src/simulator/scenario.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { issueToken } from '../../src/supervisor/tokens.js';
import { LONG_CALL } from './api-stack.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = new URL('../../test-artifacts/screenshots/', import.meta.url).pathname;
const hasChromium = existsSync(CHROMIUM);
const runHere = hasChromium || Boolean(process.env.CI);

if (!runHere) {
  console.warn(`[browser.test] skipped: ${CHROMIUM} is missing. Install it with \`bash .ci/browser-deps.sh\` (apt-get install chromium) to run the dashboard's browser tests.`);
}

/** The rule a supervisor adds in the page: callers who want to cancel go to the retention team. */
const RETENTION_RULE = {
  id: 'cancellation-to-retention',
  description: 'Callers who want to cancel go to the retention team.',
  enabled: true,
  mode: 'enforce',
  priority: 70,
  when: { type: 'phrase', phrases: ['cancel my subscription'], track: 'inbound' },
  action: { type: 'handoff', to: { queue: 'retention' } },
  cooldownSeconds: 60,
};

/** A calm caller who, on the second line, asks to cancel: nothing but the new rule should hand this call off. */
const CANCELLING_CALLER: Scenario = scenarioSchema.parse({
  name: 'wants-to-cancel',
  description: 'A calm caller asks to cancel a subscription.',
  expect: { outcome: 'handoff', triggerLine: 1 },
  lines: [
    { speaker: 'agent', text: 'Thanks for calling Acme Home. How can I help you today?' },
    { speaker: 'caller', text: 'Hello, I would like to cancel my subscription please.' },
    { speaker: 'agent', text: 'I can help with that. May I ask why you are leaving?' },
    { speaker: 'caller', text: 'We are moving abroad next month, that is all.' },
  ],
});

/** A caller still speaking, a long line, when the supervisor takes the call over: the line is never finished. */
const LONG_WINDED_CALLER: Scenario = scenarioSchema.parse({
  name: 'long-winded',
  description: 'A caller explains at length.',
  expect: { outcome: 'none' },
  lines: [
    { speaker: 'agent', text: 'Thanks for calling Acme Home. How can I help you today?' },
    { speaker: 'caller', text: 'Well it is a long story about my bill and the charges on it', durationMs: 60_000 },
  ],
});

/** A rule that sends a caller who reads a card number to <Pay>, not a plain pause. */
const SECURE_PAY_RULE = {
  id: 'card-to-keypad',
  description: 'Card numbers are taken on the keypad.',
  when: { type: 'sensitive', categories: ['payment_card'] },
  action: { type: 'pause', secureCapture: { returnUrl: 'https://agent.example.com/voice' } },
  cooldownSeconds: 0,
};

describe.skipIf(!runHere)('the supervisors’ dashboard in a browser', () => {
  let stack: LocalStack;
  let store: Store;
  let browser: Browser;
  let page: Page;
  let supervisorToken: string;
  let adminToken: string;
  let calm: Scenario;
  let takenOver: EmulatedCall | undefined;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!hasChromium) {
      throw new Error(
        `${CHROMIUM} is missing: the dashboard's browser tests need Chromium. Run \`bash .ci/browser-deps.sh\` (apt-get install chromium) before the tests, or set CHROMIUM_PATH.`,
      );
    }
    await mkdir(SCREENSHOTS, { recursive: true });
    calm = (await loadScenarios()).find((s) => s.name === 'calm-caller')!;
    store = await createStore({ sqlitePath: ':memory:' });
    supervisorToken = (await issueToken(store, { name: 'sam', role: 'supervisor' })).token;
    adminToken = (await issueToken(store, { name: 'alice', role: 'admin' })).token;
    // The one failed sign-in below is logged as a warning; the test output needs no such noise.
    // A short action deadline: a handoff Twilio keeps refusing fails in a second and a half, not ten.
    stack = await startLocalStack({ speed: 1.5, parts: { store }, env: { LOG_LEVEL: 'error', ACTION_DEADLINE_MS: '1500' } });
    const index = await fetch(`${stack.serviceUrl}/`);
    if (index.status !== 200 || !(await index.text()).includes('/assets/app.js')) {
      throw new Error(`GET / answered ${index.status}, not the dashboard: register it in src/app.ts (await app.register(dashboard) from ./supervisor/dashboard.js)`);
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });

  afterAll(async () => {
    // The browser first: its live feed holds a request open that the service would otherwise wait for.
    await browser?.close();
    await stack?.close();
  });

  it('refuses an unknown token and signs in with a real one, from the keyboard', async () => {
    await page.goto(`${stack.serviceUrl}/`);
    const token = page.getByLabel('API token');
    // The sign-in view puts the cursor in the token field, so Enter is all a keyboard user needs.
    await expect.poll(() => token.evaluate((el) => el === document.activeElement)).toBe(true);
    await page.keyboard.type('not-a-token');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#login-error').textContent()).toMatch(/does not know this token/);
    await shot(page, '01-sign-in-refused');

    await token.fill(supervisorToken);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Live calls' }).waitFor();
    await expect.poll(() => page.locator('#feed-status').getAttribute('data-status')).toBe('live');
    expect(await page.evaluate(() => sessionStorage.getItem('takeover.token'))).toBe(supervisorToken);
  });

  it('shows a calm call as it happens, and a supervisor takes it over', async () => {
    const call = stack.emulator.placeCall(calm);
    const card = await openCall(call.sid);

    // The caller's first line arrives, as a partial then final, and each is assessed: the trend moves.
    await card.locator('.transcript .turn-inbound').first().waitFor();
    await expect.poll(() => chartPoints(card), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(await card.locator('.transcript .turn-outbound').first().textContent()).toContain('Thanks for calling Acme Home');
    expect(await stateOf(card)).toBe('monitoring');
    await shot(page, '02-live-call');

    const takeOver = card.getByRole('button', { name: 'Take over' });
    expect(await takeOver.isEnabled()).toBe(true);
    expect(await card.getByRole('button', { name: 'Resume' }).isDisabled()).toBe(true);
    await takeOver.focus();
    await page.keyboard.press('Enter');

    await expect.poll(() => card.locator('.result').getAttribute('data-result')).toBe('done');
    await expect.poll(() => stateOf(card)).toBe('handed_off');
    expect(await takeOver.isDisabled()).toBe(true);
    await card.locator('.hit[data-rule-id="manual"]').waitFor();
    await shot(page, '03-taken-over');

    const handoff = stack.emulator.restLog().find((e) => e.callSid === call.sid && e.resource === 'Calls' && /<Enqueue\b/.test(e.form.Twiml ?? ''));
    expect(handoff, 'the emulator should have received a Calls update with <Enqueue>').toBeDefined();
    expect(handoff!.status).toBeLessThan(300);
    takenOver = call;
  }, 40_000);

  it('validates a rule in the editor, dry-runs it, saves it, and the next call is handed off by it', async () => {
    // Rules are an admin's: the supervisor signs out and an admin signs in.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').fill(adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#feed-status').getAttribute('data-status')).toBe('live');
    await page.getByRole('link', { name: 'Rules' }).click();
    await page.getByRole('heading', { name: 'Rules', exact: true }).waitFor();
    await page.locator('#rules-body tr[data-rule-id]').first().waitFor();
    const versionBefore = Number(await page.locator('#rules-version').textContent());

    await page.getByRole('button', { name: 'New rule' }).click();
    const editor = page.getByLabel('Rule (JSON)');
    // A supervisor forgets the phrases: the API refuses it and the page names the field.
    await editor.fill(JSON.stringify({ ...RETENTION_RULE, when: { type: 'phrase', phrases: [], track: 'inbound' } }, null, 2));
    await page.getByRole('button', { name: 'Save rule' }).click();
    const issue = page.locator('#rule-issues li[data-path="when.phrases"]');
    await issue.waitFor();
    expect(await editor.getAttribute('aria-invalid')).not.toBeNull();
    await shot(page, '04-rule-refused');

    await editor.fill(JSON.stringify(RETENTION_RULE, null, 2));
    await page.locator('#dry-transcript').fill('agent: How can I help?\ncaller: I want to cancel my subscription, please.');
    await page.getByRole('button', { name: 'Dry run with this rule' }).click();
    await page.locator(`#dry-result tr[data-rule-id="${RETENTION_RULE.id}"]`).waitFor();
    await shot(page, '05-dry-run');

    await page.getByRole('button', { name: 'Save rule' }).click();
    await page.locator(`#rules-body tr[data-rule-id="${RETENTION_RULE.id}"]`).waitFor();
    await expect.poll(async () => Number(await page.locator('#rules-version').textContent())).toBeGreaterThan(versionBefore);
    await page.locator(`#versions-body tr[data-version]`).first().waitFor();
    await shot(page, '06-rule-saved');

    await page.getByRole('link', { name: 'Live calls' }).click();
    stack.emulator.opts.speed = 3;
    const call = stack.emulator.placeCall(CANCELLING_CALLER);
    const card = await openCall(call.sid);
    await card.locator(`.hit[data-rule-id="${RETENTION_RULE.id}"]`).waitFor({ timeout: 15_000 });
    await expect.poll(() => stateOf(card), { timeout: 10_000 }).toBe('handed_off');
    await shot(page, '07-handed-off-by-new-rule');

    const handoff = stack.emulator.restLog().find((e) => e.callSid === call.sid && e.resource === 'Calls' && /<Enqueue\b/.test(e.form.Twiml ?? ''));
    expect(handoff, 'the new rule should have handed the call off with <Enqueue>').toBeDefined();
    expect(handoff!.form.Twiml).toContain('retention');
  }, 40_000);

  it('shows the audit trail of the call the supervisor took over', async () => {
    expect(takenOver, 'the take-over test must have run').toBeDefined();
    await page.goto(`${stack.serviceUrl}/#/calls/${takenOver!.sid}`);
    await page.locator('#audit-transcript .turn-inbound').first().waitFor();
    await page.locator('#audit-decisions .hit[data-rule-id="manual"]').waitFor();
    await page.locator('#audit-body tr[data-kind="outcome"]').first().waitFor();
    expect(await page.locator('#audit-state .badge').first().textContent()).toMatch(/Handed off/);
    await shot(page, '08-audit-trail');
    expect(pageErrors, 'the page should have thrown no error').toEqual([]);
  });

  it('offers a viewer no action on a call and no change to the rules, and says why, also after a reload', async () => {
    const viewerToken = (await issueToken(store, { name: 'vic', role: 'viewer' })).token;
    await page.goto(`${stack.serviceUrl}/#/live`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').fill(viewerToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#who').textContent()).toBe('vic · viewer');

    const call = stack.emulator.placeCall(calm);
    const card = await openCall(call.sid);
    await card.locator('.transcript .turn-inbound').first().waitFor();
    expect(await card.locator('[data-action="takeover"]').isVisible()).toBe(false);
    expect(await card.locator('[data-action="end"]').isVisible()).toBe(false);
    expect(await page.getByText('You are watching only').isVisible()).toBe(true);
    await shot(page, '09-viewer-live');

    await page.reload();
    await expect.poll(() => page.locator('#who').textContent()).toBe('vic · viewer');
    await page.getByRole('link', { name: 'Rules' }).click();
    await page.locator('#rules-body tr[data-rule-id]').first().waitFor();
    expect(await page.locator('#rules-body button[aria-label^="Delete rule"]').first().isVisible()).toBe(false);
    expect(await page.locator('#rules-body button[aria-label^="Disable rule"]').first().isVisible()).toBe(false);
    expect(await page.getByText('saving, enabling, deleting and rolling back need an admin token').isVisible()).toBe(true);
    // A viewer may still draft a rule and dry-run it, but not save it.
    await page.getByRole('button', { name: 'New rule' }).click();
    expect(await page.getByRole('button', { name: 'Dry run with this rule' }).isVisible()).toBe(true);
    expect(await page.locator('#rule-editor button[type="submit"]').isVisible()).toBe(false);
    await shot(page, '10-viewer-rules');
    expect(pageErrors, 'the page should have thrown no error').toEqual([]);
  }, 30_000);

  /** Signs out whoever is signed in, and signs in with `token`, on the live calls view. */
  async function signInAs(token: string): Promise<void> {
    await page.goto(`${stack.serviceUrl}/#/live`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#feed-status').getAttribute('data-status')).toBe('live');
  }

  async function callApi(method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(`${stack.serviceUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return res.json();
  }

  /** The first row of the live board: the call that most needs attention. */
  const firstRow = () => page.locator('#board-list [role="option"]').first();

  /** Opens a call from its row on the live board (the call appears there with its first words); returns its card. */
  async function openCall(callSid: string): Promise<Locator> {
    if (!/^#\/live/.test(await page.evaluate(() => location.hash))) await page.getByRole('link', { name: 'Live calls' }).click();
    else if (await page.locator('#live-detail').isVisible()) await page.keyboard.press('Escape');
    await page.locator(`#board-list [data-call-sid="${callSid}"]`).click({ timeout: 15_000 });
    const card = page.locator(`.call[data-call-sid="${callSid}"]`);
    await card.waitFor();
    return card;
  }

  /** Back from a call's card to the board, as a keyboard user does. */
  async function backToBoard(): Promise<void> {
    await page.keyboard.press('Escape');
    await page.locator('#board-list').waitFor();
  }

  it('turns a call whose handoff failed red, says why in words, puts it first, and still does after a reload', async () => {
    await signInAs(supervisorToken);
    stack.emulator.opts.speed = 4;
    const older = stack.emulator.placeCall(LONG_CALL);
    const newer = stack.emulator.placeCall(LONG_CALL);
    const olderRow = page.locator(`#board-list [data-call-sid="${older.sid}"]`);
    const newerRow = page.locator(`#board-list [data-call-sid="${newer.sid}"]`);
    await olderRow.waitFor();
    await newerRow.waitFor();
    await expect.poll(() => firstRow().getAttribute('data-call-sid')).toBe(newer.sid);

    // Twilio answers every attempt to hand the older call off with 500, until the deadline.
    const card = await openCall(older.sid);
    await card.locator('.transcript .turn-inbound').first().waitFor();
    stack.emulator.inject('calls.update', 1000, 500);
    try {
      await card.getByRole('button', { name: 'Take over' }).click();
      await expect.poll(() => card.getAttribute('data-alert'), { timeout: 10_000 }).toBe('action');
    } finally {
      stack.emulator.faults.splice(0);
    }
    const alert = card.getByRole('alert');
    expect(await alert.textContent()).toMatch(/^Action failed Handoff failed: Twilio answered 500 .*times/);
    expect(await card.evaluate((el) => getComputedStyle(el).borderLeftColor)).toBe('rgb(179, 38, 30)');
    expect(await stateOf(card)).toBe('monitoring');
    await shot(page, '11-handoff-failed');
    // On the board the call is now first, red, with the reason in words.
    await backToBoard();
    await expect.poll(() => firstRow().getAttribute('data-call-sid')).toBe(older.sid);
    expect(await olderRow.getAttribute('data-alert')).toBe('action');
    expect(await olderRow.locator('.b-why').textContent()).toMatch(/^Handoff failed: Twilio answered 500/);
    expect(await olderRow.evaluate((el) => getComputedStyle(el).borderLeftColor)).toBe('rgb(179, 38, 30)');

    await page.reload();
    await expect.poll(() => olderRow.getAttribute('data-alert')).toBe('action');
    await expect.poll(() => firstRow().getAttribute('data-call-sid')).toBe(older.sid);
    await openCall(older.sid);
    await expect.poll(() => card.getAttribute('data-alert')).toBe('action');
    expect(await card.getByRole('alert').textContent()).toMatch(/Handoff failed: Twilio answered 500/);

    // A pause whose stream Twilio will not stop is a privacy alert, and that call goes to the top.
    const other = await openCall(newer.sid);
    stack.emulator.inject('streams.update', 1000, 500);
    try {
      await other.getByRole('button', { name: 'Pause transcription' }).click();
      await expect.poll(() => other.getAttribute('data-alert'), { timeout: 10_000 }).toBe('privacy');
    } finally {
      stack.emulator.faults.splice(0);
    }
    expect(await other.getByRole('alert').textContent()).toMatch(/^Privacy: transcription or recording may not have stopped Pause failed: Twilio's recording and transcription may still be running/);
    await shot(page, '12-privacy-alert');
    await backToBoard();
    await expect.poll(() => firstRow().getAttribute('data-call-sid')).toBe(newer.sid);
    expect(await newerRow.getAttribute('data-alert')).toBe('privacy');

    // Twilio answers again: a take over now succeeds, and the older call is no longer in alarm.
    await openCall(older.sid);
    await card.getByRole('button', { name: 'Take over' }).click();
    await expect.poll(() => stateOf(card)).toBe('handed_off');
    await expect.poll(() => card.getAttribute('data-alert')).toBeNull();
    expect(await card.getByRole('alert').isVisible()).toBe(false);
    await backToBoard();
    await expect.poll(() => olderRow.getAttribute('data-alert')).toBeNull();
    expect(await olderRow.getAttribute('data-rank')).toBe('handed_off');

    // Once a call has ended its chart ends there, not "now"; the legend says what the dashed line is.
    await callApi('POST', `/api/calls/${newer.sid}/end`);
    await expect.poll(() => newerRow.getAttribute('data-state')).toBe('ended');
    await openCall(newer.sid);
    await expect.poll(() => stateOf(other)).toBe('ended');
    await other.locator('svg.trend-chart text', { hasText: 'end of call' }).waitFor();
    expect(await other.locator('svg.trend-chart text', { hasText: /^now$/ }).count()).toBe(0);
    expect(await other.locator('.chart-legend').textContent()).toMatch(/threshold \d\.\d\d \(/);
    await callApi('POST', `/api/calls/${older.sid}/end`);
    expect(pageErrors, 'the page should have thrown no error').toEqual([]);
  }, 60_000);

  it('shows until when a call is paused, and drops the caller’s unfinished line when the call is handed off', async () => {
    stack.emulator.opts.speed = 4;
    const paused = stack.emulator.placeCall(LONG_CALL);
    const talking = stack.emulator.placeCall(LONG_WINDED_CALLER);
    const pausedCard = await openCall(paused.sid);

    await pausedCard.locator('.transcript .turn-inbound').first().waitFor();
    await pausedCard.getByRole('button', { name: 'Pause transcription' }).click();
    await expect.poll(() => stateOf(pausedCard)).toBe('paused');
    // The card says "paused" as soon as the gate closes; the due time is known once Twilio has confirmed the pause.
    const pausedUntilNow = async (): Promise<number | null> => {
      const { calls } = await callApi('GET', '/api/calls?state=live');
      return calls.find((c: { callSid: string }) => c.callSid === paused.sid).pausedUntil as number | null;
    };
    await expect.poll(pausedUntilNow, { timeout: 10_000 }).toBeGreaterThan(Date.now());
    const pausedUntil = (await pausedUntilNow()) as number;
    const clock = await page.evaluate((ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }), pausedUntil);
    await expect.poll(() => pausedCard.locator('.paused-until').textContent()).toBe(`paused until ${clock}`);

    const talkingCard = await openCall(talking.sid);
    const partial = talkingCard.locator('.partial');
    await partial.waitFor({ state: 'visible', timeout: 15_000 });
    expect(await partial.textContent()).toMatch(/Caller \(speaking\)/);
    await shot(page, '13-paused-until-and-speaking');
    await talkingCard.getByRole('button', { name: 'Take over' }).click();
    await expect.poll(() => stateOf(talkingCard)).toBe('handed_off');
    await expect.poll(() => partial.isHidden()).toBe(true);
    await talkingCard.locator('svg.trend-chart text', { hasText: 'handed off' }).waitFor();
    await shot(page, '14-handed-off-mid-sentence');

    await callApi('POST', `/api/calls/${paused.sid}/end`);
    await callApi('POST', `/api/calls/${talking.sid}/end`);
    expect(pageErrors, 'the page should have thrown no error').toEqual([]);
  }, 40_000);

  it('describes a secure-capture rule as what it does, and a dry run says only what happened', async () => {
    await signInAs(adminToken);
    await callApi('POST', '/api/rules', SECURE_PAY_RULE);
    await page.getByRole('link', { name: 'Rules' }).click();
    const row = page.locator(`#rules-body tr[data-rule-id="${SECURE_PAY_RULE.id}"]`);
    await row.waitFor();
    const then = await row.locator('td').nth(1).textContent();
    expect(then).toMatch(/send the caller to secure capture \(twiml\/secure-capture\.xml, e\.g\. <Pay>\)/);
    expect(then).not.toMatch(/pause transcription for/);

    // Nothing fires and there is nothing else to say: no stray "null".
    await page.locator('#dry-transcript').fill('agent: How can I help?\ncaller: What time do you close on Saturday?');
    await page.locator('#dry-form').getByRole('button', { name: 'Run' }).click();
    await page.locator('#dry-result .dry-none').waitFor();
    expect(await page.locator('#dry-result').textContent()).toBe('No rule fires on this conversation.');

    // The handoff is on the last turn: monitoring stops there, and no later turn was left out.
    await page.locator('#dry-transcript').fill('agent: How can I help?\ncaller: Can I please talk to a real person about this?');
    await page.locator('#dry-form').getByRole('button', { name: 'Run' }).click();
    await page.locator('#dry-result .dry-table').waitFor();
    const result = await page.locator('#dry-result').textContent();
    expect(result).toContain('Monitoring would have stopped after turn #2');
    expect(result).not.toMatch(/later turns? (were|was) not evaluated|null/);
    await shot(page, '15-dry-run-last-turn');

    // With a turn after it, the note says how many were left out.
    await page.locator('#dry-transcript').fill('agent: How can I help?\ncaller: Can I please talk to a real person about this?\nagent: Of course.');
    await page.locator('#dry-form').getByRole('button', { name: 'Run' }).click();
    await expect.poll(() => page.locator('#dry-result').textContent(), { timeout: 20_000 }).toMatch(/after turn #2 .*: the last turn was not evaluated\./);
    expect(pageErrors, 'the page should have thrown no error').toEqual([]);
  }, 60_000);

  it('fits a 400 px wide screen: the feed status and Sign out stay in view, and the rules table does not overflow', async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    try {
      await page.goto(`${stack.serviceUrl}/#/live`);
      for (const el of [page.locator('#feed-status'), page.getByRole('button', { name: 'Sign out' })]) {
        await el.waitFor();
        const box = (await el.boundingBox())!;
        expect(box.x).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width).toBeLessThanOrEqual(400);
      }
      await shot(page, '16-narrow-live');
      await page.getByRole('link', { name: 'Rules' }).click();
      await page.locator('#rules-body tr[data-rule-id]').first().waitFor();
      const overflow = await page.evaluate(() => {
        const wrap = document.querySelector('.rules-table')!.closest('.table-wrap')!;
        return { page: document.documentElement.scrollWidth, wrap: wrap.scrollWidth - wrap.clientWidth };
      });
      expect(overflow).toEqual({ page: 400, wrap: 0 });
      expect(await page.getByRole('button', { name: /^Delete rule/ }).first().isVisible()).toBe(true);
      await shot(page, '17-narrow-rules');
    } finally {
      await page.setViewportSize({ width: 1360, height: 900 });
    }
  });
});

async function chartPoints(card: Locator): Promise<number> {
  return Number((await card.locator('svg.trend-chart').getAttribute('data-points')) ?? 0);
}

async function stateOf(card: Locator): Promise<string | null> {
  return card.getAttribute('data-state');
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
}
