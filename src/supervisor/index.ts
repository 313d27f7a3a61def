// The supervisors' side of takeover as one Fastify plugin: the REST API under /api (Bearer tokens, roles,
// audit), live events, the OpenAPI document at /docs/json, the retention job and rule-set refresh.
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Bus } from '../bus/types.js';
import type { CallMonitor } from '../calls/monitor.js';
import type { RuleBook } from '../rules/rule-book.js';
import { startRetention } from '../store/retention.js';
import { RuleSets } from '../store/rule-sets.js';
import type { Store } from '../store/types.js';
import type { Classifier } from '../types.js';
import { FailureLimit, guard } from './auth.js';
import { openApiComponents, openApiTransform, speakJson } from './http.js';
import { LiveStreams } from './live-streams.js';
import { auditRoutes } from './routes/audit.js';
import { callRoutes } from './routes/calls.js';
import { eventRoutes } from './routes/events.js';
import { ruleRoutes } from './routes/rules.js';
import { tokenRoutes } from './routes/tokens.js';

export { loadRuleSet, RuleSets } from '../store/rule-sets.js';
export { issueToken, hashSecret } from './tokens.js';

export interface SupervisorOptions {
  monitor: CallMonitor;
  store: Store;
  bus: Bus;
  /** The running rules; replaced (validated) on every change made through the API. */
  rules: RuleBook;
  /** Used by the dry run. */
  classifier: Classifier;
  /** Days to keep calls, transcripts and the calls' audit entries (not the change audit); 0 keeps them forever. */
  retentionDays: number;
  /** Queue of a supervisor's takeover when the request names none (default `support`). */
  handoffQueue?: string;
  /** How often the retention job runs (default hourly). */
  retentionIntervalMs?: number;
  /** How often to pick up rule changes made by other instances (default 5 s; 0: never). */
  rulesRefreshMs?: number;
  /** Failed authentications per client address per minute before 429 (default 10). */
  authFailuresPerMinute?: number;
  /** SSE heartbeat (default 15 s); each one also checks the stream's token again. */
  eventsHeartbeatMs?: number;
}

async function supervisor(app: FastifyInstance, opts: SupervisorOptions): Promise<void> {
  const { store, rules } = opts;
  const ruleSets = new RuleSets(store, rules);
  const streams = new LiveStreams();

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
      guard(api, { store, limit: new FailureLimit(opts.authFailuresPerMinute ?? 10, 60_000) });
      await api.register(callRoutes, { monitor: opts.monitor, store, bus: opts.bus, handoffQueue: opts.handoffQueue ?? 'support' });
      await api.register(ruleRoutes, { ruleSets, store, classifier: opts.classifier });
      await api.register(tokenRoutes, { store, streams });
      await api.register(auditRoutes, { store });
      await api.register(eventRoutes, { bus: opts.bus, store, streams, heartbeatMs: opts.eventsHeartbeatMs });
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
  const refreshMs = opts.rulesRefreshMs ?? 5000;
  const refresh =
    refreshMs > 0
      ? setInterval(() => {
          ruleSets
            .refresh()
            .then((changed) => changed && app.log.info({ rules: rules.rules.length }, 'rules changed by another instance are running now'))
            .catch((err) => app.log.error({ err }, 'could not refresh the rule set from the store; the running rules stay'));
        }, refreshMs)
      : undefined;
  refresh?.unref();

  app.addHook('onClose', async () => {
    stopRetention();
    if (refresh) clearInterval(refresh);
  });
}

export const supervisorPlugin = fp(supervisor, { name: 'takeover-supervisor', fastify: '5.x' });
