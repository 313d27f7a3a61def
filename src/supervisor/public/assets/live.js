// The live calls view: the board of every live call (board.js) and, for the call opened from it, its card kept up
// to date from the live feed (transcript, frustration trend, rule hits, state), with the supervisor's take over /
// pause / resume / end buttons.
import { api } from './api.js';
import { chartLegend, frustrationThresholds, trendChart } from './chart.js';
import { $, clear, clockTime, fromTemplate, h, shortSid, stateBadge, TRACK_LABELS } from './dom.js';
import { normaliseDecision } from './calls.js';
import { Board } from './board.js';

/** Which states each action makes sense in; the API refuses or skips the rest anyway. */
const ACTIONS = {
  takeover: { name: 'Take over', allowed: ['monitoring', 'paused'], busy: 'Handing the call to a person…' },
  pause: { name: 'Pause', allowed: ['monitoring'], busy: 'Pausing transcription…' },
  resume: { name: 'Resume', allowed: ['paused'], busy: 'Resuming transcription…' },
  end: { name: 'End call', allowed: ['monitoring', 'paused'], busy: 'Ending the call…' },
};

const RESULT_WORDS = {
  done: 'done',
  gone: 'the call had already ended',
  skipped: 'skipped',
  failed: 'failed',
  observed: 'recorded only (observe mode)',
};

const ARM_MS = 5000;

/** How often the board reads the list of live calls again, for calls the feed has said nothing of yet. */
const RELIST_MS = 15_000;

export class LiveView {
  /** Cards of the calls opened here (the detail view), kept current by the feed; the board covers every call. */
  #cards = new Map();
  #thresholds = [];
  #root;
  #detail;
  #board;
  #open = undefined;
  #listing = undefined;
  #listAgain = false;
  #relist = undefined;

