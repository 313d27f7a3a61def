// Call history (recent and live calls) and one call's audit view: redacted transcript, frustration trend,
// decisions with their outcomes, and every audit entry.
import { api } from './api.js';
import { chartLegend, frustrationThresholds, trendChart } from './chart.js';
import { $, clear, clockTime, dateTime, duration, h, shortSid, stateBadge, TRACK_LABELS } from './dom.js';
import { Verdicts } from './verdicts.js';

/**
 * One shape for a decision whether it comes from the feed, from GET /api/calls/:sid `decisions`, or from an
 * audit entry of kind `decision` (where the fields sit under `data`).
 */
export function normaliseDecision(d) {
  const data = d.data ?? {};
  const action = d.action ?? data.action;
  return {
    decisionId: d.decisionId ?? d.id ?? data.decisionId,
    ruleId: d.ruleId ?? d.rule?.id ?? data.ruleId ?? d.actor,
    action: typeof action === 'string' ? action : action?.type,
    mode: d.mode ?? data.mode,
    reason: d.reason ?? data.reason ?? '',
    note: d.note ?? data.note,
    at: d.at ?? d.timings?.decidedAt ?? data.timings?.decidedAt,
    result: d.result ?? d.outcome?.result,
    detail: d.detail ?? d.outcome?.detail,
  };
}

export class CallsView {
  #root;

  constructor(root) {
    this.#root = root;
    $('#calls-refresh', root).addEventListener('click', () => this.show());
  }

  async show() {
    const status = $('#calls-status', this.#root);
    status.textContent = 'Loading…';
    try {
      const [live, recent] = await Promise.all([api('/api/calls?state=live&limit=50'), api('/api/calls?state=recent&limit=50')]);
      const bySid = new Map();
      for (const c of [...(live.calls ?? []), ...(recent.calls ?? [])]) bySid.set(c.callSid, c);
      const calls = [...bySid.values()].sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0));
      const body = clear($('#calls-body', this.#root));
      for (const c of calls) body.append(callRow(c));
      status.textContent = calls.length ? `${calls.length} calls` : 'No calls yet.';
    } catch (err) {
      status.textContent = `Could not load calls: ${err.message}`;
    }
  }
}

function callRow(c) {
  const length = c.startedAt ? (c.endedAt ?? Date.now()) - c.startedAt : undefined;
  return h(
    'tr',
    { 'data-call-sid': c.callSid },
    h('th', { scope: 'row' }, h('a', { href: `#/calls/${encodeURIComponent(c.callSid)}`, title: c.callSid, class: 'mono' }, shortSid(c.callSid))),
    h('td', {}, stateBadge(c.state), c.degraded ? h('span', { class: 'badge degraded' }, 'degraded') : null),
    h('td', {}, dateTime(c.startedAt)),
    h('td', {}, c.endedAt ? duration(length) : `${duration(length)} so far`),
    h('td', { class: 'mono' }, c.from ?? '—'),
    h('td', { class: 'mono' }, c.to ?? '—'),
    h('td', { class: 'num' }, typeof c.lastFrustration === 'number' ? c.lastFrustration.toFixed(2) : '—'),
  );
}

export class AuditView {
  #root;
  #callSid;
  #entries = [];
  #rules = [];
  #verdicts;

