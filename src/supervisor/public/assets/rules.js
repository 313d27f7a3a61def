// The rules page: the running rules, a JSON editor whose errors name the wrong fields (from the API's
// 400 `issues`), enable/disable, delete, versions with rollback, and dry runs over a pasted conversation.
import { api } from './api.js';
import { $, clear, dateTime, h } from './dom.js';

/** Starting points for a new rule: each valid as it stands (src/rules/schema.ts), meant to be edited. */
const TEMPLATES = {
  phrase: {
    id: 'caller-says-phrase',
    description: 'The caller says one of these phrases: hand off to a person.',
    enabled: true,
    mode: 'enforce',
    priority: 60,
    when: { type: 'phrase', phrases: ['cancel my subscription'], track: 'inbound' },
    action: { type: 'handoff', to: { queue: 'support' } },
    cooldownSeconds: 60,
  },
  frustration: {
    id: 'sustained-frustration',
    description: 'Frustration at 0.7 or more over two caller turns.',
    enabled: true,
    mode: 'enforce',
    priority: 50,
    when: { type: 'frustration', atLeast: 0.7, releaseBelow: 0.5, turns: 2, forSeconds: 0 },
    action: { type: 'handoff', to: { queue: 'support' } },
    cooldownSeconds: 60,
  },
  wants_human: {
    id: 'asks-for-a-person',
    description: 'The caller asks for a human.',
    enabled: true,
    mode: 'enforce',
    priority: 100,
    when: { type: 'wants_human', times: 1 },
    action: { type: 'handoff', to: { queue: 'support' } },
    cooldownSeconds: 60,
  },
  sensitive: {
    id: 'sensitive-details',
    description: 'Card, bank or ID details: stop transcribing for two minutes.',
    enabled: true,
    mode: 'enforce',
    priority: 80,
    when: { type: 'sensitive', categories: ['payment_card', 'bank_account', 'government_id'] },
    action: { type: 'pause', resumeAfterSeconds: 120 },
    cooldownSeconds: 0,
  },
  degraded: {
    id: 'transcription-degraded',
    description: 'Transcription is degraded: tell the supervisors.',
    enabled: true,
    mode: 'enforce',
    priority: 0,
    when: { type: 'degraded' },
    action: { type: 'alert' },
    cooldownSeconds: 300,
  },
};

const ARM_MS = 5000;

export class RulesView {
  #root;
  #rules = [];
  #version;
  /** The id of the rule being edited; undefined for a new rule. */
  #editing;
  #onRules;

  /** onRules(rules): the running set changed (the live charts draw its thresholds). */
  constructor(root, { onRules }) {
    this.#root = root;
    this.#onRules = onRules;
    $('#rule-new', root).addEventListener('click', () => this.#openEditor());
    $('#rule-cancel', root).addEventListener('click', () => this.#closeEditor());
    $('#rule-template', root).addEventListener('change', (e) => this.#fillEditor(TEMPLATES[e.target.value]));
    $('#rule-editor', root).addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#save();
    });
    $('#rule-try', root).addEventListener('click', () => {
      $('#dry-use-candidate', root).checked = true;
      void this.#dryRun();
    });
    $('#dry-form', root).addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#dryRun();
    });
    $('#rule-json', root).addEventListener('input', () => this.#showIssues([]));
  }

  get rules() {
    return this.#rules;
  }

