// Verdicts on a call's decisions and stretches (POST /api/calls/:sid/verdicts): under each rule's decision, what
// supervisors said of it and three buttons to say it (right, should not have acted, should have acted) with a note;
// and a form to mark a stretch of the call where nothing fired. Viewers read them; the buttons need a supervisor.
import { api } from './api.js';
import { $, clear, clockTime, h } from './dom.js';

export const VERDICT_LABELS = {
  right: 'Right',
  should_not_have_acted: 'Should not have acted',
  should_have_acted: 'Should have acted',
};

const NOTE_MAX = 500;
let uid = 0;

/** The verdict that counts on each decision: the latest given. */
function latestByDecision(verdicts) {
  const out = new Map();
  for (const v of verdicts) if (v.decisionId) out.set(v.decisionId, v);
  return out;
}

const said = (v) => `${VERDICT_LABELS[v.kind] ?? v.kind} (${(v.actor ?? '').replace(/^supervisor:/, '')}, ${clockTime(v.at)})${v.note ? `: “${v.note}”` : ''}`;

export class Verdicts {
  #root;
  #callSid;
  #rules = [];
  #lines = [];

  /** `root`: the call's audit view, holding #audit-decisions and #audit-stretch. */
  constructor(root) {
    this.#root = root;
    $('#stretch-form', root).addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#markStretch();
    });
  }

  setRules(rules) {
    this.#rules = rules ?? [];
  }

  /**
   * Another call is being loaded: the stretch form and the marked stretches of the one shown before go, so that no one
   * picks a line or a rule in a form about to be refilled (its choices would be replaced under them).
   */
  reset() {
    const root = this.#root;
    this.#callSid = undefined;
    this.#lines = [];
    $('#stretch-form', root).hidden = true;
    for (const id of ['#stretch-from', '#stretch-to', '#stretch-rule']) clear($(id, root));
    $('#stretch-note', root).value = '';
    const right = root.querySelector('input[name="stretch-kind"][value="right"]');
    if (right) right.checked = true;
    clear($('#stretch-verdicts', root)).append(h('li', { class: 'none' }, 'Loading…'));
    $('#stretch-status', root).textContent = '';
  }

  /** Decorates the decisions list (items with data-decision-id) and fills the stretch form for this call. */
  async show(callSid, detail) {
    this.#callSid = callSid;
    this.#lines = detail.transcript ?? [];
    let verdicts = [];
    try {
      verdicts = (await api(`/api/calls/${encodeURIComponent(callSid)}/verdicts`)).verdicts ?? [];
    } catch {
      // The call is shown anyway; its verdicts stay unknown (the buttons still work).
    }
    if (this.#callSid !== callSid) return;
    const latest = latestByDecision(verdicts);
    for (const li of this.#root.querySelectorAll('#audit-decisions li[data-decision-id]')) {
      if (li.dataset.ruleId === 'manual') continue;
      li.querySelector('.verdict')?.remove();
      li.append(this.#control(li.dataset.decisionId, li.dataset.ruleId, latest.get(li.dataset.decisionId)));
    }
    this.#drawStretches(verdicts.filter((v) => !v.decisionId));
    this.#fillStretchForm();
  }

  #control(decisionId, ruleId, current) {
    const id = `verdict-${++uid}`;
    const status = h('span', { class: 'verdict-current', id: `${id}-status`, role: 'status' }, current ? said(current) : 'No verdict yet');
    const note = h('input', { id: `${id}-note`, class: 'verdict-note', maxlength: NOTE_MAX, autocomplete: 'off', placeholder: 'why (optional)' });
    const buttons = Object.entries(VERDICT_LABELS).map(([kind, label]) =>
      h(
        'button',
        {
          type: 'button',
          class: 'small',
          'data-verdict': kind,
          'aria-pressed': String(current?.kind === kind),
          'aria-describedby': `${id}-status`,
          onclick: (e) => void this.#mark(e.currentTarget, { kind, decisionId }, note, status, buttons),
        },
        label,
      ),
    );
    return h(
      'div',
      { class: 'verdict', role: 'group', 'aria-label': `Verdict on ${ruleId}` },
      h('span', { class: 'verdict-label' }, 'Verdict: '),
      status,
      h(
        'div',
        { class: 'verdict-actions', 'data-needs': 'supervisor' },
        h('label', { for: `${id}-note`, class: 'visually-hidden' }, `Note on ${ruleId}'s decision`),
        note,
        h('div', { class: 'button-row' }, buttons),
      ),
    );
  }

  async #mark(button, body, noteInput, status, buttons) {
    const note = noteInput.value.trim();
    for (const b of buttons) b.disabled = true;
    status.textContent = 'Saving…';
    try {
      const { verdict } = await api(`/api/calls/${encodeURIComponent(this.#callSid)}/verdicts`, { method: 'POST', body: { ...body, ...(note ? { note } : {}) } });
      for (const b of buttons) b.setAttribute('aria-pressed', String(b === button));
      status.textContent = said(verdict);
      noteInput.value = '';
    } catch (err) {
      status.textContent = `Not saved: ${err.message}`;
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  #drawStretches(verdicts) {
    const list = clear($('#stretch-verdicts', this.#root));
    if (verdicts.length === 0) list.append(h('li', { class: 'none' }, 'No stretch marked.'));
    for (const v of verdicts) {
      list.append(h('li', {}, `${clockTime(v.from)}–${clockTime(v.to)}${v.ruleId ? ` · ${v.ruleId}` : ''} · ${said(v)}`));
    }
  }

  #fillStretchForm() {
    const lineOption = (l, i) => h('option', { value: String(i) }, `${clockTime(l.at)} ${l.track === 'inbound' ? 'Caller' : 'Agent'}: ${l.text.slice(0, 48)}`);
    const from = $('#stretch-from', this.#root);
    const to = $('#stretch-to', this.#root);
    from.replaceChildren(...this.#lines.map(lineOption));
    to.replaceChildren(...this.#lines.map(lineOption));
    to.value = String(Math.max(0, this.#lines.length - 1));
    const rule = $('#stretch-rule', this.#root);
    rule.replaceChildren(h('option', { value: '' }, 'no rule in particular'), ...this.#rules.map((r) => h('option', { value: r.id }, r.id)));
    $('#stretch-form', this.#root).hidden = this.#lines.length === 0;
    $('#stretch-status', this.#root).textContent = this.#lines.length === 0 ? 'No transcript stored: no stretch to mark.' : '';
  }

  async #markStretch() {
    const root = this.#root;
    const status = $('#stretch-status', root);
    const a = this.#lines[Number($('#stretch-from', root).value)];
    const b = this.#lines[Number($('#stretch-to', root).value)];
    if (!a || !b) return;
    if (b.at < a.at) {
      status.textContent = 'The last line must come after the first.';
      $('#stretch-to', root).focus();
      return;
    }
    const kind = root.querySelector('input[name="stretch-kind"]:checked')?.value ?? 'right';
    const ruleId = $('#stretch-rule', root).value;
    const note = $('#stretch-note', root).value.trim();
    status.textContent = 'Saving…';
    try {
      await api(`/api/calls/${encodeURIComponent(this.#callSid)}/verdicts`, {
        method: 'POST',
        body: { kind, stretch: { from: a.at, to: b.at }, ...(ruleId ? { ruleId } : {}), ...(note ? { note } : {}) },
      });
      $('#stretch-note', root).value = '';
      const { verdicts } = await api(`/api/calls/${encodeURIComponent(this.#callSid)}/verdicts`);
      this.#drawStretches(verdicts.filter((v) => !v.decisionId));
      status.textContent = 'Stretch marked.';
    } catch (err) {
      status.textContent = `Not saved: ${err.message}`;
    }
  }
}
