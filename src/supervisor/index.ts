// The supervisors' side of takeover as one Fastify plugin: the REST API under /api (Bearer tokens, roles,
// audit, limits that refuse cleanly), live events, the OpenAPI document at /docs/json, the retention job and
// rule-set refresh.
import swagger from '@fastify/swagger';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Bus } from '../bus/types.js';
import type { CallMonitor } from '../calls/monitor.js';
import type { RuleBook } from '../rules/rule-book.js';
import { startRetention } from '../store/retention.js';
import { RuleSets } from '../store/rule-sets.js';
import type { Store } from '../store/types.js';
import type { Classifier } from '../types.js';
import type { Metrics } from '../metrics.js';
import { guard } from './auth.js';
import { DryRunThreads, type ClassifierSettings } from './dry-run-thread.js';
import { openApiComponents, openApiTransform, speakJson } from './http.js';
import { LiveStreams } from './live-streams.js';
import { auditRoutes } from './routes/audit.js';
import { callRoutes } from './routes/calls.js';
import { eventRoutes } from './routes/events.js';
import { ruleRoutes } from './routes/rules.js';
import { tokenRoutes } from './routes/tokens.js';
import { verdictRoutes } from './routes/verdicts.js';

export { loadRuleSet, RuleSets } from '../store/rule-sets.js';
export { issueToken, hashSecret } from './tokens.js';

export interface SupervisorOptions {
  monitor: CallMonitor;
  store: Store;
  bus: Bus;
  /** The running rules; replaced (validated) on every change made through the API. */
  rules: RuleBook;
  /** Used by the dry run when no `dryRun.classifier` settings are given (asked from the dry run's worker, turn by turn). */
  classifier: Classifier;
  /**
   * The dry run's worker threads: their time limit (DRY_RUN_TIMEOUT_MS) and, when the service runs the configured
   * classifier, its settings, so that each worker builds its own.
   */
  dryRun: { timeoutMs: number; classifier?: ClassifierSettings };
  /** Days to keep calls, transcripts and the calls' audit entries (not the change audit); 0 keeps them forever. */
  retentionDays: number;
  /** Queue of a supervisor's takeover when the request names none (HANDOFF_QUEUE). */
  handoffQueue: string;
  /** How often the retention job runs (default hourly). */
  retentionIntervalMs?: number;
  /** How often to poll for rule changes made by other instances, besides their announcements on the bus (default 5 s; 0: never). */
  rulesRefreshMs?: number;
  /** Failed authentications per client address per minute before 429 (default AUTH_FAILURES_PER_MINUTE's). */
  authFailuresPerMinute?: number;
  /** SSE heartbeat (default 15 s); each one also checks the stream's token again. */
  eventsHeartbeatMs?: number;
  /** Live-event streams per token and in all (default LIVE_FEEDS_PER_TOKEN's and LIVE_FEEDS_MAX's). */
  liveFeeds?: { perToken: number; total: number };
  /**
   * Above these the API answers 503 (0: that check is off). Only /api: Twilio's media stream and callbacks,
   * /health and /metrics are never refused under pressure.
   */
  pressure?: { maxEventLoopDelayMs: number; maxHeapUsedBytes: number };
  /** Open feeds, refusals, authentication failures. */
  metrics?: Pick<Metrics, 'liveFeeds' | 'liveFeedsRefused' | 'authFailures' | 'pressureRefused'>;
}

