// Bounds on the sockets that do nothing yet: accepted but without a whole request or WebSocket upgrade, or idle
// between keep-alive requests. Only those are counted, never a served request, a live-event stream or an
// upgraded Twilio Media Stream, so a flood of half-open connections cannot use up the process's file handles
// while live calls keep streaming.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimitOptions {
  /** Sockets waiting for a request (PENDING_CONNECTIONS_MAX); beyond it the oldest are closed, at twice it at once. */
  maxPending: number;
  /** A new socket that has not sent a whole request head or upgrade this long after connecting is closed. */
  handshakeTimeoutMs: number;
  onClosed?: (reason: 'handshake_timeout' | 'evicted') => void;
  /** Told the number of waiting sockets whenever it changes (a gauge). */
  onPending?: (waiting: number) => void;
}

/** A new socket gets this long to send its request before it may make room for another. */
const GRACE_MS = 100;

interface Waiting {
  since: number;
  /** Never sent a request: the first to go. An idle kept-alive socket has been a real client. */
  fresh: boolean;
  timer?: NodeJS.Timeout;
}

/**
 * Watches `server`'s sockets. Beyond the bound, the oldest new sockets that have had GRACE_MS to send their request
 * are closed rather than new ones refused: a real client (Twilio opening a stream) sends its request as soon as it has
 * connected, so it gets through while a flood of sockets that never send one is closed as fast as it arrives. Idle
 * kept-alive sockets go only at twice the bound, when the oldest sockets are closed at once, new ones first: so no more
 * than twice the bound (and one accept batch) are ever held.
 */
export function limitPendingConnections(server: Server, opts: ConnectionLimitOptions): { waiting(): number } {
  const waiting = new Map<Socket, Waiting>();
  const inFlight = new WeakMap<Socket, number>();
  const hardMax = 2 * opts.maxPending;
  const changed = () => opts.onPending?.(waiting.size);

  const stopWaiting = (socket: Socket) => {
    const w = waiting.get(socket);
    if (!w) return;
    clearTimeout(w.timer);
    waiting.delete(socket);
    changed();
  };
  const close = (socket: Socket, reason: 'handshake_timeout' | 'evicted') => {
    stopWaiting(socket);
    socket.destroy();
    opts.onClosed?.(reason);
  };

  let sweepTimer: NodeJS.Timeout | undefined;
  /** Closes new sockets past their grace, oldest first, down to the bound. */
  const sweep = () => {
    sweepTimer = undefined;
    const now = performance.now();
    for (const [socket, w] of waiting) {
      if (waiting.size <= opts.maxPending) break;
      if (!w.fresh) continue;
      // New sockets are in the order they arrived: the rest are younger still.
      if (now - w.since < GRACE_MS) break;
      close(socket, 'evicted');
    }
    if (waiting.size > opts.maxPending) schedule();
  };
  const schedule = () => {
    sweepTimer ??= setTimeout(sweep, GRACE_MS / 2);
    sweepTimer.unref();
  };
  const oldest = (): Socket => {
    for (const [socket, w] of waiting) if (w.fresh) return socket;
    return waiting.keys().next().value!;
  };

  /** `timeoutMs` for a new socket. An idle kept-alive one is left to the server's keepAliveTimeout. */
  const startWaiting = (socket: Socket, fresh: boolean) => {
    if (socket.destroyed || waiting.has(socket)) return;
    while (waiting.size >= hardMax) close(oldest(), 'evicted');
    const timer = fresh ? setTimeout(() => close(socket, 'handshake_timeout'), opts.handshakeTimeoutMs) : undefined;
    timer?.unref();
    waiting.set(socket, { since: performance.now(), fresh, timer });
    changed();
    if (waiting.size > opts.maxPending) schedule();
  };

  server.on('connection', (socket: Socket) => {
    startWaiting(socket, true);
    socket.once('close', () => stopWaiting(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    stopWaiting(socket);
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (inFlight.get(socket) ?? 1) - 1;
      inFlight.set(socket, left);
      if (left === 0) startWaiting(socket, false);
    });
  });
  // From here the socket belongs to the WebSocket server (or is refused at once by the signature check).
  server.on('upgrade', (req: IncomingMessage) => stopWaiting(req.socket));

  return { waiting: () => waiting.size };
}
