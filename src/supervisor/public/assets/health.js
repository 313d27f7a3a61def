// The rule health page (#/health): over a chosen period, per rule, how often it fired (hits), how often it changed a
// call (actions), the supervisors' verdicts and the share marked wrong, as a table and a small SVG plot over time
// (GET /api/rule-health); every figure links to the calls behind it.
import { api } from './api.js';
import { $, clear, dateTime, h, s, shortSid } from './dom.js';

const FIGURES = [
  ['hits', 'Hits', 'times the rule fired (observed and outranked included)'],
  ['actions', 'Actions', 'times it changed the call'],
  ['right', 'Marked right', ''],
  ['should_not_have_acted', 'Should not have acted', ''],
  ['should_have_acted', 'Should have acted', ''],
];

export class HealthView {
  #root;
  #loaded = false;
  /** A bucket chosen in a plot: its exact period (the From and To fields show it to the minute). */
  #exact;

  constructor(root) {
    this.#root = root;
    $('#health-form', root).addEventListener('submit', (e) => {
      e.preventDefault();
      void this.load();
    });
    $('#health-preset', root).addEventListener('change', () => {
      this.#exact = undefined;
      this.#syncPeriod();
    });
    for (const id of ['#health-from', '#health-to']) {
      $(id, root).addEventListener('input', () => {
        this.#exact = undefined;
        $('#health-preset', root).value = 'custom';
      });
    }
  }

