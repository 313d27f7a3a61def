// Verdicts and rule health in a real browser (Chromium, headless) against the running service and the Twilio
// emulator: a supervisor marks a rule's decision from the keyboard and a stretch where nothing fired, sees both in the
// rule's figures on the rule health page, follows a figure to its call; a viewer reads verdicts but cannot give one;
// the page at 400 px.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { issueToken } from '../../src/supervisor/tokens.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = new URL('../../test-artifacts/screenshots/', import.meta.url).pathname;
const hasChromium = existsSync(CHROMIUM);
const runHere = hasChromium || Boolean(process.env.CI);

if (!runHere) console.warn(`[health-browser.test] skipped: ${CHROMIUM} is missing (bash .ci/browser-deps.sh installs it).`);

describe.skipIf(!runHere)('verdicts and rule health in a browser', () => {
  let stack: LocalStack;
  let store: Store;
  let browser: Browser;
  let page: Page;
  const tokens: Record<string, string> = {};
  const sids: Record<string, string> = {};
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!hasChromium) throw new Error(`${CHROMIUM} is missing: run \`bash .ci/browser-deps.sh\` or set CHROMIUM_PATH.`);
    await mkdir(SCREENSHOTS, { recursive: true });
    store = await createStore({ sqlitePath: ':memory:' });
    tokens.supervisor = (await issueToken(store, { name: 'sam', role: 'supervisor' })).token;
    tokens.viewer = (await issueToken(store, { name: 'vic', role: 'viewer' })).token;
    stack = await startLocalStack({ speed: 4, parts: { store }, env: { LOG_LEVEL: 'error' } });
    const scenarios = new Map((await loadScenarios()).map((s) => [s.name, s]));
    const calls = ['asks-for-human', 'frustrated-caller', 'calm-caller'].map((name) => [name, stack.emulator.placeCall(scenarios.get(name)!)] as const);
    await Promise.all(calls.map(([, c]) => c.done));
    await stack.service.monitor.settle();
    for (const [name, c] of calls) sids[name] = c.sid;
    // What the page must show: the rules' decisions are in the store.
    for (const [name, ruleId] of [['asks-for-human', 'caller-asks-for-a-person'], ['frustrated-caller', 'caller-frustrated']] as const) {
      const fired = (await store.audit(sids[name]!)).some((e) => e.kind === 'decision' && e.data.ruleId === ruleId);
      if (!fired) throw new Error(`the ${name} call was not decided on by ${ruleId}: the scenario or the default rules changed`);
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  async function signIn(role: 'supervisor' | 'viewer') {
    await page.goto(`${stack.serviceUrl}/`);
    if (await page.getByRole('button', { name: 'Sign out' }).isVisible()) await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').fill(tokens[role]!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Live calls' }).waitFor();
    await expect.poll(() => page.locator('body').getAttribute('data-role')).toBe(role);
  }

  it("a supervisor marks a rule's decision with a note, from the keyboard, and a stretch where nothing fired", async () => {
    await signIn('supervisor');
    await page.goto(`${stack.serviceUrl}/#/calls/${sids['asks-for-human']}`);
    const decision = page.locator('#audit-decisions li[data-rule-id="caller-asks-for-a-person"]');
    const group = decision.getByRole('group', { name: 'Verdict on caller-asks-for-a-person' });
    await group.waitFor();
    expect(await group.getByRole('status').textContent()).toBe('No verdict yet');

    await group.getByLabel("Note on caller-asks-for-a-person's decision").fill('asked for the pharmacist, not a person');
    const wrong = group.getByRole('button', { name: 'Should not have acted' });
    await wrong.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => group.getByRole('status').textContent()).toMatch(/^Should not have acted \(sam, .*\): “asked for the pharmacist, not a person”$/);
    expect(await wrong.getAttribute('aria-pressed')).toBe('true');
    expect(await group.getByRole('button', { name: 'Right' }).getAttribute('aria-pressed')).toBe('false');
    await shot(page, '18-verdict-marked');

    // The calm call: the frustration rule should have acted from its first line to its last. While its verdicts are
    // still loading, the stretch form is not offered: the previous call's form, about to be refilled, would take a
    // choice and then lose it (a stretch saved with no rule).
    const calmSid = sids['calm-caller']!;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await page.route(`**/api/calls/${calmSid}/verdicts`, async (route) => {
      if (route.request().method() === 'GET') await held;
      await route.continue();
    });
    await page.goto(`${stack.serviceUrl}/#/calls/${calmSid}`);
    await expect.poll(() => page.locator('#audit-title').getAttribute('title')).toBe(calmSid);
    await expect.poll(() => page.getByLabel('Which rule').isVisible()).toBe(false);
    release();
    const firstLine = (await store.transcript(calmSid))[0]!.text.slice(0, 30);
    await page.locator('#stretch-from option', { hasText: firstLine }).first().waitFor({ state: 'attached' });
    await page.unroute(`**/api/calls/${calmSid}/verdicts`);
    await page.getByLabel('Which rule').waitFor();
    await page.getByLabel('A rule should have acted').check();
    await page.getByLabel('Which rule').selectOption('caller-frustrated');
    await page.getByLabel('Note (optional)').fill('sighed through the whole call');
    await page.getByRole('button', { name: 'Mark the stretch' }).click();
    await expect.poll(() => page.locator('#stretch-status').textContent()).toBe('Stretch marked.');
    expect(await page.locator('#stretch-verdicts').textContent()).toContain('caller-frustrated · Should have acted (sam');

    // Both are in the store, audited.
    expect((await store.verdicts(sids['asks-for-human']!)).map((v) => v.kind)).toEqual(['should_not_have_acted']);
    expect((await store.queryAudit({ callSid: sids['calm-caller'], kind: 'supervisor' })).some((e) => (e.data.verdict as { kind?: string } | undefined)?.kind === 'should_have_acted')).toBe(true);
  }, 40_000);

  it("shows the verdicts in each rule's figures and plot, and each figure links to its calls", async () => {
    await page.getByRole('link', { name: 'Rule health' }).click();
    await page.getByRole('heading', { name: 'Rule health' }).waitFor();
    await page.getByLabel('Period', { exact: true }).selectOption({ label: 'Last hour' });
    await page.getByLabel('Bucket', { exact: true }).selectOption({ label: '5 minutes' });
    await page.getByRole('button', { name: 'Show' }).click();
    await expect.poll(() => page.locator('#health-status').textContent()).toMatch(/in buckets of 5 minutes/);

    const person = page.locator('article[data-rule-id="caller-asks-for-a-person"]');
    const figure = (rule: typeof person, name: string) => rule.locator(`tr[data-figure="${name}"] td.num`).textContent();
    expect(await figure(person, 'hits')).toBe('1');
    expect(await figure(person, 'actions')).toBe('1');
    expect(await figure(person, 'should_not_have_acted')).toBe('1');
    expect(await figure(person, 'right')).toBe('0');
    expect(await figure(person, 'wrong')).toBe('100%');
    expect(await person.locator('svg.health-chart').getAttribute('data-hits')).toBe('1');
    expect(await person.locator('svg.health-chart circle.dot-wrong').count()).toBe(1);

    const frustrated = page.locator('article[data-rule-id="caller-frustrated"]');
    expect(await figure(frustrated, 'hits')).toBe('1');
    expect(await figure(frustrated, 'should_have_acted')).toBe('1');
    expect(await figure(frustrated, 'wrong')).toBe('100%');
    await shot(page, '19-rule-health');

    // A bucket of the plot, from the keyboard: that stretch of time alone, in finer buckets, the same figures.
    const bucket = person.getByRole('button', { name: /^Zoom in on .* \(1 hits\)$/ });
    await bucket.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#health-status').textContent()).toMatch(/in buckets of 1 minute\./);
    expect(await page.getByLabel('Period', { exact: true }).inputValue()).toBe('custom');
    expect(await figure(person, 'hits')).toBe('1');
    expect(await figure(person, 'should_not_have_acted')).toBe('1');
    expect(Number(await person.locator('svg.health-chart').getAttribute('data-buckets'))).toBe(5);

    // The call behind the verdict is a link to it.
    await person.locator('tr[data-figure="should_not_have_acted"]').getByRole('link', { name: `call ${sids['asks-for-human']}` }).click();
    await expect.poll(() => page.locator('#audit-title').getAttribute('title')).toBe(sids['asks-for-human']);
    expect(pageErrors, 'the page should have thrown no error').toEqual([]);
  }, 40_000);

  it('a viewer reads the verdicts but is offered no verdict buttons', async () => {
    await signIn('viewer');
    await page.goto(`${stack.serviceUrl}/#/calls/${sids['asks-for-human']}`);
    const group = page.getByRole('group', { name: 'Verdict on caller-asks-for-a-person' });
    await expect.poll(() => group.getByRole('status').textContent()).toMatch(/^Should not have acted \(sam/);
    expect(await group.getByRole('button', { name: 'Right' }).isVisible()).toBe(false);
    expect(await page.getByRole('button', { name: 'Mark the stretch' }).isVisible()).toBe(false);
  });

  it('fits a 400 px wide screen: nothing overflows, the period picker and the calls behind each figure stay usable', async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    try {
      await page.goto(`${stack.serviceUrl}/#/health`);
      await page.locator('article[data-rule-id="caller-asks-for-a-person"]').waitFor();
      const overflow = await page.evaluate(() => ({
        page: document.documentElement.scrollWidth,
        tables: [...document.querySelectorAll('.health-table')].map((t) => t.closest('.table-wrap')!.scrollWidth - t.closest('.table-wrap')!.clientWidth),
      }));
      expect(overflow.page).toBe(400);
      expect(overflow.tables.every((w) => w === 0)).toBe(true);
      for (const el of [page.getByRole('button', { name: 'Show' }), page.getByLabel('Period', { exact: true }), page.locator('article[data-rule-id="caller-asks-for-a-person"] svg.health-chart')]) {
        const box = (await el.boundingBox())!;
        expect(box.x).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width).toBeLessThanOrEqual(400);
      }
      await shot(page, '20-narrow-rule-health');
    } finally {
      await page.setViewportSize({ width: 1360, height: 900 });
    }
  });
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
}
