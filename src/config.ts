// Reads and validates the environment once, at start-up. Every other module receives typed values;
// a missing or wrong value stops the start with a message that names the variable and what to do.
// One file (over 300 lines) on purpose: the environment is read and validated only here; the modules' own defaults
// are imported from them, so each value is written once.
import { availableParallelism, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';
import { RETRY_DEFAULTS } from './actions/executor.js';
import { REGISTRY_DEFAULTS } from './calls/registry.js';
import type { ClassifierOptions, LlmSettings } from './classification/index.js';
import { AUTH_FAILURES_PER_MINUTE } from './supervisor/auth.js';
import { LIVE_FEED_DEFAULTS } from './supervisor/live-streams.js';
import { REALTIME_DEFAULTS } from './transcription/openai-realtime.js';

const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', ''])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

const parsesAsUrl = (v: string): boolean => {
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
};

const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().nonnegative();

/** Each entry: the variable, its schema (with default), and what to do when it is wrong. */
const schema = z.object({
  PORT: nonNegativeInt.default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|\d+|[0-9a-fA-F.:/,\s]+)$/, 'true, false, a hop count, or proxy addresses/CIDRs separated by commas')
    .default('false'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PUBLIC_URL: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), 'must start with https:// (or http:// for local use)')
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must look like AC followed by 32 hex digits').optional(),
  TWILIO_AUTH_TOKEN: z.string().min(1).optional(),
  TWILIO_API_KEY_SID: z.string().regex(/^SK[0-9a-fA-F]{32}$/, 'must look like SK followed by 32 hex digits').optional(),
  TWILIO_API_KEY_SECRET: z.string().min(1).optional(),
  TWILIO_API_BASE_URL: z
    .string()
    .url()
    .transform((u) => u.replace(/\/+$/, ''))
    .default('https://api.twilio.com'),
  ALLOW_UNSIGNED: bool.default(false),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters (e.g. openssl rand -hex 24)').optional(),
  RULES_FILE: z.string().min(1).default('rules/default.json'),
  HANDOFF_QUEUE: z.string().min(1).max(64).default('support'),
  KEEP_LISTENING_AFTER_HANDOFF: bool.default(false),
  STREAM_NAME: z.string().min(1).max(64).default('takeover'),
  CLASSIFIER: z.enum(['local', 'llm', 'cascade']).optional(),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.string().url().optional(),
  LLM_MODEL: z.string().min(1).default('gpt-4o-mini'),
  LLM_TIMEOUT_MS: positiveInt.default(5000),
  LLM_MAX_RETRIES: nonNegativeInt.default(1),
  CASCADE_DEADLINE_MS: positiveInt.default(1500),
  LLM_DEBOUNCE_MS: nonNegativeInt.default(300),
  LLM_MAX_REQUESTS_PER_MINUTE_PER_CALL: positiveInt.default(30),
  HANDOFF_SUMMARY: z.enum(['local', 'llm']).optional(),
  SUMMARY_DEADLINE_MS: positiveInt.default(800),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .refine(parsesAsUrl, 'is not a valid URL: check the host, the port (a number) and that special characters in the password are percent-encoded')
    .optional(),
  REDIS_CHANNEL: z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/, 'letters, digits and . _ : - (at most 100)').default('takeover:events'),
  TRANSCRIPTION_PROVIDER: z.enum(['twilio', 'openai']).optional(),
  OPENAI_REALTIME_URL: z
    .string()
    .regex(/^wss?:\/\//, 'must be a ws:// or wss:// URL')
    .refine(parsesAsUrl, 'is not a valid URL')
    .default(REALTIME_DEFAULTS.url),
  OPENAI_TRANSCRIBE_MODEL: z.string().min(1).default(REALTIME_DEFAULTS.model),
  TRANSCRIBE_LANGUAGE: z.string().regex(/^[a-z]{2}$/, 'an ISO-639-1 code such as en').optional(),
  TRANSCRIBE_PROMPT: z.string().max(2000).optional(),
  TRANSCRIBE_VAD_THRESHOLD: z.coerce.number().min(0).max(1).default(REALTIME_DEFAULTS.vad.threshold),
  TRANSCRIBE_VAD_PREFIX_PADDING_MS: nonNegativeInt.default(REALTIME_DEFAULTS.vad.prefixPaddingMs),
  TRANSCRIBE_VAD_SILENCE_MS: positiveInt.default(REALTIME_DEFAULTS.vad.silenceDurationMs),
  TRANSCRIBE_NOISE_REDUCTION: z.enum(['near_field', 'far_field', 'off']).default(REALTIME_DEFAULTS.noiseReduction ?? 'off'),
  TRANSCRIBE_BATCH_MS: nonNegativeInt.max(1000).default(REALTIME_DEFAULTS.batchMs),
  TRANSCRIBE_TRACKS: z
    .string()
    .regex(/^(inbound|outbound)(,(inbound|outbound))?$/, 'inbound, outbound or inbound,outbound')
    .default(REALTIME_DEFAULTS.tracks.join(',')),
  TRANSCRIBE_CONNECT_TIMEOUT_MS: positiveInt.default(REALTIME_DEFAULTS.connectTimeoutMs),
  TRANSCRIBE_RECONNECT_INITIAL_MS: positiveInt.default(REALTIME_DEFAULTS.reconnect.initialDelayMs),
  TRANSCRIBE_RECONNECT_MAX_MS: positiveInt.default(REALTIME_DEFAULTS.reconnect.maxDelayMs),
  TRANSCRIBE_MAX_BUFFERED_MS: positiveInt.default(REALTIME_DEFAULTS.maxBufferedAudioMs),
  TRANSCRIBE_PARTIAL_INTERVAL_MS: nonNegativeInt.default(REALTIME_DEFAULTS.partialIntervalMs),
  TRANSCRIBE_TURN_WAIT_MS: positiveInt.default(REALTIME_DEFAULTS.turnWaitMs),
  ACTION_DEADLINE_MS: positiveInt.default(10_000),
  ACTION_RETRY_INITIAL_MS: positiveInt.default(RETRY_DEFAULTS.baseMs),
  ACTION_RETRY_MAX_MS: positiveInt.default(RETRY_DEFAULTS.capMs),
  // Checked below rather than here: a schema message would echo the URL, password included.
  DATABASE_URL: z.string().min(1).optional(),
  SQLITE_PATH: z.string().min(1).default('data/takeover.db'),
  RETENTION_DAYS: nonNegativeInt.default(30),
  // Restarts and shutdown: how long SIGTERM waits for live calls, which instance holds a call, when a call with
  // no stream and no callback is checked for being over.
  SHUTDOWN_DRAIN_SECONDS: nonNegativeInt.default(30),
  INSTANCE_TTL_SECONDS: positiveInt.min(3).max(3600).default(15),
  WORKERS: z.union([z.literal('auto'), positiveInt.max(256)]).default(1),
  INSTANCE_ID: z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'letters, digits and . _ : @ - (at most 128)').optional(),
  CALL_IDLE_SECONDS: positiveInt.default(REGISTRY_DEFAULTS.idleMs / 1000),
  AUDIT_QUEUE_DIR: z.string().min(1).optional(),
  AUDIT_QUEUE_MAX_ENTRIES: positiveInt.default(100_000),
  // Limits that refuse cleanly (429/503 with what to do) instead of letting one client slow every call.
  LIVE_FEEDS_PER_TOKEN: positiveInt.default(LIVE_FEED_DEFAULTS.perToken),
  LIVE_FEEDS_MAX: positiveInt.default(LIVE_FEED_DEFAULTS.total),
  AUTH_FAILURES_PER_MINUTE: positiveInt.default(AUTH_FAILURES_PER_MINUTE),
  PENDING_CONNECTIONS_MAX: positiveInt.default(1000),
  HANDSHAKE_TIMEOUT_MS: positiveInt.default(10_000),
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: nonNegativeInt.default(200),
  PRESSURE_MAX_HEAP_USED_MB: nonNegativeInt.optional(),
  DRY_RUN_TIMEOUT_MS: positiveInt.default(30_000),
  RULES_POLL_SECONDS: nonNegativeInt.default(5),
});