  async show() {
    if (!this.#loaded) this.#syncPeriod();
    await this.load();
  }

  /** A preset fills the From and To fields with its period ending now. */
  #syncPeriod() {
    const preset = $('#health-preset', this.#root).value;
    if (preset === 'custom') return;
    const to = Date.now();
    $('#health-from', this.#root).value = localInput(to - Number(preset));
    $('#health-to', this.#root).value = localInput(to);
  }

  async load() {
    const root = this.#root;
    const status = $('#health-status', root);
    const preset = $('#health-preset', root).value;
    let from;
    let to;
    if (preset === 'custom' && this.#exact) {
      ({ from, to } = this.#exact);
    } else if (preset === 'custom') {
      from = new Date($('#health-from', root).value).getTime();
      to = new Date($('#health-to', root).value).getTime();
      if (!Number.isFinite(from) || !Number.isFinite(to)) {
        status.dataset.kind = 'error';
        status.textContent = 'Give both a From and a To date and time.';
        $(Number.isFinite(from) ? '#health-to' : '#health-from', root).focus();
        return;
      }
    } else {
      to = Date.now();
      from = to - Number(preset);
      this.#syncPeriod();
    }
    const bucket = $('#health-bucket', root).value;
    const query = new URLSearchParams({ from: String(Math.round(from)), to: String(Math.round(to)), ...(bucket ? { bucketMs: bucket } : {}) });
    status.dataset.kind = '';
    status.textContent = 'Loading…';
    let report;
    try {
      report = await api(`/api/rule-health?${query}`);
    } catch (err) {
      status.dataset.kind = 'error';
      status.textContent = `Could not load rule health: ${err.message}`;
      const field = { from: '#health-from', to: '#health-to', bucketMs: '#health-bucket' }[err.issues?.[0]?.path];
      if (field) $(field, root).focus();
      return;
    }
    this.#loaded = true;
    status.textContent = `${dateTime(report.from)} to ${dateTime(report.to)}, in buckets of ${span(report.bucketMs)}${report.truncated ? '. The period held more than one answer reads: narrow it for exact figures' : ''}.`;
    const list = clear($('#health-rules', root));
    if (report.rules.length === 0) list.append(h('p', { class: 'empty' }, 'No rule is running and none fired in this period.'));
    for (const rule of report.rules) list.append(ruleCard(rule, report, (bucket) => this.#zoom(bucket, report.bucketMs)));
  }

  /** Shows one bucket of the plot alone, in finer buckets. */
  #zoom(bucket, bucketMs) {
    const root = this.#root;
    this.#exact = { from: bucket.from, to: bucket.from + bucketMs };
    $('#health-preset', root).value = 'custom';
    $('#health-from', root).value = localInput(this.#exact.from);
    $('#health-to', root).value = localInput(this.#exact.to);
    $('#health-bucket', root).value = '';
    void this.load().then(() => $('#health-title', root).focus());
  }
}

function ruleCard(rule, report, onBucket) {
  const name = rule.ruleId || 'Stretches naming no rule';
  const titleId = `health-${rule.ruleId || 'none'}`;
  const t = rule.totals;
  const wrongCalls = [...new Set([...rule.calls.should_not_have_acted.callSids, ...rule.calls.should_have_acted.callSids])];
  return h(
    'article',
    { class: 'panel health-rule', 'data-rule-id': rule.ruleId, 'aria-labelledby': titleId },
    h('h2', { id: titleId }, name, rule.running || !rule.ruleId ? null : h('span', { class: 'badge subtle' }, 'no longer running')),
    rule.description ? h('p', { class: 'hint health-description' }, rule.description) : null,
    h(
      'div',
      { class: 'health-body' },
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'data health-table' },
          h('caption', { class: 'visually-hidden' }, `${name}: figures over the period and the calls behind them`),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Figure'), h('th', { scope: 'col', class: 'num' }, 'Count'), h('th', { scope: 'col' }, 'Calls'))),
          h(
            'tbody',
            {},
            FIGURES.map(([key, label, help]) =>
              h('tr', { 'data-figure': key }, h('th', { scope: 'row', title: help || null }, label), h('td', { class: 'num' }, String(t[key])), h('td', {}, callLinks(rule.calls[key]))),
            ),
            h(
              'tr',
              { 'data-figure': 'wrong' },
              h('th', { scope: 'row' }, 'Marked wrong'),
              h('td', { class: 'num' }, t.wrongShare === null ? '—' : `${Math.round(t.wrongShare * 100)}%`),
              h('td', {}, callLinks({ count: wrongCalls.length, callSids: wrongCalls })),
            ),
          ),
        ),
      ),
      h('figure', { class: 'health-plot' }, healthPlot(rule.buckets, report, name, { onBucket }), plotLegend()),
    ),
  );
}

function callLinks({ count, callSids }) {
  if (count === 0) return h('span', { class: 'none' }, '—');
  return h(
    'span',
    { class: 'health-calls' },
    callSids.map((sid) => h('a', { href: `#/calls/${encodeURIComponent(sid)}`, class: 'mono', title: sid, 'aria-label': `call ${sid}` }, shortSid(sid))),
    count > callSids.length ? h('span', { class: 'hint' }, ` and ${count - callSids.length} more: narrow the period`) : null,
  );
}

/**
 * Bars of hits (light) and actions (dark) per bucket on a count axis; the share marked wrong as dots on a 0–100%
 * axis, only where there were verdicts. The SVG scales to its box; its label says the gist for screen readers.
 */
export function healthPlot(buckets, report, name, { width = 520, height = 150, onBucket } = {}) {
  const pad = { top: 10, right: 34, bottom: 18, left: 28 };
  const w = width - pad.left - pad.right;
  const hgt = height - pad.top - pad.bottom;
  const n = Math.max(1, buckets.length);
  const top = Math.max(1, ...buckets.map((b) => b.hits));
  const slot = w / n;
  const x = (i) => pad.left + i * slot;
  const y = (v) => pad.top + (1 - v / top) * hgt;
  const yShare = (v) => pad.top + (1 - v) * hgt;
  const hits = buckets.reduce((a, b) => a + b.hits, 0);
  const judged = buckets.filter((b) => b.wrongShare !== null);
  const busiest = buckets.reduce((m, b) => (b.hits > (m?.hits ?? 0) ? b : m), undefined);
  const summary = `${name}: ${hits} hits over ${buckets.length} buckets${busiest ? `, most (${busiest.hits}) from ${dateTime(busiest.from)}` : ''}; ${judged.length ? `verdicts in ${judged.length} buckets` : 'no verdicts'}`;

  // A group, not an img: the buckets inside are buttons, which an img would hide from assistive technology.
  const svg = s('svg', { class: 'health-chart', viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': summary, 'data-hits': hits, 'data-buckets': buckets.length });
  svg.append(s('title', {}, summary));
  for (const v of [0, top]) {
    svg.append(s('line', { class: 'grid', x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }), s('text', { class: 'axis', x: pad.left - 4, y: y(v) + 3, 'text-anchor': 'end' }, String(v)));
  }
  svg.append(s('text', { class: 'axis', x: width - pad.right + 4, y: yShare(1) + 3 }, '100%'), s('text', { class: 'axis', x: width - pad.right + 4, y: yShare(0) + 3 }, '0%'));
  buckets.forEach((b, i) => {
    const when = dateTime(b.from);
    if (b.hits > 0) svg.append(s('rect', { class: 'bar-hits', x: x(i) + slot * 0.1, y: y(b.hits), width: Math.max(1, slot * 0.8), height: y(0) - y(b.hits) }, s('title', {}, `${when}: ${b.hits} hits`)));
    if (b.actions > 0) svg.append(s('rect', { class: 'bar-actions', x: x(i) + slot * 0.3, y: y(b.actions), width: Math.max(1, slot * 0.4), height: y(0) - y(b.actions) }, s('title', {}, `${when}: ${b.actions} actions`)));
  });
  // A bucket with something in it can be shown alone: click it, or Tab to it and press Enter.
  if (onBucket && report.bucketMs >= 120_000) {
    buckets.forEach((b, i) => {
      if (b.hits + b.right + b.should_not_have_acted + b.should_have_acted === 0) return;
      const open = () => onBucket(b);
      svg.append(
        s('rect', {
          class: 'bucket-target',
          x: x(i),
          y: pad.top,
          width: slot,
          height: hgt,
          tabindex: 0,
          role: 'button',
          'aria-label': `Zoom in on ${dateTime(b.from)} to ${dateTime(b.from + report.bucketMs)} (${b.hits} hits)`,
          onclick: open,
          onkeydown: (e) => {
            if (e.key === 'Enter' || e.key === ' ') {
              e.preventDefault();
              open();
            }
          },
        }, s('title', {}, `${dateTime(b.from)}: ${b.hits} hits, ${b.actions} actions; click to zoom in on it`)),
      );
    });
  }
  const points = buckets.map((b, i) => ({ b, i })).filter(({ b }) => b.wrongShare !== null);
  if (points.length > 1) {
    svg.append(s('path', { class: 'line-wrong', d: points.map(({ b, i }, k) => `${k ? 'L' : 'M'}${(x(i) + slot / 2).toFixed(1)},${yShare(b.wrongShare).toFixed(1)}`).join(' ') }));
  }
  for (const { b, i } of points) {
    const verdicts = b.right + b.should_not_have_acted + b.should_have_acted;
    svg.append(s('circle', { class: 'dot-wrong', cx: x(i) + slot / 2, cy: yShare(b.wrongShare), r: 3.5 }, s('title', {}, `${dateTime(b.from)}: ${Math.round(b.wrongShare * 100)}% of ${verdicts} verdicts marked wrong`)));
  }
  svg.append(
    s('text', { class: 'axis', x: pad.left, y: height - 4 }, shortTime(report.from, report.to - report.from)),
    s('text', { class: 'axis', x: width - pad.right, y: height - 4, 'text-anchor': 'end' }, shortTime(report.to, report.to - report.from)),
  );
  return svg;
}

function plotLegend() {
  return h(
    'figcaption',
    { class: 'chart-legend' },
    h('span', { class: 'legend-item' }, h('span', { class: 'legend-swatch swatch-hits', 'aria-hidden': 'true' }), ' hits'),
    h('span', { class: 'legend-item' }, h('span', { class: 'legend-swatch swatch-actions', 'aria-hidden': 'true' }), ' actions'),
    h('span', { class: 'legend-item' }, h('span', { class: 'legend-swatch swatch-wrong', 'aria-hidden': 'true' }), ' share marked wrong (right axis)'),
  );
}

const pad2 = (n) => String(n).padStart(2, '0');

/** A datetime-local input's value for an epoch ms, in the browser's time zone. */
function localInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

function shortTime(ms, period) {
  const d = new Date(ms);
  return period > 2 * 86_400_000 ? d.toLocaleDateString([], { month: 'short', day: 'numeric' }) : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function span(ms) {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} day${ms === 86_400_000 ? '' : 's'}`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} hour${ms === 3_600_000 ? '' : 's'}`;
  if (ms % 60_000 === 0) return `${ms / 60_000} minute${ms === 60_000 ? '' : 's'}`;
  return `${Math.round(ms / 1000)} s`;
}
