// Prometheus metrics (prom-client), served at /metrics. Counts and timings only: no call SID, number or text
// ever becomes a label.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoreHealth } from './store/types.js';

export interface Metrics {
  registry: Registry;
  badFrames: Counter<'reason'>;
  decisions: Counter<'action' | 'mode'>;
  outcomes: Counter<'action' | 'result'>;
  /** Actions that failed, by Twilio's error code (or HTTP status, or the network error). */
  actionFailures: Counter<'action' | 'code'>;
  /** Transcript received → first REST request sent, for decisions that changed a call. */
  decisionSeconds: Histogram;
  liveCalls: Gauge<'state'>;
  /** Media Streams refused because the call they name is not theirs (another account's, one with a live stream, …). */
  streamsRefused: Counter<'reason'>;
  /** Limits that refuse cleanly: what is open against each, and what was refused or closed. */
  liveFeeds: Gauge;
  liveFeedsRefused: Counter<'limit'>;
  authFailures: Counter<'outcome'>;
  pendingConnections: Gauge;
  connectionsClosed: Counter<'reason'>;
  pressureRefused: Counter<'type'>;
}

export function createMetrics(liveCalls: () => Map<string, number>): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'takeover_process_' });
  return {
    registry,
    badFrames: new Counter({
      name: 'takeover_bad_frames_total',
      help: 'Media Stream frames dropped as malformed, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    decisions: new Counter({ name: 'takeover_decisions_total', help: 'Decisions made by rules or supervisors', labelNames: ['action', 'mode'], registers: [registry] }),
    outcomes: new Counter({ name: 'takeover_action_outcomes_total', help: 'Outcomes of actions on calls', labelNames: ['action', 'result'], registers: [registry] }),
    actionFailures: new Counter({
      name: 'takeover_action_failures_total',
      help: 'Actions on calls that failed after their retries, by action and Twilio error code (HTTP status or network error when there was none)',
      labelNames: ['action', 'code'],
      registers: [registry],
    }),
    decisionSeconds: new Histogram({
      name: 'takeover_decision_seconds',
      help: 'From the transcript reaching takeover to the REST request leaving for Twilio',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    liveCalls: new Gauge({
      name: 'takeover_calls',
      help: 'Calls takeover knows of, by state',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [state, n] of liveCalls()) this.set({ state }, n);
      },
    }),
    streamsRefused: new Counter({
      name: 'takeover_streams_refused_total',
      help: 'Media Streams refused (closed with 1008) by reason: foreign account, second stream, stream reused, not a re-created stream',
      labelNames: ['reason'],
      registers: [registry],
    }),
    liveFeeds: new Gauge({ name: 'takeover_live_feeds', help: 'Live-event (SSE) streams open on this instance', registers: [registry] }),
    liveFeedsRefused: new Counter({
      name: 'takeover_live_feeds_refused_total',
      help: 'Live-event streams refused, by the limit reached (per_token, total)',
      labelNames: ['limit'],
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'takeover_auth_failures_total',
      help: 'Failed supervisor authentications, by answer (rejected: 401, throttled: 429)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    pendingConnections: new Gauge({
      name: 'takeover_pending_connections',
      help: 'Sockets that have not sent a whole request or upgrade yet, or sit idle between requests',
      registers: [registry],
    }),
    connectionsClosed: new Counter({
      name: 'takeover_connections_closed_total',
      help: 'Sockets closed by the connection limits, by reason (handshake_timeout, evicted)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    pressureRefused: new Counter({
      name: 'takeover_pressure_refused_total',
      help: 'Supervisor API requests refused with 503 under pressure, by what was over its limit',
      labelNames: ['type'],
      registers: [registry],
    }),
  };
}

/** The store's write queue: read from its health at each scrape (the store exists before the metrics do). */
export function registerStoreMetrics(registry: Registry, health: () => StoreHealth | undefined): void {
  const gauge = (name: string, help: string, value: (h: StoreHealth) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const h = health();
        if (h) this.set(value(h));
      },
    });
  gauge('takeover_store_up', '1 while the database takes writes, 0 from a failed write until one succeeds', (h) => (h.up ? 1 : 0));
  gauge('takeover_store_writes_waiting', 'Audit entries, transcript lines and call records waiting for the database (write queue)', (h) => h.waiting);
  // Totals since start, kept by the store: counters in Prometheus's sense (they only go up until a restart).
  const total = (name: string, help: string, value: (h: StoreHealth) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const h = health();
        if (!h) return;
        this.reset();
        this.inc(value(h));
      },
    });
  total('takeover_store_writes_dropped_total', 'Writes lost because the write queue was full (AUDIT_QUEUE_MAX_ENTRIES)', (h) => h.dropped);
  total('takeover_store_writes_rejected_total', 'Writes the database refused for their content (kept in rejected.jsonl)', (h) => h.rejected);
}