  constructor(root) {
    this.#root = root;
    this.#verdicts = new Verdicts(root);
    $('#audit-refresh', root).addEventListener('click', () => this.show(this.#callSid));
    $('#audit-kind', root).addEventListener('change', () => this.#drawEntries());
  }

  setRules(rules) {
    this.#rules = rules ?? [];
    this.#verdicts.setRules(this.#rules);
  }

  async show(callSid) {
    if (callSid !== this.#callSid) this.#verdicts.reset();
    this.#callSid = callSid;
    const root = this.#root;
    $('#audit-title', root).textContent = `Call ${shortSid(callSid)}`;
    $('#audit-title', root).title = callSid;
    $('#audit-crumb', root).textContent = shortSid(callSid);
    const status = $('#audit-status', root);
    status.textContent = 'Loading…';
    let detail;
    try {
      detail = await api(`/api/calls/${encodeURIComponent(callSid)}`);
    } catch (err) {
      status.textContent = err.status === 404 ? `No call ${callSid} is known to the service.` : `Could not load the call: ${err.message}`;
      for (const id of ['#audit-facts', '#audit-transcript', '#audit-decisions', '#audit-body', '#audit-chart']) clear($(id, root));
      $('#audit-state', root).replaceChildren();
      return;
    }
    status.textContent = '';
    const call = detail.call ?? { callSid };
    $('#audit-state', root).replaceChildren(stateBadge(call.state ?? call.status), call.degraded ? h('span', { class: 'badge degraded' }, `Degraded${typeof call.degraded === 'string' ? `: ${call.degraded}` : ''}`) : '');
    $('#audit-live-link', root).hidden = call.live === undefined ? Boolean(call.endedAt) : !call.live;
    $('#audit-live-link', root).href = `#/live/${encodeURIComponent(callSid)}`;
    this.#drawFacts(call, detail);
    this.#drawTranscript(detail.transcript ?? []);
    const thresholds = frustrationThresholds(this.#rules);
    const endLabel = call.endedAt ? 'end of call' : call.state === 'handed_off' ? 'handed off' : 'now';
    $('#audit-chart', root).replaceChildren(
      trendChart(detail.assessments ?? [], { thresholds, width: 520, height: 160, emptyText: 'no caller turn was assessed', endLabel }),
      chartLegend(thresholds),
    );
    this.#drawDecisions(detail);
    void this.#verdicts.show(callSid, detail);
    this.#entries = detail.audit ?? [];
    const kinds = [...new Set(this.#entries.map((e) => e.kind))].sort();
    const select = $('#audit-kind', root);
    const chosen = select.value;
    select.replaceChildren(h('option', { value: '' }, 'every kind'), ...kinds.map((k) => h('option', { value: k, selected: k === chosen }, k)));
    this.#drawEntries();
  }

  #drawFacts(call, detail) {
    const last = (detail.assessments ?? []).at(-1)?.frustration ?? call.lastFrustration;
    const peak = Math.max(...(detail.assessments ?? []).map((a) => a.frustration), -Infinity);
    const facts = [
      ['Call SID', h('span', { class: 'mono' }, call.callSid)],
      ['From', h('span', { class: 'mono' }, call.from ?? '—')],
      ['To', h('span', { class: 'mono' }, call.to ?? '—')],
      ['Started', dateTime(call.startedAt)],
      ['Ended', call.endedAt ? dateTime(call.endedAt) : 'still live'],
      ['Length', call.startedAt ? duration((call.endedAt ?? Date.now()) - call.startedAt) : '—'],
      ['Frustration', typeof last === 'number' ? `${last.toFixed(2)} ${call.endedAt ? 'at the end' : 'now'}${peak > -Infinity ? `, ${peak.toFixed(2)} at peak` : ''}` : '—'],
      ...(call.lastFailure ? [['Last action', h('span', { class: 'result-failed', 'data-alert': call.lastFailure.kind }, call.lastFailure.reason)]] : []),
    ];
    $('#audit-facts', this.#root).replaceChildren(...facts.map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))));
  }

  #drawTranscript(lines) {
    const list = clear($('#audit-transcript', this.#root));
    if (lines.length === 0) list.append(h('li', { class: 'none' }, 'No transcript stored.'));
    for (const l of lines) {
      list.append(
        h('li', { class: `turn turn-${l.track}` }, h('span', { class: 'who' }, TRACK_LABELS[l.track] ?? l.track), ' ', h('span', { class: 'text' }, l.text), h('time', { class: 'when' }, clockTime(l.at))),
      );
    }
  }

  #drawDecisions(detail) {
    const outcomes = new Map();
    for (const e of detail.audit ?? []) if (e.kind === 'outcome' && e.decisionId) outcomes.set(e.decisionId, e.data ?? {});
    const list = clear($('#audit-decisions', this.#root));
    const decisions = (detail.decisions ?? []).map(normaliseDecision);
    if (decisions.length === 0) list.append(h('li', { class: 'none' }, 'No rule fired and no supervisor acted.'));
    for (const d of decisions) {
      const o = outcomes.get(d.decisionId) ?? (d.result ? { result: d.result, detail: d.detail } : undefined);
      list.append(
        h(
          'li',
          { class: `hit ${d.mode === 'observe' ? 'hit-observe' : ''}`, 'data-rule-id': d.ruleId, 'data-decision-id': d.decisionId },
          h('span', { class: 'hit-rule' }, d.ruleId === 'manual' ? 'Supervisor' : d.ruleId),
          ' ',
          h('span', { class: 'hit-action' }, d.action ?? ''),
          d.mode === 'observe' ? h('span', { class: 'badge subtle' }, 'observe only') : null,
          d.note && d.note !== 'observe' ? h('span', { class: 'badge subtle' }, d.note) : null,
          o ? h('span', { class: `hit-result result-${o.result}`, title: o.detail ?? '' }, o.result) : null,
          h('span', { class: 'hit-reason' }, [clockTime(d.at), d.reason, o?.detail].filter(Boolean).join(' · ')),
        ),
      );
    }
  }

  #drawEntries() {
    const kind = $('#audit-kind', this.#root).value;
    const body = clear($('#audit-body', this.#root));
    const entries = kind ? this.#entries.filter((e) => e.kind === kind) : this.#entries;
    if (entries.length === 0) body.append(h('tr', {}, h('td', { colspan: 4, class: 'none' }, 'No entries.')));
    for (const e of entries) {
      body.append(
        h(
          'tr',
          { 'data-kind': e.kind },
          h('td', { class: 'mono nowrap' }, clockTime(e.at)),
          h('td', {}, h('span', { class: `kind kind-${e.kind}` }, e.kind)),
          h('td', { class: 'mono' }, e.actor ?? ''),
          h('td', {}, h('span', {}, describeEntry(e)), h('details', {}, h('summary', {}, 'data'), h('pre', {}, JSON.stringify(e.data ?? {}, null, 2)))),
        ),
      );
    }
  }
}

/** One line a supervisor can read for each kind of audit entry; the raw data stays one click away. */
export function describeEntry(e) {
  const d = e.data ?? {};
  switch (e.kind) {
    case 'assessment':
      return [
        `frustration ${num(d.frustration)}`,
        `sentiment ${num(d.sentiment)}`,
        d.wantsHuman ? 'asks for a person' : null,
        d.sensitive?.length ? `sensitive: ${d.sensitive.join(', ')}` : null,
        d.fallback ? `fallback: ${d.fallback}` : null,
      ]
        .filter(Boolean)
        .join(', ');
    case 'decision': {
      const action = typeof d.action === 'string' ? d.action : d.action?.type;
      return `${d.ruleId ?? '?'} → ${action ?? '?'} (${d.mode ?? 'enforce'}${d.note ? `, ${d.note}` : ''}): ${d.reason ?? ''}`;
    }
    case 'attempt':
      return `${d.step ?? 'request'}, attempt ${d.attempt ?? '?'}: ${d.ok ? 'ok' : `failed${d.status ? ` (${d.status})` : ''}${d.error ? ` ${d.error}` : ''}`}${typeof d.ms === 'number' ? `, ${Math.round(d.ms)} ms` : ''}`;
    case 'outcome':
      return `${d.result ?? '?'}${d.detail ? `: ${d.detail}` : ''}`;
    case 'gate':
      return `${d.open ? 'transcription resumed' : 'transcription paused'}${d.reason ? `: ${d.reason}` : ''}`;
    case 'transcriber':
      return `transcriber ${d.state ?? ''}${d.reason ? `: ${d.reason}` : ''}`;
    case 'call':
      return `call ${d.event ?? ''}${d.why ? `: ${d.why}` : ''}${d.state ? ` (${d.state})` : ''}`;
    case 'supervisor': {
      const outcome = d.outcome && typeof d.outcome === 'object' ? d.outcome.result : undefined;
      const what = d.change ?? outcome ?? (d.status ? `answered ${d.status}` : '');
      return `${d.request ?? 'request'}${what ? `: ${what}` : ''}`;
    }
    default:
      return Object.keys(d).length ? JSON.stringify(d).slice(0, 160) : '';
  }
}

const num = (v) => (typeof v === 'number' ? v.toFixed(2) : '—');
