// GET /api/events: the bus's live events as Server-Sent Events. Text in them is already redacted.
// A stream beyond LIVE_FEEDS_PER_TOKEN or LIVE_FEEDS_MAX is refused before anything is set up for it.
// A stream ends when its client goes, when it falls too far behind, when its token is revoked (at once through
// this instance; elsewhere, at the next heartbeat, which checks the token again) or when the service closes.
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Bus, LiveEvent } from '../../bus/types.js';
import type { Store } from '../../store/types.js';
import { tokenStillValid } from '../auth.js';
import { LiveStreams } from '../live-streams.js';

export interface EventRoutesOptions {
  bus: Bus;
  /** Where each heartbeat checks that the stream's token is still good. */
  store: Store;
  /** The open streams by token, shared with the route that revokes tokens. */
  streams?: LiveStreams;
  /** A comment line this often keeps proxies from closing an idle stream; the token is checked again as often. */
  heartbeatMs?: number;
  /** A client this many bytes behind is dropped rather than buffered without end. */
  maxBufferedBytes?: number;
  /** Told which limit refused a stream (a counter). */
  onRefused?: (limit: 'per_token' | 'total') => void;
}

/**
 * One bus subscription for every stream of this instance: each event is serialised once, and written after the
 * tick that published it, so a call's pipeline never waits on supervisors' sockets however many are open.
 */
class Fanout {
  readonly #writers = new Set<(chunk: string) => void>();
  #unsubscribe: (() => void) | undefined;
  #queued: LiveEvent[] = [];

  constructor(private readonly bus: Bus) {}

  /** Returns the function that stops writing to this stream. */
  add(write: (chunk: string) => void): () => void {
    this.#writers.add(write);
    this.#unsubscribe ??= this.bus.subscribe((event) => {
      if (this.#queued.push(event) === 1) setImmediate(() => this.#flush());
    });
    return () => {
      this.#writers.delete(write);
      if (this.#writers.size === 0) {
        this.#unsubscribe?.();
        this.#unsubscribe = undefined;
      }
    };
  }

  #flush(): void {
    const chunk = this.#queued.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('');
    this.#queued = [];
    for (const write of [...this.#writers]) write(chunk);
  }
}

export async function eventRoutes(app: FastifyInstance, opts: EventRoutesOptions): Promise<void> {
  const streams = opts.streams ?? new LiveStreams();
  const fanout = new Fanout(opts.bus);
  const open = new Set<ServerResponse>();
  // preClose: open streams would otherwise keep app.close() waiting for their connections.
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });

  app.get(
    '/events',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Live events (Server-Sent Events): one `data: <LiveEvent JSON>` per call, utterance, assessment, decision, outcome or gate event',
        tags: ['events'],
        produces: ['text/event-stream'],
      },
    },
    (req, reply) => {
      const caller = req.caller!;
      // First, before anything is set up for this stream; `streams.add` below takes the slot in this same tick.
      const refused = streams.refusal(caller.tokenId, caller.name);
      if (refused) {
        opts.onRefused?.(refused.limit);
        return reply.code(refused.status).header('retry-after', String(refused.retryAfterSeconds)).send({ error: refused.error });
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // nginx would otherwise buffer the stream.
        'x-accel-buffering': 'no',
      });
      res.write('retry: 3000\n: connected\n\n');
      open.add(res);

      let stopped = false;
      let forget = () => {};
      const stop = () => {
        if (stopped) return;
        stopped = true;
        unsubscribe();
        clearInterval(heartbeat);
        forget();
        open.delete(res);
      };
      /** Ends the stream from this side: nothing more is written to it from here on. */
      const end = (last = '') => {
        stop();
        if (!res.writableEnded) res.end(last);
      };

      const maxBuffered = opts.maxBufferedBytes ?? 1_000_000;
      const unsubscribe = fanout.add((chunk) => {
        if (res.writableLength > maxBuffered) {
          req.log.warn({ buffered: res.writableLength }, 'supervisor events: client too slow, closing its stream');
          end();
          return;
        }
        res.write(chunk);
      });
      const revoked = () => {
        if (stopped) return;
        req.log.info({ tokenId: caller.tokenId }, 'supervisor events: the token was revoked, closing its stream');
        end(': token revoked\n\n');
      };
      let checking = false;
      const heartbeat = setInterval(() => {
        res.write(': ping\n\n');
        // The token may have been revoked where this instance could not see it (another instance, the CLI).
        if (checking) return;
        checking = true;
        tokenStillValid(opts.store, caller)
          .then((valid) => valid || revoked())
          // The store failing is no revocation: the stream stays, and the next heartbeat asks again.
          .catch((err) => req.log.warn({ err }, 'supervisor events: could not check the token again; the stream stays open'))
          .finally(() => (checking = false));
      }, opts.heartbeatMs ?? 15_000);
      heartbeat.unref();
      // Last: a token revoked meanwhile ends the stream right here.
      forget = streams.add(caller.tokenId, revoked);

      res.on('close', stop);
      req.raw.on('close', () => end());
    },
  );
}
