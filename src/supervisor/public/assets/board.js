// The live board: one dense row per live call, ranked by what needs a supervisor now (a failed action, then
// frustration rising, degraded transcription, paused, then the rest), with counts by state, filters (state, rule
// hit, a custom parameter such as tenant) and keyboard moves (↑ ↓ / j k, Home End, Enter opens the call).
// Live events update the calls' data at once and the page at most once per animation frame: only the rows that
// changed are rewritten, and rows move only when a call's rank changes. Hundreds of calls stay smooth.
import { clockTime, h, shortSid, STATE_LABELS } from './dom.js';

/** Ranks, most urgent first; a call's rank is the first that applies to it. */
export const RANKS = ['failed', 'rising', 'degraded', 'paused', 'monitoring', 'handed_off', 'ended'];

const RANK_WORDS = {
  failed: 'action failed',
  rising: 'frustration rising',
  degraded: 'degraded',
  paused: 'paused',
  monitoring: 'monitoring',
  handed_off: 'handed off',
  ended: 'ended',
};

/** Needs attention: what the "needs attention" filter keeps. */
const ATTENTION = new Set(['failed', 'rising', 'degraded', 'paused']);

/** Frustration at or above this share of the lowest handoff threshold counts as rising. */
const RISING_SHARE = 0.7;

const ACTION_VERBS = { handoff: 'hand off', pause: 'pause', end_call: 'end call', alert: 'alert' };

/** What the board knows of one call: filled from the call list and kept current by live events. */
class CallRow {
  state = 'monitoring';
  degraded = undefined;
  ended = false;
  /** { kind, action, reason, at, decisionId? } while the call's latest action failed and none succeeded since. */
  alert = undefined;
  pausedUntil = undefined;
  frustration = undefined;
  previousFrustration = undefined;
  lastWords = undefined;
  lastHit = undefined;
  /** Rule ids that acted or recorded a hit on this call. */
  rules = new Set();
  params = {};
  from = null;
  /** The `at` of the latest event shown in the row. */
  at = 0;
  /** Known from the call list (its parameters, start); until then only from events. */
  summarised = false;
  stateFromFeed = false;

  constructor(callSid) {
    this.callSid = callSid;
    this.startedAt = Date.now();
  }

  get isOver() {
    return this.ended || this.state === 'ended';
  }

  /** A call that is over needs nobody now, even if an action on it failed: its row says so, at the bottom. */
  rank(risingAt) {
    if (this.isOver) return 'ended';
    if (this.alert) return 'failed';
    if (this.state === 'monitoring') {
      if (this.frustration !== undefined && this.frustration >= risingAt) return 'rising';
      if (this.degraded) return 'degraded';
      return 'monitoring';
    }
    return this.state;
  }
}

export class Board {
  /** @type {Map<string, CallRow>} */
  #rows = new Map();
  /** Row elements by call SID. */
  #els = new Map();
  #dirty = new Set();
  #reorder = false;
  #frame = 0;
  #risingAt = RISING_SHARE * 0.7;
  #knownRules = new Set();
  #filter = { state: '', rule: '', param: '' };
  #selected = undefined;
  #list;
  #counts;
  #shown;
  #empty;
  #ruleSelect;
  #onOpen;
  #onUnknown;

