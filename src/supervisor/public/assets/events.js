// The live feed: GET /api/events read as Server-Sent Events over fetch() (EventSource cannot send the
// Authorization header), reconnecting with backoff. Each `data:` payload is one LiveEvent (src/bus/types.ts).
import { authHeaders, signalUnauthorized } from './api.js';

/**
 * Splits SSE text into complete events; returns them and the unfinished tail to keep for the next chunk.
 * Follows the WHATWG rules that matter here: CR/LF/CRLF line ends, `:` comments, multi-line data.
 */
export function parseSse(text) {
  const events = [];
  const blocks = text.split(/\r\n\r\n|\n\n|\r\r/);
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let event = 'message';
    const data = [];
    let id;
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
      else if (field === 'id') id = value;
    }
    if (data.length > 0) events.push({ event, data: data.join('\n'), id });
  }
  return { events, rest };
}

/**
 * Connects and keeps connecting until `close()`. `onStatus` gets 'connecting', 'live' or 'retrying'
 * (with the delay); a 'live' after 'retrying' means events may have been missed, so callers re-sync then.
 */
export function connectEvents({ onEvent, onStatus }) {
  const controller = new AbortController();
  let closed = false;
  let attempt = 0;

  async function once() {
    onStatus('connecting');
    const res = await fetch('/api/events', {
      headers: authHeaders({ accept: 'text/event-stream' }),
      signal: controller.signal,
      cache: 'no-store',
    });
    if (res.status === 401) {
      closed = true;
      signalUnauthorized();
      return;
    }
    if (!res.ok || !res.body) throw new Error(`the live feed answered ${res.status}`);
    attempt = 0;
    onStatus('live');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      const { events, rest } = parseSse(buffer);
      buffer = rest;
      for (const e of events) {
        let parsed;
        try {
          parsed = JSON.parse(e.data);
        } catch {
          continue; // a keep-alive or a payload this page does not know: nothing to show
        }
        try {
          onEvent(parsed);
        } catch (err) {
          console.error('live event handler failed', err, parsed);
        }
      }
    }
  }

  (async () => {
    while (!closed) {
      try {
        await once();
      } catch (err) {
        if (closed || err?.name === 'AbortError') return;
        console.warn('live feed interrupted:', err?.message ?? err);
      }
      if (closed) return;
      const delay = Math.min(15_000, 1000 * 2 ** attempt++);
      onStatus('retrying', delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  })();

  return {
    close() {
      closed = true;
      controller.abort();
    },
  };
}