export type Env = z.infer<typeof schema>;

/** Every variable the service reads. */
export const ENV_VARIABLES = Object.keys(schema.shape) as (keyof Env)[];

export interface Config {
  port: number;
  host: string;
  logLevel: Env['LOG_LEVEL'];
  /** Fastify's trustProxy: whose X-Forwarded-For to believe (client addresses for rate limits and logs). */
  trustProxy: boolean | number | string;
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  metricsToken: string | undefined;
  /** Public base URL Twilio uses to reach us (https://…); signatures are checked against it. */
  publicUrl: string;
  /** `wss://…/media-stream` as it must appear in TwiML, and as Twilio signs the upgrade. */
  mediaStreamUrl: string;
  twilio: {
    accountSid: string;
    authToken: string | undefined;
    apiKeySid: string | undefined;
    apiKeySecret: string | undefined;
    apiBaseUrl: string;
  };
  /** When false (ALLOW_UNSIGNED=1), signatures are not checked. Logged loudly at start. */
  verifySignatures: boolean;
  rulesFile: string;
  handoffQueue: string;
  keepListeningAfterHandoff: boolean;
  streamName: string;
  classifier: { kind: ClassifierOptions['kind']; llm: LlmSettings };
  actions: { deadlineMs: number; retryInitialMs: number; retryMaxMs: number };
  /** PostgreSQL when `databaseUrl` is set, otherwise the SQLite file (`:memory:` keeps nothing). */
  store: { databaseUrl: string | undefined; sqlitePath: string };
  /** Days calls, transcripts and audit entries are kept; 0 keeps them forever. */
  retentionDays: number;
  /** Where audit entries, transcript lines and call records wait while the database is unreachable (one folder per instance). */
  auditQueue: { dir: string; maxEntries: number };
  transcription: {
    provider: 'twilio' | 'openai';
    openai: {
      apiKey: string | undefined;
      url: string;
      model: string;
      language: string | undefined;
      prompt: string | undefined;
      vad: { threshold: number; prefixPaddingMs: number; silenceDurationMs: number };
      noiseReduction: 'near_field' | 'far_field' | null;
      batchMs: number;
      tracks: ('inbound' | 'outbound')[];
      connectTimeoutMs: number;
      reconnect: { initialDelayMs: number; maxDelayMs: number };
      maxBufferedAudioMs: number;
      partialIntervalMs: number;
      turnWaitMs: number;
    };
  };
  /** Live events across instances; unset: the in-process bus. */
  redisUrl: string | undefined;
  /** The Redis channel (and key prefix) one deployment's instances share. */
  redisChannel: string;
  /** The note that goes with a handoff to a TaskRouter workflow. */
  summary: { kind: 'local' | 'llm'; deadlineMs: number };
  /**
   * Restarts and shutdown: this instance's id (the calls it holds are stored under it), how long SIGTERM lets
   * live calls finish, and how long a call with no stream and no callback waits before Twilio is asked if it is over.
   */
  /** `workers`: processes that serve on the port (src/cluster.ts); each is an instance of its own (INSTANCE_ID:wN). */
  lifecycle: { instanceId: string; drainMs: number; idleMs: number; workers: number; ttlMs: number };
  limits: {
    /** Live-event streams one token may hold open, and all tokens together. */
    liveFeedsPerToken: number;
    liveFeedsMax: number;
    /** Failed authentications per address per minute before that address's failing attempts get 429. */
    authFailuresPerMinute: number;
    /** Sockets that have not sent a whole request (or upgrade) yet, or sit idle between requests. */
    pendingConnectionsMax: number;
    /** A socket that has not sent a whole request (or upgrade) this long after connecting is closed. */
    handshakeTimeoutMs: number;
    /** The supervisor API answers 503 above these (0: that check is off); Twilio's routes never do. */
    pressure: { maxEventLoopDelayMs: number; maxHeapUsedBytes: number };
  };
  /** A rules dry run (in a worker thread) longer than this is stopped. */
  dryRunTimeoutMs: number;
  /** How often each instance reads the stored rule set, in case it missed another instance's announcement (0: never). */
  rulesPollMs: number;
}