  /**
   * `onOpen(callSid)`: Enter or a click on a row. `onUnknown()`: a call appeared in the feed that the call list has
   * not described yet (its parameters, start): the caller lists the calls again, at most now and then.
   */
  constructor(root, { onOpen, onUnknown }) {
    this.#list = root.querySelector('#board-list');
    this.#counts = root.querySelector('#board-counts');
    this.#shown = root.querySelector('#board-shown');
    this.#empty = root.querySelector('#live-empty');
    this.#ruleSelect = root.querySelector('#board-filter-rule');
    this.#onOpen = onOpen;
    this.#onUnknown = onUnknown;
    this.#list.addEventListener('keydown', (e) => this.#onKey(e));
    this.#list.addEventListener('click', (e) => {
      const el = e.target.closest('[role="option"]');
      if (!el) return;
      this.select(el.dataset.callSid);
      this.#onOpen(el.dataset.callSid);
    });
    // Focus on the list shows where the cursor is: the selected row, or the first one.
    this.#list.addEventListener('focus', () => {
      if (!this.#selected || !this.#visible(this.#selected)) this.select(this.#visibleSids()[0]);
    });
    const state = root.querySelector('#board-filter-state');
    const param = root.querySelector('#board-filter-param');
    state.addEventListener('change', () => this.setFilter({ state: state.value }));
    this.#ruleSelect.addEventListener('change', () => this.setFilter({ rule: this.#ruleSelect.value }));
    param.addEventListener('input', () => this.setFilter({ param: param.value }));
    const item = (key, words, cls) => h('li', { 'data-count': key, class: cls }, h('strong', {}, '0'), ` ${words}`);
    this.#counts.replaceChildren(
      item('failed', 'action failed', 'count-alarm'),
      item('rising', 'frustration rising', 'count-alarm'),
      item('degraded', 'degraded', 'count-alarm'),
      ...['monitoring', 'paused', 'handed_off', 'ended'].map((s) => item(s, STATE_LABELS[s].toLowerCase(), `count-${s}`)),
    );
    this.#drawCounts();
  }

  get size() {
    return this.#rows.size;
  }

  /** The handoff thresholds of the running rules: frustration near the lowest one counts as rising. */
  setThresholds(thresholds, rules = []) {
    const lowest = Math.min(...thresholds.map((t) => t.value), 0.7);
    this.#risingAt = RISING_SHARE * lowest;
    for (const r of rules) this.#learnRule(r.id);
    this.#all();
  }

  /** One live event (src/bus/types.ts): the call's data changes now, its row at the next frame. */
  handle(event) {
    const row = this.#row(event.callSid);
    const before = row.rank(this.#risingAt);
    switch (event.type) {
      case 'call':
        row.stateFromFeed = true;
        this.#setState(row, event.state, event.degraded, event.pausedUntil);
        break;
      case 'gate':
        row.stateFromFeed = true;
        this.#setState(row, event.open ? 'monitoring' : 'paused', row.degraded, event.open ? undefined : row.pausedUntil);
        break;
      case 'utterance':
        if (event.final) row.lastWords = { track: event.track, text: event.text };
        break;
      case 'assessment':
        row.previousFrustration = row.frustration;
        row.frustration = event.frustration;
        break;
      case 'decision':
        row.lastHit = { ruleId: event.ruleId, action: event.action, mode: event.mode, decisionId: event.decisionId, at: event.at };
        if (event.ruleId && event.ruleId !== 'manual') {
          row.rules.add(event.ruleId);
          this.#learnRule(event.ruleId);
        }
        break;
      case 'outcome':
        // The same action done since a failure (a take over after a failed handoff): the alarm is over.
        if (event.result === 'done' && row.alert && event.decisionId !== row.alert.decisionId && (event.at ?? 0) > row.alert.at) {
          if (row.lastHit?.decisionId === event.decisionId && row.lastHit.action === row.alert.action) row.alert = undefined;
        }
        break;
      case 'alert':
        if (!row.alert || row.alert.at <= event.at) row.alert = { kind: event.kind, action: event.action, reason: event.reason, at: event.at, decisionId: event.decisionId };
        break;
      default:
        return;
    }
    if (typeof event.at === 'number' && event.at > row.at) row.at = event.at;
    this.#changed(row, before);
  }

  /** From GET /api/calls: what the feed does not say (parameters, numbers, start); a snapshot never undoes newer feed state. */
  setSummary(c) {
    const row = this.#row(c.callSid, { known: true });
    const before = row.rank(this.#risingAt);
    row.summarised = true;
    row.startedAt = c.startedAt ?? row.startedAt;
    row.from = c.from ?? null;
    row.params = c.customParameters ?? {};
    if (c.endedAt) row.ended = true;
    if (row.frustration === undefined && typeof c.lastFrustration === 'number') row.frustration = c.lastFrustration;
    for (const hit of c.ruleHits ?? []) {
      row.rules.add(hit.ruleId);
      this.#learnRule(hit.ruleId);
    }
    // After a reload the feed has said nothing yet: the latest rule that fired, by name (its action comes with the next).
    const latest = c.ruleHits?.[0];
    if (latest && (!row.lastHit || row.lastHit.at < latest.at)) row.lastHit = { ruleId: latest.ruleId, at: latest.at };
    if (c.lastFailure && !row.alert) row.alert = { ...c.lastFailure };
    if (!row.stateFromFeed || c.state === 'ended' || c.endedAt) this.#setState(row, c.state, c.degraded, c.pausedUntil ?? undefined);
    this.#reorder = true;
    this.#changed(row, before);
  }

  /** Forgets the calls that are over (ended or handed off). */
  hideFinished() {
    for (const [sid, row] of this.#rows) {
      if (row.isOver || row.state === 'handed_off') {
        this.#rows.delete(sid);
        this.#els.get(sid)?.remove();
        this.#els.delete(sid);
        this.#dirty.delete(sid);
      }
    }
    if (this.#selected && !this.#rows.has(this.#selected)) this.#selected = undefined;
    this.#drawCounts();
  }

  hasFinished() {
    for (const row of this.#rows.values()) if (row.isOver || row.state === 'handed_off') return true;
    return false;
  }

  reset() {
    cancelAnimationFrame(this.#frame);
    this.#frame = 0;
    this.#rows.clear();
    this.#els.clear();
    this.#dirty.clear();
    this.#selected = undefined;
    this.#list.replaceChildren();
    this.#list.removeAttribute('aria-activedescendant');
    this.#drawCounts();
  }

  setFilter(change) {
    Object.assign(this.#filter, change);
    for (const [sid, el] of this.#els) el.hidden = !this.#matches(this.#rows.get(sid));
    if (this.#selected && !this.#visible(this.#selected)) this.select(this.#visibleSids()[0]);
    this.#drawCounts();
  }

  /** Puts the cursor on a call's row (it stays with the call when rows move). */
  select(callSid) {
    const old = this.#selected && this.#els.get(this.#selected);
    if (old) old.setAttribute('aria-selected', 'false');
    this.#selected = callSid;
    const el = callSid && this.#els.get(callSid);
    if (!el) {
      this.#list.removeAttribute('aria-activedescendant');
      return;
    }
    el.setAttribute('aria-selected', 'true');
    this.#list.setAttribute('aria-activedescendant', el.id);
    el.scrollIntoView({ block: 'nearest' });
  }

  /** Back from a call's detail: the list has the keyboard again, on that call. */
  focus(callSid = this.#selected) {
    this.#flush();
    if (callSid && this.#els.has(callSid)) this.select(callSid);
    this.#list.focus({ preventScroll: true });
    if (this.#selected) this.#els.get(this.#selected)?.scrollIntoView({ block: 'nearest' });
  }

  #row(callSid, { known = false } = {}) {
    let row = this.#rows.get(callSid);
    if (!row) {
      row = new CallRow(callSid);
      this.#rows.set(callSid, row);
      this.#reorder = true;
      if (!known) this.#onUnknown();
    }
    return row;
  }

  #setState(row, state, degraded, pausedUntil) {
    if (state) row.state = state;
    if (state === 'ended') row.ended = true;
    row.degraded = typeof degraded === 'string' ? degraded : degraded ? 'degraded' : undefined;
    row.pausedUntil = row.state === 'paused' && typeof pausedUntil === 'number' ? pausedUntil : undefined;
  }

  #learnRule(ruleId) {
    if (!ruleId || this.#knownRules.has(ruleId)) return;
    this.#knownRules.add(ruleId);
    const options = [...this.#ruleSelect.options].slice(1).map((o) => o.value);
    const at = [...options, ruleId].sort().indexOf(ruleId);
    this.#ruleSelect.insertBefore(h('option', { value: ruleId }, ruleId), this.#ruleSelect.options[at + 1] ?? null);
  }

  #changed(row, rankBefore) {
    this.#dirty.add(row.callSid);
    if (row.rank(this.#risingAt) !== rankBefore) this.#reorder = true;
    this.#frame ||= requestAnimationFrame(() => this.#flush());
  }

  #all() {
    for (const sid of this.#rows.keys()) this.#dirty.add(sid);
    this.#reorder = true;
    this.#frame ||= requestAnimationFrame(() => this.#flush());
  }

  /** Once a frame at most: rewrite the rows that changed, move the ones whose rank changed, recount. */
  #flush() {
    cancelAnimationFrame(this.#frame);
    this.#frame = 0;
    if (this.#dirty.size === 0 && !this.#reorder) return;
    for (const sid of this.#dirty) {
      const row = this.#rows.get(sid);
      if (row) this.#draw(row);
    }
    this.#dirty.clear();
    if (this.#reorder) this.#order();
    this.#reorder = false;
    this.#drawCounts();
  }

  /** Puts the rows in rank order, moving only those out of place. */
  #order() {
    const order = RANKS.reduce((m, r, i) => m.set(r, i), new Map());
    const sorted = [...this.#rows.values()].sort((a, b) => {
      const ra = order.get(a.rank(this.#risingAt));
      const rb = order.get(b.rank(this.#risingAt));
      if (ra !== rb) return ra - rb;
      // Failures: the latest on top. Otherwise the newest call first, so calls already watched do not move.
      if (a.alert && b.alert && a.alert.at !== b.alert.at) return b.alert.at - a.alert.at;
      return b.startedAt - a.startedAt || (a.callSid < b.callSid ? -1 : 1);
    });
    let at = this.#list.firstElementChild;
    for (const row of sorted) {
      const el = this.#els.get(row.callSid);
      if (el === at) at = at.nextElementSibling;
      else this.#list.insertBefore(el, at);
    }
  }

  #draw(row) {
    let el = this.#els.get(row.callSid);
    if (!el) {
      el = rowElement(row.callSid);
      this.#els.set(row.callSid, el);
      el.hidden = !this.#matches(row);
      if (!this.#selected) this.select(row.callSid);
    }
    const rank = row.rank(this.#risingAt);
    const d = el.dataset;
    if (d.rank !== rank) d.rank = rank;
    if (d.state !== row.state) d.state = row.state;
    if (rank === 'failed') d.alert = row.alert.kind;
    else delete d.alert;
    if (d.at !== String(row.at)) d.at = String(row.at);
    const parts = el._parts;
    setText(parts.state, rank === 'failed' ? (row.alert.kind === 'privacy' ? 'Privacy alert' : 'Action failed') : capitalise(RANK_WORDS[rank]));
    parts.state.className = `b-state badge state-${rank === 'rising' || rank === 'degraded' || rank === 'failed' ? 'alarm' : row.isOver ? 'ended' : row.state}`;
    const params = Object.entries(row.params)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    setText(parts.params, params);
    setText(parts.why, whyWords(row, rank));
    setText(parts.frustration, row.frustration === undefined ? '—' : row.frustration.toFixed(2) + (trend(row) ?? ''));
    parts.frustration.dataset.level = row.frustration === undefined ? '' : row.frustration >= this.#risingAt ? 'high' : 'calm';
    parts.frustration.setAttribute('aria-label', row.frustration === undefined ? 'no frustration assessed yet' : `frustration ${row.frustration.toFixed(2)}`);
    setText(parts.hit, row.lastHit ? hitWords(row.lastHit) : '');
    if (!this.#matches(row) !== el.hidden) el.hidden = !el.hidden;
    if (el.hidden && this.#selected === row.callSid) this.select(this.#visibleSids()[0]);
  }

  #drawCounts() {
    const counts = Object.fromEntries(RANKS.map((r) => [r, 0]));
    const states = { monitoring: 0, paused: 0, handed_off: 0, ended: 0 };
    let shown = 0;
    for (const row of this.#rows.values()) {
      counts[row.rank(this.#risingAt)]++;
      states[row.isOver ? 'ended' : row.state] = (states[row.isOver ? 'ended' : row.state] ?? 0) + 1;
      if (this.#matches(row)) shown++;
    }
    const values = { ...counts, ...states };
    for (const li of this.#counts.children) {
      const n = values[li.dataset.count] ?? 0;
      setText(li.firstElementChild, String(n));
      li.classList.toggle('zero', n === 0);
    }
    const filtered = this.#filter.state || this.#filter.rule || this.#filter.param.trim();
    setText(this.#shown, filtered ? `Showing ${shown} of ${this.#rows.size} calls` : `${this.#rows.size} call${this.#rows.size === 1 ? '' : 's'}, most urgent first`);
    this.#empty.hidden = this.#rows.size > 0;
  }

  #matches(row) {
    const { state, rule, param } = this.#filter;
    if (state === 'attention' && !ATTENTION.has(row.rank(this.#risingAt))) return false;
    if (state && state !== 'attention' && (row.isOver ? 'ended' : row.state) !== state) return false;
    if (rule === '*' && row.rules.size === 0) return false;
    if (rule && rule !== '*' && !row.rules.has(rule)) return false;
    const wanted = param.trim().toLowerCase();
    if (wanted) {
      const eq = wanted.indexOf('=');
      const entries = Object.entries(row.params).map(([k, v]) => [k.toLowerCase(), String(v).toLowerCase()]);
      if (eq === -1 ? !entries.some(([k, v]) => k === wanted || v.includes(wanted)) : !entries.some(([k, v]) => k === wanted.slice(0, eq).trim() && v === wanted.slice(eq + 1).trim())) return false;
    }
    return true;
  }

  #visible(callSid) {
    const el = this.#els.get(callSid);
    return Boolean(el && !el.hidden);
  }

  #visibleSids() {
    return [...this.#list.children].filter((el) => !el.hidden).map((el) => el.dataset.callSid);
  }

  #onKey(e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const sids = this.#visibleSids();
    if (sids.length === 0) return;
    const i = sids.indexOf(this.#selected);
    let next;
    switch (e.key) {
      case 'ArrowDown':
      case 'j':
        next = sids[Math.min(sids.length - 1, i + 1)];
        break;
      case 'ArrowUp':
      case 'k':
        next = sids[Math.max(0, i - 1)];
        break;
      case 'Home':
        next = sids[0];
        break;
      case 'End':
        next = sids.at(-1);
        break;
      case 'Enter':
      case ' ':
        e.preventDefault();
        if (i !== -1) this.#onOpen(this.#selected);
        return;
      default:
        return;
    }
    e.preventDefault();
    this.select(next);
  }
}

function rowElement(callSid) {
  const parts = {
    state: h('span', { class: 'b-state badge' }),
    sid: h('span', { class: 'b-sid', title: callSid }, shortSid(callSid)),
    params: h('span', { class: 'b-params' }),
    why: h('span', { class: 'b-why' }),
    frustration: h('span', { class: 'b-frustration' }),
    hit: h('span', { class: 'b-hit' }),
  };
  const el = h(
    'div',
    { role: 'option', id: `board-${callSid}`, class: 'board-row', 'data-call-sid': callSid, 'aria-selected': 'false' },
    parts.state,
    h('span', { class: 'b-call' }, parts.sid, parts.params),
    parts.why,
    parts.frustration,
    parts.hit,
  );
  el._parts = parts;
  return el;
}

/** The row's line in words: what needs attention, else the caller's latest words. */
function whyWords(row, rank) {
  if (row.alert) return capitalise(row.alert.reason);
  if (rank === 'degraded') return `Transcription degraded: ${row.degraded}`;
  if (rank === 'paused') return row.pausedUntil ? `Transcription paused until ${clockTime(row.pausedUntil)}` : 'Transcription paused until a supervisor resumes it';
  const words = row.lastWords ? `${row.lastWords.track === 'outbound' ? 'Agent' : 'Caller'}: ${row.lastWords.text}` : 'waiting for the first words';
  if (rank === 'rising') return `Frustration ${row.frustration.toFixed(2)}. ${words}`;
  return words;
}

function hitWords(hit) {
  const who = hit.ruleId === 'manual' ? 'Supervisor' : hit.ruleId;
  if (!hit.action) return who;
  return `${who} → ${ACTION_VERBS[hit.action] ?? hit.action}${hit.mode === 'observe' ? ' (observe)' : ''}`;
}

function trend(row) {
  if (row.previousFrustration === undefined || row.frustration === undefined) return undefined;
  if (row.frustration > row.previousFrustration + 0.05) return ' ↑';
  if (row.frustration < row.previousFrustration - 0.05) return ' ↓';
  return undefined;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

const capitalise = (text) => (text ? text[0].toUpperCase() + text.slice(1) : '');
