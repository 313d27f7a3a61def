// Small DOM building blocks for the dashboard. Text always goes in as text nodes, never as HTML:
// transcripts are caller speech and must not be able to inject markup.

/**
 * Creates an element. `attrs`: `class`, `data-*`, `aria-*`, plain attributes, boolean attributes
 * (true/false), and `on<event>` functions. Children: nodes, strings, numbers, arrays, null.
 */
export function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** A copy of a <template id="…"> from the page, as its first element. */
export function fromTemplate(id) {
  const tpl = document.getElementById(id);
  return tpl.content.firstElementChild.cloneNode(true);
}

export function clockTime(ms) {
  if (!ms) return '—';
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function dateTime(ms) {
  if (!ms) return '—';
  return new Date(ms).toLocaleString([], { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function duration(ms) {
  if (ms === undefined || ms === null || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  return m ? `${m} min ${String(s % 60).padStart(2, '0')} s` : `${s} s`;
}

/** The SID without its middle: enough to tell calls apart at a glance. The full SID is in the title. */
export function shortSid(sid) {
  return sid && sid.length > 14 ? `${sid.slice(0, 6)}…${sid.slice(-6)}` : sid ?? '';
}

export const STATE_LABELS = {
  monitoring: 'Monitoring',
  paused: 'Paused',
  handed_off: 'Handed off',
  ended: 'Ended',
};

export function stateBadge(state) {
  return h('span', { class: `badge state-${state ?? 'unknown'}` }, STATE_LABELS[state] ?? state ?? 'unknown');
}

export const TRACK_LABELS = { inbound: 'Caller', outbound: 'Agent' };
