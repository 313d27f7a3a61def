// The dashboard's entry point: sign-in, the hash router (#/live, #/live/<sid>, #/calls, #/calls/<sid>, #/rules), the live
// feed that runs while signed in, and the header (feed status, sign out).
import { api, credentials, onUnauthorized } from './api.js';
import { AuditView, CallsView } from './calls.js';
import { $ } from './dom.js';
import { connectEvents } from './events.js';
import { HealthView } from './health.js';
import { LiveView } from './live.js';
import { RulesView } from './rules.js';

const live = new LiveView($('#view-live'));
const calls = new CallsView($('#view-calls'));
const audit = new AuditView($('#view-audit'));
const health = new HealthView($('#view-health'));
const rules = new RulesView($('#view-rules'), {
  onRules: (set) => {
    live.setRules(set);
    audit.setRules(set);
  },
});

let feed;
let wantedRoute = '#/live';

const FEED_WORDS = { connecting: 'Connecting…', live: 'Live', retrying: 'Reconnecting…' };

function startFeed() {
  feed?.close();
  feed = connectEvents({
    onEvent: (event) => live.handle(event),
    onStatus: (status, delay) => {
      const el = $('#feed-status');
      el.dataset.status = status;
      el.textContent = status === 'retrying' ? `Reconnecting in ${Math.round(delay / 1000)} s…` : FEED_WORDS[status];
      // Whatever happened while the feed was down is only in the API: read it again.
      if (status === 'live') void live.resync();
    },
  });
}

/** Shows who is signed in, and offers only what their role may do (style.css hides the rest by data-needs). */
function showCaller(me) {
  document.body.dataset.role = me.role;
  const who = $('#who');
  who.textContent = `${me.name} · ${me.role}`;
  who.title = {
    viewer: 'Viewer: watches calls and reads rules',
    supervisor: 'Supervisor: also takes over, pauses, resumes and ends calls',
    admin: 'Admin: also edits rules and tokens',
  }[me.role];
}

async function learnRole() {
  try {
    showCaller(await api('/api/me'));
  } catch (err) {
    // 401 signs out (onUnauthorized); otherwise keep the page read-only and say why.
    if (err.status !== 401) $('#who').textContent = 'role unknown: actions hidden';
  }
}

function signedIn(me) {
  $('#main-nav').hidden = false;
  $('#session-bar').hidden = false;
  if (me) showCaller(me);
  else void learnRole();
  startFeed();
  void rules.load();
}

function signOut(message = '') {
  feed?.close();
  feed = undefined;
  credentials.clear();
  live.reset();
  delete document.body.dataset.role;
  $('#who').textContent = '';
  $('#main-nav').hidden = true;
  $('#session-bar').hidden = true;
  $('#login-error').textContent = message;
  location.hash = '#/login';
}

onUnauthorized(() => {
  if (!credentials.token) return;
  wantedRoute = location.hash.startsWith('#/') && location.hash !== '#/login' ? location.hash : wantedRoute;
  signOut('The service no longer accepts your token (revoked, or the service was reset). Sign in again.');
});

$('#login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('#login-token');
  const token = input.value.trim();
  const error = $('#login-error');
  if (!token) {
    error.textContent = 'Paste your API token first.';
    input.focus();
    return;
  }
  error.textContent = '';
  const button = e.submitter ?? $('#login-form button[type=submit]');
  button.disabled = true;
  try {
    // Any role may ask who it is: the answer proves the token and says what the page may offer.
    const me = await api('/api/me', { token });
    credentials.set(token);
    input.value = '';
    signedIn(me);
    location.hash = wantedRoute;
  } catch (err) {
    error.textContent = err.status === 401 ? 'The service does not know this token (mistyped, or revoked). Check it and try again.' : err.message;
    input.select();
  } finally {
    button.disabled = false;
  }
});

$('#sign-out').addEventListener('click', () => signOut());

// The skip link must not change the hash: the hash is the route.
$('#skip-link').addEventListener('click', (e) => {
  e.preventDefault();
  $('#main').focus();
});

const VIEWS = ['login', 'live', 'calls', 'audit', 'rules', 'health'];

function route() {
  const hash = location.hash || '#/live';
  if (!hash.startsWith('#/')) return;
  if (!credentials.token && hash !== '#/login') {
    wantedRoute = hash;
    location.replace('#/login');
    return;
  }
  if (credentials.token && hash === '#/login') {
    location.replace(wantedRoute);
    return;
  }
  const [, name, arg] = hash.split('/');
  const view = name === 'calls' && arg ? 'audit' : VIEWS.includes(name) ? name : 'live';
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== view;
  for (const a of document.querySelectorAll('#main-nav a')) {
    const current = a.dataset.view === view || (view === 'audit' && a.dataset.view === 'calls');
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${{ login: 'Sign in', live: arg ? 'Live call' : 'Live calls', calls: 'Call history', audit: 'Call audit', rules: 'Rules', health: 'Rule health' }[view]} · takeover`;
  if (view === 'calls') void calls.show();
  if (view === 'audit') void audit.show(decodeURIComponent(arg));
  if (view === 'rules') void rules.show();
  if (view === 'health') void health.show();
  // Screen readers hear the new view's heading; keyboard users continue from the top of it. Back from a call's
  // detail, the board has the keyboard again, on that call.
  let target = view === 'login' ? $('#login-token') : $(`#view-${view} h1`);
  if (view === 'live') target = arg ? live.open(decodeURIComponent(arg)) : live.showBoard();
  target?.focus({ preventScroll: true });
}

window.addEventListener('hashchange', route);
if (credentials.token) signedIn();
route();
