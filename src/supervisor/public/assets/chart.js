// The frustration trend of a call as an inline SVG line chart: one point per caller assessment, dashed
// lines at the thresholds of the enabled frustration rules, so a supervisor sees how close a call is to a handoff.
import { h, s } from './dom.js';

/**
 * points: [{ at, frustration, wantsHuman?, sensitive? }] in time order.
 * thresholds: [{ value, ruleId }].
 */
/**
 * `endLabel`: what the right end of the time axis is ("now" while the call is monitored; "end of call" once it ended).
 */
export function trendChart(points, { thresholds = [], width = 320, height = 110, title = 'Frustration', emptyText = 'waiting for the caller', endLabel = 'now' } = {}) {
  const pad = { top: 8, right: 10, bottom: 16, left: 26 };
  const w = width - pad.left - pad.right;
  const hgt = height - pad.top - pad.bottom;
  const x = (i) => pad.left + (points.length <= 1 ? w / 2 : (i / (points.length - 1)) * w);
  const y = (v) => pad.top + (1 - clamp(v)) * hgt;

  const latest = points.at(-1)?.frustration;
  const peak = points.reduce((m, p) => Math.max(m, p.frustration), 0);
  const summary = points.length
    ? `${title} trend over ${points.length} assessments: latest ${fmt(latest)}, peak ${fmt(peak)}` +
      (thresholds.length ? `; handoff threshold ${thresholds.map((t) => fmt(t.value)).join(', ')}` : '')
    : `${title}: no assessment yet`;

  const svg = s('svg', {
    class: 'trend-chart',
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': summary,
    'data-points': points.length,
    'data-latest': latest === undefined ? '' : latest.toFixed(2),
  });
  svg.append(s('title', {}, summary));

  for (const v of [0, 0.5, 1]) {
    svg.append(
      s('line', { class: 'grid', x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }),
      s('text', { class: 'axis', x: pad.left - 4, y: y(v) + 3, 'text-anchor': 'end' }, v.toFixed(1)),
    );
  }
  for (const t of thresholds) {
    svg.append(
      s('line', { class: 'threshold', x1: pad.left, x2: width - pad.right, y1: y(t.value), y2: y(t.value) }, s('title', {}, `${t.ruleId}: at least ${fmt(t.value)}`)),
    );
  }
  if (points.length === 0) {
    svg.append(s('text', { class: 'axis empty', x: pad.left + w / 2, y: pad.top + hgt / 2 + 4, 'text-anchor': 'middle' }, emptyText));
    return svg;
  }

  const line = points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.frustration).toFixed(1)}`).join(' ');
  const area = `${line} L${x(points.length - 1).toFixed(1)},${y(0)} L${x(0).toFixed(1)},${y(0)} Z`;
  svg.append(s('path', { class: 'area', d: area }), s('path', { class: 'line', d: line }));

  const top = Math.min(...thresholds.map((t) => t.value), Infinity);
  points.forEach((p, i) => {
    const flagged = p.wantsHuman || (p.sensitive?.length ?? 0) > 0;
    const hot = p.frustration >= top;
    // Only the points a supervisor should notice get a marker; the rest is the line.
    if (!flagged && !hot && i !== points.length - 1) return;
    const cls = ['dot', hot && 'hot', p.wantsHuman && 'wants-human', p.sensitive?.length && 'sensitive'].filter(Boolean).join(' ');
    const notes = [p.wantsHuman && 'asks for a person', p.sensitive?.length && `sensitive: ${p.sensitive.join(', ')}`].filter(Boolean).join('; ');
    svg.append(s('circle', { class: cls, cx: x(i), cy: y(p.frustration), r: i === points.length - 1 ? 4 : 3 }, s('title', {}, `${fmt(p.frustration)}${notes ? ` (${notes})` : ''}`)));
  });
  svg.append(s('text', { class: 'axis', x: pad.left, y: height - 3 }, 'earlier'), s('text', { class: 'axis', x: width - pad.right, y: height - 3, 'text-anchor': 'end' }, endLabel));
  return svg;
}

/** What the dashed lines are: one entry per threshold value, naming the rules that hand off at it. */
export function chartLegend(thresholds) {
  if (!thresholds.length) return h('p', { class: 'chart-legend' }, 'No frustration rule is enabled: no threshold line.');
  const byValue = new Map();
  for (const t of thresholds) byValue.set(t.value, [...(byValue.get(t.value) ?? []), t.ruleId]);
  return h(
    'p',
    { class: 'chart-legend' },
    [...byValue].map(([value, rules]) =>
      h('span', { class: 'legend-item' }, h('span', { class: 'legend-threshold', 'aria-hidden': 'true' }), ` threshold ${fmt(value)} (${rules.join(', ')})`),
    ),
  );
}

/** Frustration thresholds of the enabled rules, including those inside all/any conditions. */
export function frustrationThresholds(rules) {
  const out = [];
  const walk = (c, ruleId) => {
    if (!c) return;
    if (c.type === 'frustration' && typeof c.atLeast === 'number') out.push({ value: c.atLeast, ruleId });
    if (c.type === 'all' || c.type === 'any') for (const sub of c.of ?? []) walk(sub, ruleId);
  };
  for (const r of rules ?? []) if (r.enabled !== false) walk(r.when, r.id);
  return out;
}

const clamp = (v) => Math.max(0, Math.min(1, Number(v) || 0));
const fmt = (v) => (v === undefined ? '—' : clamp(v).toFixed(2));
