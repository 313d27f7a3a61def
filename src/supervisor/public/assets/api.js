// Talks to the supervisor API (docs/supervisor-api.md): the token kept for this tab, JSON requests with
// `Authorization: Bearer`, and errors turned into messages a supervisor can act on.

const TOKEN_KEY = 'takeover.token';

/** The token lives in sessionStorage: it dies with the tab and is never written to disk by the page. */
export const credentials = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  },
  set(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiError extends Error {
  constructor(status, message, issues = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    /** `[{ path, message }]` for a rule that does not validate. */
    this.issues = issues;
  }
}

const unauthorizedListeners = new Set();

/** Called when the service no longer accepts the token (revoked, or the service restarted with a new store). */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
}

export function signalUnauthorized() {
  for (const l of unauthorizedListeners) l();
}

export function authHeaders(extra = {}) {
  return { authorization: `Bearer ${credentials.token}`, ...extra };
}

/** JSON request to /api…; resolves with the parsed body, rejects with ApiError. */
export async function api(path, { method = 'GET', body, signal, token } = {}) {
  const headers = { accept: 'application/json', authorization: `Bearer ${token ?? credentials.token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'Cannot reach the service: check the network, then try again.');
  }
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (res.ok) return data;
  const error = new ApiError(res.status, messageFor(res.status, data?.error), Array.isArray(data?.issues) ? data.issues : []);
  // Only a request made with the stored token says that token is dead; a login attempt says nothing yet.
  if (res.status === 401 && token === undefined) signalUnauthorized();
  throw error;
}

function messageFor(status, serverMessage) {
  if (serverMessage) return serverMessage;
  switch (status) {
    case 401:
      return 'The service does not accept this token (unknown or revoked): sign in again.';
    case 403:
      return "This token's role is too low for that: ask an admin for a supervisor or admin token.";
    case 404:
      return 'Not found: the call or rule may have gone.';
    case 429:
      return 'Too many attempts: wait a minute, then try again.';
    default:
      return `The service answered ${status}: try again, and check the service log if it persists.`;
  }
}