  constructor(root) {
    this.#root = root;
    this.#detail = $('#live-calls', root);
    this.#board = new Board(root, {
      onOpen: (callSid) => (location.hash = `#/live/${encodeURIComponent(callSid)}`),
      onUnknown: () => this.#listSoon(),
    });
    $('#live-clear-ended', root).addEventListener('click', () => this.hideEnded());
    // Escape in a call's detail goes back to the board, on that call.
    document.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape' || !this.#open || this.#root.hidden || e.defaultPrevented) return;
      if (e.target.closest?.('details[open]')) return;
      e.preventDefault();
      location.hash = '#/live';
    });
  }

  /** Rules changed (loaded or edited): the charts' threshold lines and the board's "frustration rising" follow. */
  setRules(rules) {
    this.#thresholds = frustrationThresholds(rules);
    this.#board.setThresholds(this.#thresholds, rules);
    for (const card of this.#cards.values()) card.drawChart(this.#thresholds);
  }

  handle(event) {
    if (!event || typeof event.callSid !== 'string') return;
    this.#board.handle(event);
    const card = this.#cards.get(event.callSid);
    if (card) applyToCard(card, event);
    this.#syncEnded();
  }

  /** The board, with the keyboard on the call last opened. Returns the element that should have focus. */
  showBoard() {
    const was = this.#open;
    this.#open = undefined;
    $('#board', this.#root).hidden = false;
    $('#live-detail', this.#root).hidden = true;
    for (const card of this.#cards.values()) card.el.hidden = true;
    if (was) {
      this.#board.focus(was);
      return null;
    }
    return $('#live-title', this.#root);
  }

  /** One call's card (transcript, chart, rule hits, buttons) in place of the board. Returns its heading to focus. */
  open(callSid) {
    this.#open = callSid;
    this.#board.select(callSid);
    let card = this.#cards.get(callSid);
    if (!card) {
      card = new CallCard(callSid, { thresholds: () => this.#thresholds, changed: () => this.#syncEnded(), placed: () => undefined });
      this.#cards.set(callSid, card);
      this.#detail.append(card.el);
    }
    void card.load();
    for (const c of this.#cards.values()) c.el.hidden = c !== card;
    $('#board', this.#root).hidden = true;
    $('#live-detail', this.#root).hidden = false;
    $('#live-detail-crumb', this.#root).textContent = `Call ${shortSid(callSid)}`;
    return $('.call-title', card.el);
  }

  /**
   * After (re)connecting the feed: events may have been missed, so read the live calls afresh. From then on the list
   * is read again now and then: a call that has not said anything yet is in no event, and the board shows it too.
   */
  async resync() {
    clearInterval(this.#relist);
    this.#relist = setInterval(() => this.#listSoon(0), RELIST_MS);
    await this.#list();
    await Promise.allSettled([...this.#cards.values()].map((card) => card.load({ again: true })));
  }

  hideEnded() {
    this.#board.hideFinished();
    for (const [sid, card] of this.#cards) {
      if ((card.isOver || card.state === 'handed_off') && sid !== this.#open) {
        card.el.remove();
        this.#cards.delete(sid);
      }
    }
    this.#syncEnded();
  }

  reset() {
    clearInterval(this.#relist);
    this.#cards.clear();
    clear(this.#detail);
    this.#board.reset();
    this.#syncEnded();
  }

  /**
   * New calls seen in the feed: one listing for all of them, at most one running at a time; a listing that failed
   * (the service busy: 503) is tried again a little later.
   */
  #listSoon(delay = 250) {
    if (this.#listing) {
      this.#listAgain = true;
      return;
    }
    this.#listing = new Promise((r) => setTimeout(r, delay)).then(() => this.#list());
    void this.#listing.then((ok) => {
      this.#listing = undefined;
      if (this.#listAgain || !ok) {
        this.#listAgain = false;
        this.#listSoon(ok ? 250 : 2000);
      }
    });
  }

  async #list() {
    let calls;
    try {
      ({ calls } = await api('/api/calls?state=live&limit=1000'));
    } catch (err) {
      console.warn('could not list live calls:', err.message);
      return err.status === 401 ? true : false;
    }
    for (const c of calls ?? []) {
      this.#board.setSummary(c);
      this.#cards.get(c.callSid)?.setSummary(c);
    }
    return true;
  }

  #syncEnded() {
    $('#live-clear-ended', this.#root).disabled = !this.#board.hasFinished();
  }
}

function applyToCard(card, event) {
  switch (event.type) {
    case 'call':
      card.setState(event.state, event.degraded, { fromFeed: true, pausedUntil: event.pausedUntil ?? null });
      break;
    case 'utterance':
      card.addUtterance(event);
      break;
    case 'assessment':
      card.addAssessment(event);
      break;
    case 'decision':
      card.addDecision(normaliseDecision(event));
      break;
    case 'outcome':
      card.addOutcome(event);
      break;
    case 'gate':
      card.addGate(event);
      break;
    case 'alert':
      card.addAlert(event);
      break;
  }
}

const ALERT_HEADINGS = {
  action: 'Action failed',
  privacy: 'Privacy: transcription or recording may not have stopped',
};

class CallCard {
  state = 'monitoring';
  degraded = undefined;
  ended = false;
  /** The failure a supervisor must look at: { kind, action, reason, at, decisionId? }, until that action succeeds. */
  alert = undefined;
  pausedUntil = undefined;
  #finals = new Set();
  #points = [];
  #hits = new Map();
  #busy = false;
  #loaded = false;
  #thresholds;
  #changed;
  #placed;
  #armed;
  #stateFromFeed = false;

  constructor(callSid, { thresholds, changed, placed }) {
    this.callSid = callSid;
    /** First seen until the API says when the call started. */
    this.startedAt = Date.now();
    this.#thresholds = thresholds;
    this.#changed = changed;
    this.#placed = placed;
    this.el = fromTemplate('tpl-call');
    this.el.dataset.callSid = callSid;
    this.el.setAttribute('aria-labelledby', `call-${callSid}-title`);
    const title = $('.call-title', this.el);
    title.id = `call-${callSid}-title`;
    $('.sid', this.el).textContent = `Call ${shortSid(callSid)}`;
    $('.sid', this.el).title = callSid;
    $('.call-link', this.el).href = `#/calls/${encodeURIComponent(callSid)}`;
    $('.call-link', this.el).setAttribute('aria-label', `Call ${shortSid(callSid)}: open its audit trail`);
    for (const button of this.el.querySelectorAll('[data-action]')) {
      button.addEventListener('click', () => this.#onAction(button.dataset.action, button));
    }
    this.setState('monitoring');
    this.drawChart(thresholds());
  }

  get isOver() {
    return this.state === 'ended' || this.ended;
  }

  /** From GET /api/calls or the `call` of GET /api/calls/:sid. */
  setSummary(c) {
    if (!c) return;
    const parties = [c.from && `from ${c.from}`, c.to && `to ${c.to}`, c.startedAt && `since ${clockTime(c.startedAt)}`].filter(Boolean).join(' · ');
    $('.parties', this.el).textContent = parties;
    if (typeof c.startedAt === 'number' && c.startedAt !== this.startedAt) {
      this.startedAt = c.startedAt;
      this.#placed(this);
    }
    if (c.endedAt) this.ended = true;
    if (c.lastFailure && !this.alert) this.addAlert(c.lastFailure);
    // A snapshot can be older than what the feed already said; it only fills in what the feed has not.
    const state = c.state ?? c.status;
    if (this.#stateFromFeed && state !== 'ended' && !c.endedAt) return;
    this.setState(state ?? this.state, c.degraded, { pausedUntil: c.pausedUntil ?? null });
  }

  setState(state, degraded, { fromFeed = false, pausedUntil = this.pausedUntil } = {}) {
    if (fromFeed) this.#stateFromFeed = true;
    if (state) this.state = state;
    if (state === 'ended') this.ended = true;
    this.pausedUntil = this.state === 'paused' && typeof pausedUntil === 'number' ? pausedUntil : undefined;
    const until = $('.paused-until', this.el);
    until.hidden = this.pausedUntil === undefined;
    until.textContent = this.pausedUntil === undefined ? '' : `paused until ${clockTime(this.pausedUntil)}`;
    // A line the caller was still speaking when the call was handed off or ended will never be finished here.
    if (this.isOver || this.state === 'handed_off') $('.partial', this.el).hidden = true;
    this.degraded = typeof degraded === 'string' ? degraded : degraded ? 'degraded' : undefined;
    this.el.dataset.state = this.state;
    this.el.classList.toggle('is-over', this.isOver);
    $('.state-slot', this.el).replaceChildren(stateBadge(this.state));
    if (this.#points.length) this.drawChart(this.#thresholds());
    const marker = $('.degraded', this.el);
    marker.hidden = !this.degraded;
    marker.textContent = this.degraded ? `Degraded: ${this.degraded}` : '';
    this.el.classList.toggle('is-degraded', Boolean(this.degraded));
    this.#syncButtons();
    this.#changed();
  }

  /** Fills in what happened before this page saw the call (and its numbers), once. */
  async load({ again = false } = {}) {
    if (this.#loaded && !again) return;
    this.#loaded = true;
    let detail;
    try {
      detail = await api(`/api/calls/${encodeURIComponent(this.callSid)}`);
    } catch (err) {
      this.#loaded = false;
      console.warn(`could not load call ${this.callSid}:`, err.message);
      return;
    }
    this.setSummary(detail.call);
    for (const line of detail.transcript ?? []) this.addUtterance({ ...line, final: true });
    const known = new Set(this.#points.map((p) => p.at));
    const earlier = (detail.assessments ?? []).filter((a) => !known.has(a.at));
    if (earlier.length) {
      this.#points = [...earlier, ...this.#points].sort((a, b) => a.at - b.at);
      this.drawChart(this.#thresholds());
    }
    for (const d of detail.decisions ?? []) this.addDecision(normaliseDecision(d));
    for (const e of detail.audit ?? []) if (e.kind === 'outcome' && e.decisionId) this.addOutcome({ decisionId: e.decisionId, ...e.data, at: e.at });
  }

  addUtterance(u) {
    const who = TRACK_LABELS[u.track] ?? u.track;
    const partial = $('.partial', this.el);
    if (!u.final) {
      if (this.isOver || this.state === 'handed_off') return;
      // Partials change under the reader's eyes: shown, but not announced (aria-hidden) until final.
      partial.hidden = false;
      partial.dataset.track = u.track;
      $('.who', partial).textContent = `${who} (speaking)`;
      $('.text', partial).textContent = u.text;
      return;
    }
    const key = `${u.at}|${u.track}|${u.text}`;
    if (this.#finals.has(key)) return;
    this.#finals.add(key);
    if (partial.dataset.track === u.track) partial.hidden = true;
    this.#appendLine(h('li', { class: `turn turn-${u.track}`, 'data-at': u.at }, h('span', { class: 'who' }, who), ' ', h('span', { class: 'text' }, u.text)), u.at);
  }

  addAssessment(a) {
    if (this.#points.some((p) => p.at === a.at)) return;
    this.#points.push({ at: a.at, frustration: a.frustration, wantsHuman: a.wantsHuman, sensitive: a.sensitive ?? [] });
    this.drawChart(this.#thresholds());
  }

  addDecision(d) {
    if (!d.decisionId || this.#hits.has(d.decisionId)) return;
    const list = $('.hits', this.el);
    list.querySelector('.none')?.remove();
    const manual = d.ruleId === 'manual';
    const li = h(
      'li',
      { class: `hit ${d.mode === 'observe' ? 'hit-observe' : ''}`, 'data-rule-id': d.ruleId, 'data-decision-id': d.decisionId },
      h('span', { class: 'hit-rule' }, manual ? 'Supervisor' : d.ruleId),
      ' ',
      h('span', { class: 'hit-action' }, actionWords(d.action)),
      d.mode === 'observe' ? h('span', { class: 'badge subtle' }, 'observe only') : null,
      d.note && d.note !== 'observe' ? h('span', { class: 'badge subtle' }, d.note) : null,
      h('span', { class: 'hit-result' }, ''),
      h('span', { class: 'hit-reason' }, [d.at ? clockTime(d.at) : null, d.reason].filter(Boolean).join(' · ')),
    );
    li.dataset.hitAction = d.action ?? '';
    this.#hits.set(d.decisionId, li);
    list.prepend(li);
    if (d.result) this.addOutcome({ decisionId: d.decisionId, result: d.result, detail: d.detail, at: d.at });
  }

  addOutcome(o) {
    const li = o.decisionId && this.#hits.get(o.decisionId);
    if (!li) return;
    const result = $('.hit-result', li);
    result.textContent = o.result;
    result.className = `hit-result result-${o.result}`;
    if (o.detail) result.title = o.detail;
    // The same action done since (e.g. a supervisor's take over after a failed handoff): the alarm is over.
    const since = this.alert && (o.at ?? 0) > this.alert.at && this.alert.decisionId !== o.decisionId;
    if (o.result === 'done' && since && li.dataset.hitAction === this.alert.action) this.clearAlert();
  }

  /** An action failed past its deadline: the card turns red, says why in words, and goes to the top of the view. */
  addAlert(a) {
    if (this.alert && this.alert.at > a.at) return;
    this.alert = { kind: a.kind, action: a.action, reason: a.reason, at: a.at, decisionId: a.decisionId };
    const box = $('.alert-box', this.el);
    box.hidden = false;
    box.dataset.kind = a.kind;
    box.replaceChildren(h('strong', {}, ALERT_HEADINGS[a.kind] ?? 'Alert'), ' ', h('span', { class: 'alert-reason' }, capitalise(a.reason)), a.at ? h('time', { class: 'when' }, ` · ${clockTime(a.at)}`) : null);
    this.el.dataset.alert = a.kind;
    this.#placed(this);
    this.#changed();
  }

  clearAlert() {
    this.alert = undefined;
    const box = $('.alert-box', this.el);
    box.hidden = true;
    box.replaceChildren();
    delete this.el.dataset.alert;
    this.#placed(this);
    this.#changed();
  }

  addGate(g) {
    // The feed sends the state too, but the gate is what says it: keep the buttons right even if that event is late.
    this.setState(g.open ? 'monitoring' : 'paused', this.degraded, { fromFeed: true });
    const text = g.open ? `Transcription resumed (${g.by})` : `Transcription paused (${g.by}): ${g.reason}`;
    this.#appendLine(h('li', { class: `gate ${g.open ? 'gate-open' : 'gate-closed'}` }, text), g.at);
  }

  drawChart(thresholds) {
    $('.chart', this.el).replaceChildren(trendChart(this.#points, { thresholds, endLabel: this.isOver ? 'end of call' : this.state === 'handed_off' ? 'handed off' : 'now' }), chartLegend(thresholds));
    const latest = this.#points.at(-1)?.frustration;
    const value = $('.trend-value', this.el);
    value.textContent = latest === undefined ? '—' : latest.toFixed(2);
    const top = Math.min(...thresholds.map((t) => t.value), 0.7);
    value.dataset.level = latest === undefined ? '' : latest >= top ? 'high' : latest >= top * 0.7 ? 'rising' : 'calm';
  }

  #appendLine(li, at) {
    const list = $('.transcript', this.el);
    // Live events can arrive before an older snapshot line: keep the transcript in time order.
    const later = [...list.children].find((c) => Number(c.dataset.at) > at);
    li.dataset.at = at;
    list.insertBefore(li, later ?? null);
    const wrap = $('.transcript-wrap', this.el);
    wrap.scrollTop = wrap.scrollHeight;
  }

  #syncButtons() {
    const focused = this.el.contains(document.activeElement) ? document.activeElement : null;
    for (const button of this.el.querySelectorAll('[data-action]')) {
      const spec = ACTIONS[button.dataset.action];
      const allowed = !this.#busy && !this.ended && spec.allowed.includes(this.state);
      if (!allowed && button.dataset.armed) this.#disarm(button);
      button.disabled = !allowed;
    }
    // A button that just became disabled drops keyboard focus on the floor; keep it on the card's result.
    if (focused?.matches('[data-action]') && focused.disabled) $('.result', this.el).focus();
  }

  async #onAction(action, button) {
    if (action === 'end' && !button.dataset.armed) {
      // Ending a customer's call cannot be undone: ask for a second press.
      button.dataset.armed = '1';
      button.textContent = 'Press again to end the call';
      this.#armed = setTimeout(() => this.#disarm(button), ARM_MS);
      return;
    }
    if (button.dataset.armed) this.#disarm(button);
    const spec = ACTIONS[action];
    const body = {};
    const queue = $('.opt-queue', this.el).value.trim();
    if (action === 'takeover' && queue) body.queue = queue;
    if (action === 'pause') body.resumeAfterSeconds = Number($('.opt-resume', this.el).value);
    const result = $('.result', this.el);
    this.#busy = true;
    this.el.setAttribute('aria-busy', 'true');
    result.className = 'result pending';
    result.textContent = spec.busy;
    this.#syncButtons();
    try {
      const answer = await api(`/api/calls/${encodeURIComponent(this.callSid)}/${action}`, { method: 'POST', body });
      const words = RESULT_WORDS[answer?.result] ?? answer?.result ?? 'done';
      result.className = `result result-${answer?.result ?? 'done'}`;
      result.dataset.result = answer?.result ?? '';
      result.textContent = `${spec.name}: ${words}${answer?.detail ? ` — ${answer.detail}` : ''}`;
      if (answer?.result === 'done') this.#optimisticState(action);
      if (answer?.result === 'gone') this.setState('ended');
    } catch (err) {
      result.className = 'result result-failed';
      result.dataset.result = 'error';
      result.textContent = `${spec.name} failed: ${err.message}`;
    } finally {
      this.#busy = false;
      this.el.removeAttribute('aria-busy');
      this.#syncButtons();
    }
  }

  /** The feed confirms the new state a moment later; until then the buttons should not offer the old one. */
  #optimisticState(action) {
    const next = { takeover: 'handed_off', pause: 'paused', resume: 'monitoring', end: 'ended' }[action];
    if (next && this.state !== 'ended') this.setState(next, this.degraded);
  }

  #disarm(button) {
    clearTimeout(this.#armed);
    delete button.dataset.armed;
    button.textContent = 'End call';
  }
}

const capitalise = (text) => (text ? text[0].toUpperCase() + text.slice(1) : '');

export function actionWords(action) {
  switch (action) {
    case 'handoff':
      return '→ hand off';
    case 'pause':
      return '→ pause transcription';
    case 'end_call':
      return '→ end call';
    case 'alert':
      return '→ alert';
    default:
      return action ? `→ ${action}` : '';
  }
}
