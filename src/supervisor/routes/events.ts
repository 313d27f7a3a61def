// GET /api/events: the bus's live events as Server-Sent Events. Text in them is already redacted.
// A stream ends when its client goes, when it falls too far behind, or when the service closes.
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Bus } from '../../bus/types.js';

export interface EventRoutesOptions {
  bus: Bus;
  /** A comment line this often keeps proxies from closing an idle stream. */
  heartbeatMs?: number;
  /** A client this many bytes behind is dropped rather than buffered without end. */
  maxBufferedBytes?: number;
}

export async function eventRoutes(app: FastifyInstance, opts: EventRoutesOptions): Promise<void> {
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

      const maxBuffered = opts.maxBufferedBytes ?? 1_000_000;
      const unsubscribe = opts.bus.subscribe((event) => {
        if (res.writableLength > maxBuffered) {
          req.log.warn({ buffered: res.writableLength }, 'supervisor events: client too slow, closing its stream');
          res.end();
          return;
        }
        res.write(`data: ${JSON.stringify(event)}\n\n`);
      });
      const heartbeat = setInterval(() => res.write(': ping\n\n'), opts.heartbeatMs ?? 15_000);
      heartbeat.unref();

      let stopped = false;
      const stop = () => {
        if (stopped) return;
        stopped = true;
        unsubscribe();
        clearInterval(heartbeat);
        open.delete(res);
      };
      res.on('close', stop);
      req.raw.on('close', () => {
        if (!res.writableEnded) res.end();
        stop();
      });
    },
  );
}