/** Variables whose value is a credential: a message about them never shows the value, not even masked. */
const SECRET_VARIABLE = /(_TOKEN|_SECRET|_KEY|PASSWORD)$/;

/** Identifiers a credential is easily pasted into by mistake: shown only when they start as they should. */
const SID_PREFIX: Partial<Record<string, string>> = { TWILIO_ACCOUNT_SID: 'AC', TWILIO_API_KEY_SID: 'SK' };

/**
 * A URL as it may appear in an error message: the password (or a lone user name, often a token) becomes
 * `***`, and so does every query parameter's value (`?api-key=…`, `?password=…`). Works on values that
 * do not parse as URLs too, which is when it is needed: an invalid URL is the one that gets echoed.
 * Other values pass unchanged unless they contain `@` or a query string.
 */
export function maskUrl(value: string): string {
  // Without a scheme (a typo such as `redis//…`) the value is masked the same way: it may still hold a password.
  const m = /^([a-z][a-z0-9+.-]*:\/\/)?(.*)$/is.exec(value)!;
  let rest = m[2]!;
  // The last @ ends the userinfo, even when an unencoded / ? # or @ sits in the password.
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    const user = colon >= 0 ? userinfo.slice(0, colon) : '';
    rest = `${colon >= 0 && !/[/?#]/.test(user) ? `${user}:***` : '***'}@${rest.slice(at + 1)}`;
  }
  rest = rest.replace(/([?&][^=&#]*=)[^&#]*/g, '$1***').replace(/#.*$/s, '#***');
  return (m[1] ?? '') + rest;
}

/** How a wrong value is shown in a message: never for a secret, with credentials masked in URLs. */
export function describeWrongValue(name: string, value: unknown): string {
  if (typeof value !== 'string') return name;
  if (SECRET_VARIABLE.test(name)) return `${name} (value not shown)`;
  const prefix = SID_PREFIX[name];
  if (prefix && !value.startsWith(prefix)) return `${name} (value not shown: it does not start with ${prefix}, and may be a secret set in the wrong variable)`;
  return `${name}=${JSON.stringify(maskUrl(value))}`;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The store's settings alone, for tools that need no Twilio credentials (`npm run token`). Throws ConfigError. */
export function loadStoreConfig(env: NodeJS.ProcessEnv = process.env): Config['store'] {
  const raw = { DATABASE_URL: env.DATABASE_URL || undefined, SQLITE_PATH: env.SQLITE_PATH || undefined };
  const parsed = schema.pick({ DATABASE_URL: true, SQLITE_PATH: true }).safeParse(raw);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`));
  const { DATABASE_URL, SQLITE_PATH } = parsed.data;
  if (DATABASE_URL && !/^postgres(ql)?:\/\//.test(DATABASE_URL)) {
    throw new ConfigError(['DATABASE_URL must start with postgres:// or postgresql:// (or unset it to keep data in the SQLite file at SQLITE_PATH)']);
  }
  return { databaseUrl: DATABASE_URL, sqlitePath: SQLITE_PATH };
}

/** Parses `env` (process.env by default). Throws ConfigError naming every wrong variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]));
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${describeWrongValue(String(i.path[0]), raw[String(i.path[0])])}: ${i.message}`),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  const publicUrl = e.PUBLIC_URL ?? `http://localhost:${e.PORT}`;
  if (!e.ALLOW_UNSIGNED && !e.TWILIO_AUTH_TOKEN) {
    problems.push(
      'TWILIO_AUTH_TOKEN is not set: signature checks need it (or set ALLOW_UNSIGNED=1 for local use only)',
    );
  }
  if (!e.ALLOW_UNSIGNED && !e.PUBLIC_URL) {
    problems.push(
      'PUBLIC_URL is not set: Twilio signs requests over the public URL it calls, e.g. https://takeover.example.com (or set ALLOW_UNSIGNED=1 for local use only)',
    );
  }
  if (!e.TWILIO_ACCOUNT_SID) {
    problems.push('TWILIO_ACCOUNT_SID is not set: actions on live calls need it (AC followed by 32 hex digits)');
  }
  if (!e.TWILIO_AUTH_TOKEN && !(e.TWILIO_API_KEY_SID && e.TWILIO_API_KEY_SECRET)) {
    problems.push('TWILIO_AUTH_TOKEN (or TWILIO_API_KEY_SID with TWILIO_API_KEY_SECRET) is not set: the REST API needs credentials');
  }
  if (Boolean(e.TWILIO_API_KEY_SID) !== Boolean(e.TWILIO_API_KEY_SECRET)) {
    problems.push('TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET go together: set both or neither');
  }
  const llmAvailable = Boolean(e.OPENAI_API_KEY || e.OPENAI_BASE_URL);
  const kind = e.CLASSIFIER ?? (llmAvailable ? 'cascade' : 'local');
  if (kind !== 'local' && !llmAvailable) {
    problems.push(`CLASSIFIER=${kind} needs OPENAI_API_KEY (or OPENAI_BASE_URL for an OpenAI-compatible server): set one, or use CLASSIFIER=local`);
  }
  const provider = e.TRANSCRIPTION_PROVIDER ?? (e.OPENAI_API_KEY ? 'openai' : 'twilio');
  if (provider === 'openai' && !e.OPENAI_API_KEY) {
    problems.push('TRANSCRIPTION_PROVIDER=openai needs OPENAI_API_KEY: set it, or use TRANSCRIPTION_PROVIDER=twilio (Twilio transcription callbacks)');
  }
  const summaryKind = e.HANDOFF_SUMMARY ?? (llmAvailable ? 'llm' : 'local');
  if (summaryKind === 'llm' && !llmAvailable) {
    problems.push('HANDOFF_SUMMARY=llm needs OPENAI_API_KEY (or OPENAI_BASE_URL): set one, or use HANDOFF_SUMMARY=local');
  }
  if (e.DATABASE_URL && !/^postgres(ql)?:\/\//.test(e.DATABASE_URL)) {
    problems.push('DATABASE_URL must start with postgres:// or postgresql:// (or unset it to keep data in the SQLite file at SQLITE_PATH)');
  }
  if (e.WORKERS !== 1 && !e.REDIS_URL) {
    problems.push('WORKERS above 1 needs REDIS_URL: the processes reach each other\'s calls over Redis; set REDIS_URL, or WORKERS=1');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const wsBase = publicUrl.replace(/^http/, 'ws');
  return {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    metricsToken: e.METRICS_TOKEN,
    trustProxy: e.TRUST_PROXY === 'true' ? true : e.TRUST_PROXY === 'false' ? false : /^\d+$/.test(e.TRUST_PROXY) ? Number(e.TRUST_PROXY) : e.TRUST_PROXY,
    publicUrl,
    mediaStreamUrl: `${wsBase}/media-stream`,
    twilio: {
      accountSid: e.TWILIO_ACCOUNT_SID!,
      authToken: e.TWILIO_AUTH_TOKEN,
      apiKeySid: e.TWILIO_API_KEY_SID,
      apiKeySecret: e.TWILIO_API_KEY_SECRET,
      apiBaseUrl: e.TWILIO_API_BASE_URL,
    },
    verifySignatures: !e.ALLOW_UNSIGNED,
    rulesFile: e.RULES_FILE,
    handoffQueue: e.HANDOFF_QUEUE,
    keepListeningAfterHandoff: e.KEEP_LISTENING_AFTER_HANDOFF,
    streamName: e.STREAM_NAME,
    classifier: {
      kind,
      llm: {
        apiKey: e.OPENAI_API_KEY,
        baseURL: e.OPENAI_BASE_URL,
        model: e.LLM_MODEL,
        timeoutMs: e.LLM_TIMEOUT_MS,
        maxRetries: e.LLM_MAX_RETRIES,
        deadlineMs: e.CASCADE_DEADLINE_MS,
        debounceMs: e.LLM_DEBOUNCE_MS,
        maxRequestsPerMinutePerCall: e.LLM_MAX_REQUESTS_PER_MINUTE_PER_CALL,
      },
    },
    actions: { deadlineMs: e.ACTION_DEADLINE_MS, retryInitialMs: e.ACTION_RETRY_INITIAL_MS, retryMaxMs: e.ACTION_RETRY_MAX_MS },
    store: { databaseUrl: e.DATABASE_URL, sqlitePath: e.SQLITE_PATH },
    retentionDays: e.RETENTION_DAYS,
    // Beside the SQLite file by default: the data folder the service already uses.
    auditQueue: {
      dir: e.AUDIT_QUEUE_DIR ?? join(e.SQLITE_PATH === ':memory:' ? 'data' : dirname(e.SQLITE_PATH), 'audit-queue'),
      maxEntries: e.AUDIT_QUEUE_MAX_ENTRIES,
    },
    summary: { kind: summaryKind, deadlineMs: e.SUMMARY_DEADLINE_MS },
    limits: {
      liveFeedsPerToken: e.LIVE_FEEDS_PER_TOKEN,
      liveFeedsMax: e.LIVE_FEEDS_MAX,
      authFailuresPerMinute: e.AUTH_FAILURES_PER_MINUTE,
      pendingConnectionsMax: e.PENDING_CONNECTIONS_MAX,
      handshakeTimeoutMs: e.HANDSHAKE_TIMEOUT_MS,
      pressure: {
        maxEventLoopDelayMs: e.PRESSURE_MAX_EVENT_LOOP_DELAY_MS,
        // By default 90% of V8's heap limit: refuse supervisors' requests before the process runs out.
        maxHeapUsedBytes: e.PRESSURE_MAX_HEAP_USED_MB !== undefined ? e.PRESSURE_MAX_HEAP_USED_MB * 1024 * 1024 : Math.floor(getHeapStatistics().heap_size_limit * 0.9),
      },
    },
    dryRunTimeoutMs: e.DRY_RUN_TIMEOUT_MS,
    rulesPollMs: e.RULES_POLL_SECONDS * 1000,
    redisUrl: e.REDIS_URL,
    redisChannel: e.REDIS_CHANNEL,
    // Stable across restarts of one deployment (same host, same port), so a restart finds the calls it held.
    lifecycle: {
      instanceId: e.INSTANCE_ID ?? `${hostname()}:${e.PORT}`,
      drainMs: e.SHUTDOWN_DRAIN_SECONDS * 1000,
      idleMs: e.CALL_IDLE_SECONDS * 1000,
      workers: e.WORKERS === 'auto' ? availableParallelism() : e.WORKERS,
      ttlMs: e.INSTANCE_TTL_SECONDS * 1000,
    },
    transcription: {
      provider,
      openai: {
        apiKey: e.OPENAI_API_KEY,
        url: e.OPENAI_REALTIME_URL,
        model: e.OPENAI_TRANSCRIBE_MODEL,
        language: e.TRANSCRIBE_LANGUAGE,
        prompt: e.TRANSCRIBE_PROMPT,
        vad: {
          threshold: e.TRANSCRIBE_VAD_THRESHOLD,
          prefixPaddingMs: e.TRANSCRIBE_VAD_PREFIX_PADDING_MS,
          silenceDurationMs: e.TRANSCRIBE_VAD_SILENCE_MS,
        },
        noiseReduction: e.TRANSCRIBE_NOISE_REDUCTION === 'off' ? null : e.TRANSCRIBE_NOISE_REDUCTION,
        batchMs: e.TRANSCRIBE_BATCH_MS,
        tracks: e.TRANSCRIBE_TRACKS.split(',') as ('inbound' | 'outbound')[],
        connectTimeoutMs: e.TRANSCRIBE_CONNECT_TIMEOUT_MS,
        reconnect: { initialDelayMs: e.TRANSCRIBE_RECONNECT_INITIAL_MS, maxDelayMs: e.TRANSCRIBE_RECONNECT_MAX_MS },
        maxBufferedAudioMs: e.TRANSCRIBE_MAX_BUFFERED_MS,
        partialIntervalMs: e.TRANSCRIBE_PARTIAL_INTERVAL_MS,
        turnWaitMs: e.TRANSCRIBE_TURN_WAIT_MS,
      },
    },
  };
}