async function supervisor(app: FastifyInstance, opts: SupervisorOptions): Promise<void> {
  const { store, rules } = opts;
  // A change saved here is announced on the bus; every instance (this one ignores it: it runs that version already)
  // reads the stored set at once. The poll stays, for a message lost while Redis was away.
  const ruleSets = new RuleSets(store, rules, (version) => opts.bus.rulesChanged(version));
  const { metrics } = opts;
  const streams = new LiveStreams(opts.liveFeeds, (open) => metrics?.liveFeeds.set(open));

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'takeover supervisor API', version: '1', description: 'See docs/supervisor-api.md. Every /api route needs Authorization: Bearer <token>.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: openApiTransform,
    transformObject: openApiComponents,
  });
  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(
    async (api) => {
      speakJson(api);
      // Before authentication: an overloaded process spends nothing on a supervisor's request, not even a token lookup.
      // (Where an embedding application registered under-pressure for the whole server already, its check stands.)
      if (opts.pressure && !api.hasDecorator('isUnderPressure')) await api.register(underPressure, pressureOptions(opts.pressure, metrics));
      await guard(api, {
        store,
        failuresPerMinute: opts.authFailuresPerMinute,
        onFailure: (outcome) => metrics?.authFailures.inc({ outcome }),
      });
      await api.register(callRoutes, { monitor: opts.monitor, store, bus: opts.bus, handoffQueue: opts.handoffQueue });
      const dryRuns = new DryRunThreads({ timeoutMs: opts.dryRun.timeoutMs, classifier: opts.dryRun.classifier ?? opts.classifier });
      // Closing waits for requests in flight: a dry run must not hold it up for DRY_RUN_TIMEOUT_MS.
      api.addHook('preClose', async () => dryRuns.close());
      await api.register(ruleRoutes, { ruleSets, store, dryRuns });
      await api.register(tokenRoutes, { store, streams });
      await api.register(auditRoutes, { store });
      await api.register(verdictRoutes, { store, monitor: opts.monitor, rules });
      await api.register(eventRoutes, {
        bus: opts.bus,
        store,
        streams,
        heartbeatMs: opts.eventsHeartbeatMs,
        onRefused: (limit) => metrics?.liveFeedsRefused.inc({ limit }),
      });
    },
    { prefix: '/api' },
  );

  const stopRetention = startRetention(store, {
    days: opts.retentionDays,
    intervalMs: opts.retentionIntervalMs,
    onPurged: (r) => {
      if (r.calls + r.transcriptLines + r.auditEntries > 0) app.log.info(r, 'retention: purged old call data');
    },
    onError: (err) => app.log.error({ err }, 'retention: purge failed; it runs again at the next interval'),
  });
  const refreshNow = (announced?: number) => {
    ruleSets
      .refresh()
      .then((changed) => changed && app.log.info({ rules: rules.rules.length, version: announced }, 'rules changed by another instance are running now'))
      .catch((err) => app.log.error({ err }, 'could not refresh the rule set from the store; the running rules stay'));
  };
  const stopListening = opts.bus.onRulesChanged(refreshNow);
  const refreshMs = opts.rulesRefreshMs ?? 5000;
  const refresh = refreshMs > 0 ? setInterval(() => refreshNow(), refreshMs) : undefined;
  refresh?.unref();

  app.addHook('onClose', async () => {
    stopRetention();
    stopListening();
    if (refresh) clearInterval(refresh);
  });
}

const PRESSURE_VARIABLES: Record<string, string> = {
  eventLoopDelay: 'PRESSURE_MAX_EVENT_LOOP_DELAY_MS',
  heapUsedBytes: 'PRESSURE_MAX_HEAP_USED_MB',
};

/** @fastify/under-pressure for the API: 503 with Retry-After and a message naming what is over which limit. */
function pressureOptions(limits: NonNullable<SupervisorOptions['pressure']>, metrics: SupervisorOptions['metrics']) {
  const retryAfter = 10;
  return {
    maxEventLoopDelay: limits.maxEventLoopDelayMs,
    maxHeapUsedBytes: limits.maxHeapUsedBytes,
    retryAfter,
    pressureHandler: (_req: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined) => {
      metrics?.pressureRefused.inc({ type });
      const shown = type === 'heapUsedBytes' ? `${Math.round((value ?? 0) / 2 ** 20)} MB of heap used` : `event loop delay ${Math.round(value ?? 0)} ms`;
      void reply
        .code(503)
        .header('retry-after', String(retryAfter))
        .send({ error: `the service is under pressure (${shown}, over ${PRESSURE_VARIABLES[type] ?? type}): live calls are served first; retry in ${retryAfter} s` });
    },
  };
}

export const supervisorPlugin = fp(supervisor, { name: 'takeover-supervisor', fastify: '5.x' });
