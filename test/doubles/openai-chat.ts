// A local stand-in for an OpenAI-compatible Chat Completions server (POST /v1/chat/completions), for tests.
// Scripted per test, records what it received; enough of the protocol for the openai SDK's chat.completions.parse.
//
//   const llm = await startChatDouble();
//   llm.reply({ json: { ... } }, { status: 429 }, { content: 'not json' }, { refusal: 'no' }, { json: {...}, delayMs: 500 });
//   new OpenAI({ baseURL: llm.baseURL, apiKey: 'test' });   // each request takes the next reply, then the default
//   llm.requests[0].body.messages                            // what the client sent
//   await llm.close();

import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ChatReply =
  /** A normal answer whose message content is JSON.stringify(json). */
  | { json: unknown; usage?: { prompt_tokens: number; completion_tokens: number }; delayMs?: number }
  /** A normal answer with this exact content (e.g. invalid JSON). */
  | { content: string; delayMs?: number }
  /** The model refuses: message.refusal set, content null. */
  | { refusal: string; delayMs?: number }
  /** An HTTP error such as 429 or 500; 429 and 5xx carry `retry-after-ms: 5` unless headers say otherwise. */
  | { status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body (model, messages, response_format, …). */
  body: any;
}

export interface ChatDouble {
  /** Pass as the SDK's baseURL; ends in /v1. */
  readonly baseURL: string;
  readonly requests: RecordedRequest[];
  /** Queues replies, used one per request in order. */
  reply(...replies: ChatReply[]): void;
  /** The reply when the queue is empty (a fixed one, or computed from the request). */
  setDefault(reply: ChatReply | ((req: RecordedRequest) => ChatReply)): void;
  close(): Promise<void>;
}

const DEFAULT_USAGE = { prompt_tokens: 120, completion_tokens: 40 };

export async function startChatDouble(options: { default?: ChatReply } = {}): Promise<ChatDouble> {
  const queue: ChatReply[] = [];
  const requests: RecordedRequest[] = [];
  let fallback: ChatReply | ((req: RecordedRequest) => ChatReply) = options.default ?? { status: 500, body: { error: { message: 'chat double: no reply scripted' } } };
  let served = 0;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = raw;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        // Recorded as text: a test may want to see a malformed request.
      }
      const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(recorded);
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        send(res, 404, { error: { message: `chat double: no route ${req.method} ${req.url}` } });
        return;
      }
      const next = queue.shift() ?? (typeof fallback === 'function' ? fallback(recorded) : fallback);
      served++;
      const timer = setTimeout(() => answer(res, next, recorded, served), next.delayMs ?? 0);
      res.on('close', () => clearTimeout(timer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    reply: (...replies) => void queue.push(...replies),
    setDefault: (reply) => {
      fallback = reply;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function answer(res: ServerResponse, reply: ChatReply, req: RecordedRequest, n: number): void {
  if (res.destroyed) return;
  if ('status' in reply) {
    const retry: Record<string, string> = reply.status === 429 || reply.status >= 500 ? { 'retry-after-ms': '5' } : {};
    send(res, reply.status, reply.body ?? { error: { message: `chat double: status ${reply.status}`, type: 'test' } }, { ...retry, ...reply.headers });
    return;
  }
  const refusal = 'refusal' in reply ? reply.refusal : null;
  const content = 'json' in reply ? JSON.stringify(reply.json) : 'content' in reply ? reply.content : null;
  const usage = ('json' in reply && reply.usage) || DEFAULT_USAGE;
  send(res, 200, {
    id: `chatcmpl-double-${n}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: typeof req.body?.model === 'string' ? req.body.model : 'double',
    choices: [{ index: 0, message: { role: 'assistant', content, refusal }, finish_reason: 'stop', logprobs: null }],
    usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
