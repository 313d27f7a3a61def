// Wires the service from configuration: one Fastify app, the call pipeline and its stages.
// Which implementation each stage gets (classifier, transcriber, store, bus) is decided here and only here.
import { timingSafeEqual } from 'node:crypto';
import formbody from '@fastify/formbody';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { ActionExecutor } from './actions/executor.js';
import { secureCaptureRoute } from './actions/secure-capture-route.js';
import { createTwilioClient, twilioCallControl, type CallControl } from './actions/twilio-rest.js';
import { LocalBus } from './bus/local.js';
import { RedisBus } from './bus/redis.js';
import type { Bus } from './bus/types.js';
import { CallMonitor } from './calls/monitor.js';
import { createClassifier } from './classification/index.js';
import { LlmSummarizer, localSummarizer, type HandoffSummarizer } from './classification/summary.js';
import type { Config } from './config.js';
import { limitPendingConnections } from './connection-limits.js';
import { HolderForwarding } from './holders.js';
import { mediaStreamRoute } from './media/stream-route.js';
import { createMetrics, registerStoreMetrics } from './metrics.js';
import { RuleBook } from './rules/rule-book.js';
import { createStore, QueuedStore, storeReadiness } from './store/index.js';
import { loadRuleSet } from './store/rule-sets.js';
import type { Store } from './store/types.js';
import { createOpenAIRealtimeTranscription } from './transcription/openai-realtime.js';
import { twilioTranscription, type TranscriberFactory } from './transcription/transcriber.js';
import { twilioTranscriptionRoute } from './transcription/twilio-callbacks.js';
import { dashboard } from './supervisor/dashboard.js';
import { supervisorPlugin } from './supervisor/index.js';
import type { SignatureOptions } from './twilio-signature.js';
import type { Classifier } from './types.js';

export interface Service {
  app: FastifyInstance;
  monitor: CallMonitor;
  store: Store;
  bus: Bus;
  rules: RuleBook;
  /**
   * From now on no new call (streams and callbacks of new calls get 503, /readyz is unready); resolves when the
   * live calls have ended or SHUTDOWN_DRAIN_SECONDS have passed.
   */
  drain(): Promise<void>;
  /** At start-up, once listening: ends the calls this instance's last process left open, resumes its pauses on time. */
  recover(): Promise<{ ended: number; pausesTakenOver: number }>;
  /** Stops accepting, waits for work in flight, closes everything. */
  close(): Promise<void>;
}

/** Stages a caller may supply instead of the configured ones (an embedding application, a benchmark). */
export interface ServiceParts {
  classifier: Classifier;
  store: Store;
  bus: Bus;
  callControl: CallControl;
  transcribers: TranscriberFactory;
  rules: RuleBook;
  /** Where log lines go (default: stdout). */
  logDestination: NodeJS.WritableStream;
}