  async show() {
    await Promise.all([this.load(), this.#loadVersions()]);
  }

  /** Reads the running rules (also used at sign-in, for the live charts). */
  async load() {
    try {
      const { version, rules } = await api('/api/rules');
      this.#apply(version, rules);
    } catch (err) {
      this.#status(`Could not load the rules: ${err.message}`, 'error');
    }
  }

  #apply(version, rules) {
    this.#version = version;
    this.#rules = rules ?? [];
    $('#rules-version', this.#root).textContent = version ?? '—';
    this.#drawRules();
    this.#onRules(this.#rules);
  }

  #drawRules() {
    const body = clear($('#rules-body', this.#root));
    if (this.#rules.length === 0) body.append(h('tr', {}, h('td', { colspan: 5, class: 'none' }, 'No rules: nothing will be handed off or paused automatically.')));
    const sorted = [...this.#rules].sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0));
    for (const rule of sorted) body.append(this.#ruleRow(rule));
  }

  #ruleRow(rule) {
    const enabled = rule.enabled !== false;
    const toggle = h('button', { type: 'button', class: 'small', 'data-needs': 'admin', onclick: () => this.#toggle(rule, !enabled) }, enabled ? 'Disable' : 'Enable');
    toggle.setAttribute('aria-label', `${enabled ? 'Disable' : 'Enable'} rule ${rule.id}`);
    const edit = h('button', { type: 'button', class: 'small', 'aria-label': `Edit rule ${rule.id}`, onclick: () => this.#openEditor(rule) }, 'Edit');
    const del = h('button', { type: 'button', class: 'small danger', 'data-needs': 'admin', 'aria-label': `Delete rule ${rule.id}` }, 'Delete');
    del.addEventListener('click', () => this.#delete(rule, del));
    return h(
      'tr',
      { 'data-rule-id': rule.id, class: enabled ? '' : 'is-disabled' },
      h('th', { scope: 'row' }, h('span', { class: 'rule-id mono' }, rule.id), h('span', { class: 'rule-desc' }, rule.description ?? '')),
      h('td', {}, describeCondition(rule.when), scopeWords(rule.scope)),
      h('td', {}, describeAction(rule.action), h('span', { class: 'rule-meta' }, `priority ${rule.priority ?? 0} · cooldown ${rule.cooldownSeconds ?? 60} s`)),
      h(
        'td',
        {},
        h('span', { class: `badge ${enabled ? 'on' : 'off'}` }, enabled ? 'Enabled' : 'Disabled'),
        rule.mode === 'observe' ? h('span', { class: 'badge subtle' }, 'observe only') : null,
      ),
      h('td', { class: 'row-actions' }, edit, toggle, del),
    );
  }

  async #toggle(rule, enable) {
    try {
      const { version } = await api(`/api/rules/${encodeURIComponent(rule.id)}/${enable ? 'enable' : 'disable'}`, { method: 'POST' });
      this.#status(`Rule ${rule.id} ${enable ? 'enabled' : 'disabled'} (version ${version}).`, 'ok');
      await this.show();
      $(`tr[data-rule-id="${CSS.escape(rule.id)}"] button:nth-of-type(2)`, this.#root)?.focus();
    } catch (err) {
      this.#status(`Could not ${enable ? 'enable' : 'disable'} ${rule.id}: ${err.message}`, 'error');
    }
  }

  async #delete(rule, button) {
    if (!button.dataset.armed) {
      button.dataset.armed = '1';
      button.textContent = 'Press again to delete';
      setTimeout(() => {
        delete button.dataset.armed;
        button.textContent = 'Delete';
      }, ARM_MS);
      return;
    }
    try {
      const { version } = await api(`/api/rules/${encodeURIComponent(rule.id)}`, { method: 'DELETE' });
      this.#status(`Rule ${rule.id} deleted (version ${version}). Roll back under Versions to restore it.`, 'ok');
      await this.show();
      $('#rule-new', this.#root).focus();
    } catch (err) {
      this.#status(`Could not delete ${rule.id}: ${err.message}`, 'error');
    }
  }

  // ---- editor -------------------------------------------------------------------------------

  #openEditor(rule) {
    this.#editing = rule?.id;
    const form = $('#rule-editor', this.#root);
    form.hidden = false;
    $('#editor-title', this.#root).textContent = rule ? `Edit rule ${rule.id}` : 'New rule';
    $('#editor-template-row', this.#root).hidden = Boolean(rule);
    this.#fillEditor(rule ?? TEMPLATES[$('#rule-template', this.#root).value]);
    $('#rule-json', this.#root).focus();
  }

  #closeEditor() {
    this.#editing = undefined;
    this.#hideEditor();
    this.#showIssues([]);
    $('#rule-new', this.#root).focus();
  }

  #hideEditor() {
    $('#rule-editor', this.#root).hidden = true;
    // With no rule in the editor, a dry run can only use the running rules.
    $('#view-rules input[name="dry-rules"][value="running"]').checked = true;
  }

  #fillEditor(rule) {
    $('#rule-json', this.#root).value = JSON.stringify(rule, null, 2);
    this.#showIssues([]);
  }

  /** The editor's rule, or undefined (with the JSON error shown) when it does not parse. */
  #candidate() {
    const text = $('#rule-json', this.#root).value;
    try {
      const rule = JSON.parse(text);
      if (!rule || typeof rule !== 'object' || Array.isArray(rule)) {
        this.#showIssues([{ path: '', message: 'a rule is one JSON object: { "id": …, "when": …, "action": … }' }]);
        return undefined;
      }
      return rule;
    } catch (err) {
      this.#showIssues([{ path: '(JSON)', message: `not valid JSON: ${err.message}` }]);
      return undefined;
    }
  }

  async #save() {
    const rule = this.#candidate();
    if (!rule) return;
    const editing = this.#editing;
    try {
      const answer = editing
        ? await api(`/api/rules/${encodeURIComponent(editing)}`, { method: 'PUT', body: rule })
        : await api('/api/rules', { method: 'POST', body: rule });
      const id = answer?.rule?.id ?? rule.id;
      this.#status(`Rule ${id} saved: version ${answer?.version ?? '?'} is running. It applies from the next caller turn.`, 'ok');
      this.#editing = undefined;
      this.#hideEditor();
      await this.show();
      $(`tr[data-rule-id="${CSS.escape(id)}"] button`, this.#root)?.focus();
    } catch (err) {
      // The API's message repeats the issues in one line; the list says it better.
      this.#showIssues(err.issues?.length ? err.issues : [{ path: '', message: err.message }]);
    }
  }

  #showIssues(issues, heading) {
    const box = $('#rule-issues', this.#root);
    const textarea = $('#rule-json', this.#root);
    clear(box);
    textarea.toggleAttribute('aria-invalid', issues.length > 0);
    if (issues.length === 0) return;
    box.append(
      h('p', { class: 'issues-title' }, heading ?? (issues.length === 1 ? 'The rule was not saved:' : `The rule was not saved (${issues.length} problems):`)),
      h(
        'ul',
        {},
        issues.map((i) => h('li', { 'data-path': i.path ?? '' }, h('code', { class: 'issue-path' }, i.path || '(the rule)'), ' ', h('span', {}, i.message))),
      ),
    );
  }

  // ---- dry run ------------------------------------------------------------------------------

  async #dryRun() {
    const out = $('#dry-result', this.#root);
    const callSid = $('#dry-callsid', this.#root).value.trim();
    const body = {};
    let transcript = [];
    let candidateIndex;
    if (callSid) body.callSid = callSid;
    else {
      const parsed = parseConversation($('#dry-transcript', this.#root).value);
      if (parsed.error) {
        out.replaceChildren(h('p', { class: 'form-error' }, parsed.error));
        return;
      }
      transcript = parsed.transcript;
      body.transcript = transcript;
    }
    if ($('#dry-use-candidate', this.#root).checked) {
      if ($('#rule-editor', this.#root).hidden) {
        out.replaceChildren(h('p', { class: 'form-error' }, 'Open a rule in the editor (New rule or Edit) to test it, or choose the running rules.'));
        return;
      }
      const candidate = this.#candidate();
      if (!candidate) {
        out.replaceChildren(h('p', { class: 'form-error' }, 'The rule in the editor is not valid JSON: see the editor.'));
        return;
      }
      const replaced = this.#editing ?? candidate.id;
      body.rules = [...this.#rules.filter((r) => r.id !== replaced && r.id !== candidate.id), candidate];
      candidateIndex = body.rules.length - 1;
    }
    out.replaceChildren(h('p', {}, 'Running…'));
    try {
      const answer = await api('/api/rules/dry-run', { method: 'POST', body });
      // replaceChildren would print a missing part as the text "null".
      out.replaceChildren(...[firedTable(answer?.fired ?? [], transcript), dryRunNotes(answer, transcript)].filter(Boolean));
    } catch (err) {
      if (err.issues?.length && candidateIndex !== undefined) {
        this.#showIssues(err.issues.map((i) => ({ ...i, path: withinRule(i.path, candidateIndex) })), 'The rule in the editor does not validate:');
        out.replaceChildren(h('p', { class: 'form-error' }, 'Dry run not run: the rule in the editor does not validate (see the editor).'));
        return;
      }
      out.replaceChildren(
        h('p', { class: 'form-error' }, `Dry run failed: ${err.message}`),
        err.issues?.length ? h('ul', {}, err.issues.map((i) => h('li', {}, h('code', {}, i.path || '(root)'), ' ', i.message))) : null,
      );
    }
  }

  // ---- versions -----------------------------------------------------------------------------

  async #loadVersions() {
    const body = clear($('#versions-body', this.#root));
    let versions;
    try {
      ({ versions } = await api('/api/rules/versions'));
    } catch (err) {
      body.append(h('tr', {}, h('td', { colspan: 5, class: 'none' }, `Could not load versions: ${err.message}`)));
      return;
    }
    const sorted = [...(versions ?? [])].sort((a, b) => b.version - a.version);
    for (const v of sorted) {
      const current = v.version === this.#version;
      body.append(
        h(
          'tr',
          { 'data-version': v.version, class: current ? 'is-current' : '' },
          h('th', { scope: 'row' }, `v${v.version}`, current ? h('span', { class: 'badge on' }, 'running') : null),
          h('td', { class: 'nowrap' }, dateTime(v.at)),
          h('td', { class: 'mono' }, v.actor ?? ''),
          h('td', {}, typeof v.change === 'string' ? v.change : JSON.stringify(v.change ?? '')),
          h(
            'td',
            { class: 'row-actions' },
            h('button', { type: 'button', class: 'small', 'aria-label': `Show the rules of version ${v.version}`, onclick: () => this.#showVersion(v.version) }, 'Show'),
            h(
              'button',
              { type: 'button', class: 'small', 'data-needs': 'admin', disabled: current, 'aria-label': `Roll back to version ${v.version}`, onclick: () => this.#rollback(v.version) },
              'Roll back to this',
            ),
          ),
        ),
      );
    }
  }

  async #showVersion(version) {
    const box = $('#version-detail', this.#root);
    box.hidden = false;
    try {
      const v = await api(`/api/rules/versions/${encodeURIComponent(version)}`);
      box.replaceChildren(
        h('h3', {}, `Version ${v.version}`, h('span', { class: 'hint' }, ` · ${dateTime(v.at)} · ${v.actor ?? ''}`)),
        h('ul', { class: 'version-rules' }, (v.rules ?? []).map((r) => h('li', {}, h('span', { class: 'mono' }, r.id), r.enabled === false ? ' (disabled)' : '', ' — ', describeCondition(r.when), ' ', describeAction(r.action)))),
        h('details', {}, h('summary', {}, 'JSON'), h('pre', {}, JSON.stringify(v.rules ?? [], null, 2))),
      );
    } catch (err) {
      box.replaceChildren(h('p', { class: 'form-error' }, `Could not load version ${version}: ${err.message}`));
    }
    box.focus();
  }

  async #rollback(version) {
    try {
      const answer = await api('/api/rules/rollback', { method: 'POST', body: { version } });
      this.#status(`Rolled back: version ${answer?.version ?? '?'} now runs the rules of version ${version}.`, 'ok');
      await this.show();
      $('#rules-status', this.#root).focus();
    } catch (err) {
      this.#status(`Could not roll back to version ${version}: ${err.message}`, 'error');
    }
  }

  #status(text, kind) {
    const el = $('#rules-status', this.#root);
    el.textContent = text;
    el.dataset.kind = kind;
    el.tabIndex = -1;
  }
}

/** An issue about the whole candidate set (`rules.3.when.atLeast`, `3.when.atLeast`) as a path inside the one rule. */
function withinRule(path = '', index) {
  const m = /^(?:rules\.)?(\d+)(?:\.(.*))?$/.exec(path);
  return m && Number(m[1]) === index ? (m[2] ?? '') : path;
}

/** "caller: …" / "agent: …" lines to the dry run's transcript; a line without a speaker continues the last turn. */
export function parseConversation(text) {
  const transcript = [];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^(caller|customer|c|agent|bot|ai|a)\s*[:>]\s*(.*)$/i.exec(line);
    if (m) {
      const track = /^(caller|customer|c)$/i.test(m[1]) ? 'inbound' : 'outbound';
      if (m[2].trim()) transcript.push({ track, text: m[2].trim() });
    } else if (transcript.length) {
      transcript.at(-1).text += ` ${line}`;
    } else {
      return { error: `Line ${i + 1}: start it with "caller:" or "agent:" so the dry run knows who speaks.` };
    }
  }
  if (transcript.length === 0) return { error: 'Write at least one turn, e.g. "caller: I want to speak to a person".' };
  return { transcript };
}

const NOTE_WORDS = { acts: 'acts', observe: 'observe only', alert: 'alert only', outranked: 'outranked' };

/** What else the dry run found: turns a pause kept from the classifier, and where monitoring would have stopped. */
function dryRunNotes(answer, transcript) {
  const notes = [];
  const turnWords = (i) => `#${i + 1}${transcript[i] ? ` (${transcript[i].text.slice(0, 60)})` : ''}`;
  if (answer?.notHeard?.length) notes.push(`Not heard, transcription paused: turn ${answer.notHeard.map((i) => `#${i + 1}`).join(', ')}.`);
  if (typeof answer?.stoppedAt === 'number') {
    const turns = typeof answer.turns === 'number' ? answer.turns : transcript.length;
    const later = turns - answer.stoppedAt - 1;
    const rest = later > 0 ? `: the ${later === 1 ? 'last turn was' : `${later} later turns were`} not evaluated` : ', the last turn';
    notes.push(`Monitoring would have stopped after turn ${turnWords(answer.stoppedAt)}${rest}.`);
  }
  return notes.length ? h('ul', { class: 'dry-notes' }, notes.map((n) => h('li', {}, n))) : null;
}

/** 65000 → "1:05", from the start of the call. */
export function formatOffset(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

function firedTable(fired, transcript) {
  if (fired.length === 0) return h('p', { class: 'dry-none' }, 'No rule fires on this conversation.');
  return h(
    'table',
    { class: 'data dry-table' },
    h('caption', {}, `${fired.length} ${fired.length === 1 ? 'rule fires' : 'rule hits'}`),
    h('thead', {}, h('tr', {}, ['Turn', 'Rule', 'Then', 'Effect', 'Why'].map((t) => h('th', { scope: 'col' }, t)))),
    h(
      'tbody',
      {},
      fired.map((f) => {
        const turn = transcript[f.turn];
        return h(
          'tr',
          { 'data-rule-id': f.ruleId, 'data-note': f.note ?? '' },
          h('td', {}, `#${Number(f.turn) + 1}${typeof f.atMs === 'number' ? ` at ${formatOffset(f.atMs)}` : ''}`, turn ? h('span', { class: 'rule-desc' }, `${turn.track === 'inbound' ? 'Caller' : 'Agent'}: ${turn.text}`) : null),
          h('td', { class: 'mono' }, f.ruleId),
          h('td', {}, typeof f.action === 'string' ? f.action : describeAction(f.action)),
          h('td', {}, NOTE_WORDS[f.note] ?? f.mode ?? ''),
          h('td', {}, f.reason ?? ''),
        );
      }),
    ),
  );
}

export function describeCondition(c) {
  if (!c) return '';
  switch (c.type) {
    case 'phrase': {
      const said = [...(c.phrases ?? []).map((p) => `“${p}”`), c.pattern ? `/${c.pattern}/` : null].filter(Boolean).join(' or ');
      const who = c.track === 'outbound' ? 'the agent' : c.track === 'any' ? 'anyone' : 'the caller';
      return `${who} says ${said}`;
    }
    case 'frustration':
      return `frustration ≥ ${c.atLeast}${(c.turns ?? 1) > 1 ? ` for ${c.turns} turns` : ''}${c.forSeconds ? ` over ${c.forSeconds} s` : ''}`;
    case 'sentiment':
      return `sentiment ≤ ${c.atMost}${(c.turns ?? 1) > 1 ? ` for ${c.turns} turns` : ''}${c.forSeconds ? ` over ${c.forSeconds} s` : ''}`;
    case 'wants_human':
      return `caller asks for a person${(c.times ?? 1) > 1 ? ` ${c.times} times` : ''}`;
    case 'sensitive':
      return `sensitive details: ${(c.categories ?? []).join(', ')}`;
    case 'degraded':
      return 'transcription degraded';
    case 'all':
      return `all of: ${(c.of ?? []).map(describeCondition).join('; ')}`;
    case 'any':
      return `any of: ${(c.of ?? []).map(describeCondition).join('; ')}`;
    default:
      return c.type ?? '';
  }
}

export function describeAction(a) {
  if (!a) return '';
  switch (a.type) {
    case 'handoff': {
      const to = a.to ?? {};
      if (to.queue) return `hand off to queue ${to.queue}`;
      if (to.dial) return `hand off: dial ${to.dial.number ?? to.dial.client ?? to.dial.sip ?? ''}`;
      if (to.redirect) return `hand off: redirect to ${to.redirect}`;
      return 'hand off';
    }
    case 'pause':
      if (a.secureCapture) {
        return `send the caller to secure capture (twiml/${a.secureCapture.template ?? 'secure-capture'}.xml, e.g. <Pay>), not transcribed; back to the agent (${a.secureCapture.returnUrl}) when done`;
      }
      return a.resumeAfterSeconds === 0 ? 'pause transcription until resumed by hand' : `pause transcription for ${a.resumeAfterSeconds ?? 60} s`;
    case 'end_call':
      return 'end the call';
    case 'alert':
      return 'alert supervisors only';
    default:
      return a.type ?? '';
  }
}

function scopeWords(scope) {
  if (!scope) return null;
  const parts = [
    scope.customParameters && Object.keys(scope.customParameters).length ? `parameters ${Object.entries(scope.customParameters).map(([k, v]) => `${k}=${v}`).join(', ')}` : null,
    scope.to?.length ? `to ${scope.to.join(', ')}` : null,
    scope.from?.length ? `from ${scope.from.join(', ')}` : null,
  ].filter(Boolean);
  return parts.length ? h('span', { class: 'rule-meta' }, `only calls with ${parts.join('; ')}`) : null;
}