export async function buildService(config: Config, parts: Partial<ServiceParts> = {}): Promise<Service> {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      // Headers can carry credentials and signatures; bodies are never logged.
      redact: ['req.headers.authorization', 'req.headers["x-twilio-signature"]', 'req.headers.cookie'],
      ...(parts.logDestination ? { stream: parts.logDestination } : {}),
    },
    // Off by default: a client could otherwise pick its own address (X-Forwarded-For) and dodge rate limits.
    trustProxy: typeof config.trustProxy === 'number' ? hops(config.trustProxy) : config.trustProxy,
  });

  if (!config.verifySignatures) {
    app.log.warn('!!! ALLOW_UNSIGNED=1: Twilio signatures are NOT checked. Anyone who can reach this service can feed it calls. Local use only. !!!');
  }

  const store =
    parts.store ??
    // Call data the database cannot take now waits on local disk (config.auditQueue) instead of being lost.
    QueuedStore.open(await createStore({ ...config.store, onError: (err) => app.log.error({ err }, 'database connection error') }), {
      ...config.auditQueue,
      log: app.log,
    });
  const bus = parts.bus ?? (config.redisUrl ? await RedisBus.connect({ url: config.redisUrl, channel: config.redisChannel, holder: config.lifecycle.instanceId, logger: app.log }) : new LocalBus());
  const rules = parts.rules ?? (await RuleBook.fromFile(config.rulesFile, { HANDOFF_QUEUE: config.handoffQueue }));
  // The store is the source of truth for rules; the file only seeds an empty store.
  await loadRuleSet(store, rules, { source: parts.rules ? 'given' : 'file', origin: parts.rules ? 'the embedding application' : config.rulesFile, log: app.log });
  const classifier =
    parts.classifier ??
    createClassifier({ kind: config.classifier.kind, llm: config.classifier.llm, logger: app.log });
  const summarizer: HandoffSummarizer =
    config.summary.kind === 'llm'
      ? new LlmSummarizer({
          apiKey: config.classifier.llm.apiKey,
          baseURL: config.classifier.llm.baseURL,
          model: config.classifier.llm.model,
          deadlineMs: config.summary.deadlineMs,
          logger: app.log,
        })
      : localSummarizer;
  const callControl = parts.callControl ?? twilioCallControl(createTwilioClient(config.twilio));
  const executor = new ActionExecutor(
    callControl,
    (e) => void store.appendAudit({ at: Date.now(), callSid: e.callSid ?? '', ...e }).catch((err) => app.log.error({ err }, 'audit write failed')),
    {
      deadlineMs: config.actions.deadlineMs,
      backoffBaseMs: config.actions.retryInitialMs,
      backoffCapMs: config.actions.retryMaxMs,
      keepListeningAfterHandoff: config.keepListeningAfterHandoff,
      secureCaptureActionUrl: `${config.publicUrl}/twilio/secure-capture`,
    },
  );
  const { transcription } = config;
  const transcribers: TranscriberFactory =
    parts.transcribers ??
    (transcription.provider === 'openai'
      ? createOpenAIRealtimeTranscription({ ...transcription.openai, apiKey: transcription.openai.apiKey!, logger: app.log })
      : twilioTranscription);
  const metrics = createMetrics(() => {
    const byState = new Map<string, number>();
    for (const s of monitor.sessions.values()) byState.set(s.state, (byState.get(s.state) ?? 0) + 1);
    return byState;
  });
  registerStoreMetrics(metrics.registry, () => store.health?.());
  const monitor: CallMonitor = new CallMonitor(
    { classifier, rules, executor, store, bus, log: app.log, transcribers, summarizer, metrics },
    {
      mediaStreamUrl: config.mediaStreamUrl,
      transcriptionCallbackUrl: `${config.publicUrl}/twilio/transcription`,
      streamName: config.streamName,
      instanceId: config.lifecycle.instanceId,
      idleMs: config.lifecycle.idleMs,
    },
  );
  // Supervisors connected to another instance reach the calls this one holds, and so do Twilio's requests about
  // them that the load balancer sent elsewhere.
  const holders = new HolderForwarding(bus, monitor, app.log);
  const stopWatching = holders.watchInstances(config.lifecycle.ttlMs);
  const signature: SignatureOptions = {
    authToken: config.twilio.authToken,
    verify: config.verifySignatures,
    publicUrl: config.publicUrl,
  };

  await app.register(formbody);
  // Restarts and shutdown: while draining, a stream or callback of a call this instance does not hold goes elsewhere.
  app.addHook('preValidation', async (req, reply) => {
    if (!monitor.draining || !DRAINED_ROUTES.has(req.routeOptions.url ?? '')) return;
    if (monitor.accepts((req.body as { CallSid?: unknown } | undefined)?.CallSid as string | undefined)) return;
    return reply
      .code(503)
      .header('retry-after', String(monitor.drainSecondsLeft))
      .send({ error: 'this instance is shutting down and takes no new calls; another instance (or this one, restarted) will' });
  });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  await app.register(mediaStreamRoute, {
    monitor,
    signature,
    // A stream's `start` must name our account (with an API key for REST, TWILIO_ACCOUNT_SID is still required).
    accountSid: config.twilio.accountSid,
    // The reason's first words only: a label must not carry whatever a bad frame contained.
    onBadFrame: (reason) => metrics.badFrames.inc({ reason: reason.split(/[:"]/)[0]!.trim().slice(0, 40) }),
  });
  await app.register(twilioTranscriptionRoute, { monitor, signature, ...holders.transcription });
  await app.register(secureCaptureRoute, { monitor, signature, ...holders.secureCapture });
  // Liveness and readiness. /health is the old name of /healthz, kept. Readiness is a list of checks, each naming
  // what is wrong when it is not ready; the store's state (writes waiting on disk while it is down) is shown too.
  const health = async () => ({ ok: true, calls: monitor.sessions.size, instance: config.lifecycle.instanceId });
  app.get('/healthz', health);
  app.get('/health', health);
  const readiness: { name: string; problem: () => string | undefined | Promise<string | undefined> }[] = [
    { name: 'draining', problem: () => (monitor.draining ? 'shutting down: finishing its live calls, taking no new ones' : undefined) },
    {
      name: 'store',
      problem: () => {
        const s = storeReadiness(store);
        return s.ready ? undefined : `the database is not taking writes: ${s.waiting} waiting on disk, written when it is back`;
      },
    },
  ];
  app.get('/readyz', async (_req, reply) => {
    const problems = (await Promise.all(readiness.map(async (c) => ({ check: c.name, problem: await c.problem() })))).filter((c) => c.problem);
    return reply.code(problems.length > 0 ? 503 : 200).send({ ready: problems.length === 0, problems, store: storeReadiness(store) });
  });
  app.get('/metrics', async (req, reply) => {
    if (config.metricsToken && !bearerMatches(req.headers.authorization, config.metricsToken)) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').send({ error: 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>' });
    }
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  // Limits that refuse cleanly: half-open sockets, live-event streams, failed authentications, pressure on the API.
  limitPendingConnections(app.server, {
    maxPending: config.limits.pendingConnectionsMax,
    handshakeTimeoutMs: config.limits.handshakeTimeoutMs,
    onClosed: (reason) => metrics.connectionsClosed.inc({ reason }),
    onPending: (waiting) => metrics.pendingConnections.set(waiting),
  });
  await app.register(supervisorPlugin, {
    monitor,
    store,
    bus,
    rules,
    classifier,
    retentionDays: config.retentionDays,
    rulesRefreshMs: config.rulesPollMs,
    handoffQueue: config.handoffQueue,
    authFailuresPerMinute: config.limits.authFailuresPerMinute,
    liveFeeds: { perToken: config.limits.liveFeedsPerToken, total: config.limits.liveFeedsMax },
    pressure: config.limits.pressure,
    metrics,
    // Dry runs build the configured classifier in their worker; an injected one stays here and is asked turn by turn.
    dryRun: { timeoutMs: config.dryRunTimeoutMs, classifier: parts.classifier ? undefined : { kind: config.classifier.kind, llm: config.classifier.llm } },
  });
  // After the API, so that @fastify/swagger leaves the dashboard's routes out of /docs/json.
  await app.register(dashboard);

  return {
    app,
    monitor,
    store,
    bus,
    rules,
    drain: () => monitor.drain(config.lifecycle.drainMs),
    recover: () => monitor.recover(),
    async close() {
      stopWatching();
      await app.close();
      await monitor.close();
      await classifier.close?.();
      await bus.close();
      await store.close();
    },
  };
}

/** Routes through which Twilio brings a call: while draining, only calls held here get through. */
const DRAINED_ROUTES = new Set(['/media-stream', '/twilio/transcription']);

/** Trust the nearest `n` proxies (a hop count, as proxy-addr understands it). */
function hops(n: number) {
  return (_address: string, hop: number) => hop < n;
}

/** Constant-time comparison of a `Bearer <token>` header with the expected token. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '');
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
