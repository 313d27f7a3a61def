// The bus across instances: events are delivered to local listeners at once and published on a Redis
// channel for the other instances (ioredis pub/sub). An instance ignores its own echoes. Each instance also
// marks itself alive in a sorted set every 2 s, so that a command knows how many instances should answer it.
// A saved rule set is announced on a channel of its own, so that every instance runs it at once. Instances that stop
// beating are claimed by one of the others (claimDeadInstances). One file (just over 300 lines): events, commands,
// rule announcements and heartbeats share the same two Redis clients, channels and instance identity.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { LocalBus } from './local.js';
import type { Bus, CallCommand, CommandAnswer, CommandReply, LiveEvent } from './types.js';

export interface RedisBusOptions {
  url: string;
  /** Channel name; instances of one deployment share it. */
  channel?: string;
  logger?: { warn(obj: object, msg?: string): void };
  /**
   * This instance's INSTANCE_ID, the name its calls are stored under: it is marked alive with each heartbeat, so
   * that the other instances notice when it stops (claimDeadInstances).
   */
  holder?: string;
}

/** An instance seen within this long is expected to answer a command; one silent longer is taken as gone. */
const ALIVE_MS = 6000;
const HEARTBEAT_MS = 2000;
// Redis's clock, not each instance's: instances whose clocks disagree still agree on who is alive.
const NOW = `local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)`;
const HEARTBEAT = `${NOW}
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
return now`;
/** Marks a holder alive; forgets holders silent for a week (nobody claimed them: no instance was running). */
const HOLDER_BEAT = `${NOW}
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 604800000)
return now`;
/** The holders silent for longer than ARGV[1] ms, each removed as it is returned: only one instance claims it. */
const CLAIM_DEAD = `${NOW}
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
local claimed = {}
for _, name in ipairs(dead) do
  if name ~= ARGV[2] and redis.call('ZREM', KEYS[1], name) == 1 then table.insert(claimed, name) end
end
return claimed`;
/** How long the holder of a call may take to run a command it has taken (an action retries for up to 10 s by default). */
const RESULT_TIMEOUT_MS = 30_000;
const ALIVE = `${NOW}
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[1]), '+inf')`;

export class RedisBus implements Bus {
  readonly acrossInstances = true;
  readonly instanceId = randomUUID();
  readonly #local = new LocalBus();
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #channel: string;
  readonly #waiting = new Map<string, (answer: CommandAnswer | { kind: 'taken' }) => void>();
  #handler: ((command: CallCommand) => Promise<CommandReply> | undefined) | undefined;
  /** Subscribed to the channels (answers to this instance's commands among them). */
  #listening = false;
  #heartbeat: NodeJS.Timeout | undefined;

  private constructor(pub: Redis, sub: Redis, private readonly opts: RedisBusOptions) {
    this.#pub = pub;
    this.#sub = sub;
    this.#channel = opts.channel ?? 'takeover:events';
  }

  /** Connects both clients and subscribes; rejects with a clear message if Redis is unreachable. */
  static async connect(opts: RedisBusOptions): Promise<RedisBus> {
    const make = () => {
      const r = new Redis(opts.url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true });
      r.on('error', (err: Error) => opts.logger?.warn({ err: err.message }, 'redis bus connection error'));
      return r;
    };
    const pub = make();
    const sub = make();
    try {
      await Promise.all([pub.connect(), sub.connect()]);
    } catch (err) {
      pub.disconnect();
      sub.disconnect();
      throw new Error(`REDIS_URL: cannot connect (${(err as Error).message}); check the URL or unset REDIS_URL to run one instance with the in-process bus`);
    }
    const bus = new RedisBus(pub, sub, opts);
    const channels = [bus.#channel, bus.#commands, bus.#replies, bus.#rulesChannel];
    await sub.subscribe(...channels);
    bus.#listening = true;
    // After a reconnect ioredis says "ready" before it has subscribed again; until then this instance would miss
    // the answers to its commands. Subscribing once more (harmless) tells when it listens again.
    sub.on('close', () => (bus.#listening = false));
    sub.on('ready', () => {
      sub.subscribe(...channels).then(
        () => (bus.#listening = sub.status === 'ready'),
        () => undefined,
      );
    });
    sub.on('message', (channel: string, raw: string) => {
      if (channel === bus.#channel) bus.#receive(raw);
      else if (channel === bus.#commands) void bus.#run(raw);
      else if (channel === bus.#replies) bus.#reply(raw);
      else if (channel === bus.#rulesChannel) bus.#rulesReceived(raw);
    });
    await bus.#beat();
    bus.#heartbeat = setInterval(() => void bus.#beat(), HEARTBEAT_MS);
    bus.#heartbeat.unref();
    return bus;
  }

  get #roster(): string {
    return `${this.#channel}:instances`;
  }

  async #beat(): Promise<void> {
    await this.#pub.eval(HEARTBEAT, 1, this.#roster, this.instanceId).catch(() => undefined);
    if (this.opts.holder) await this.#pub.eval(HOLDER_BEAT, 1, this.#holders, this.opts.holder).catch(() => undefined);
  }

  publish(event: LiveEvent): void {
    this.#local.publish(event);
    this.#pub.publish(this.#channel, JSON.stringify({ from: this.instanceId, event })).catch((err: Error) => {
      this.opts.logger?.warn({ err: err.message, type: event.type }, 'could not publish a live event to redis');
    });
  }

  subscribe(listener: (event: LiveEvent) => void): () => void {
    return this.#local.subscribe(listener);
  }

  get #holders(): string {
    return `${this.#channel}:holders`;
  }

  /**
   * The instances (by INSTANCE_ID) whose heartbeat stopped more than `silentMs` ago. Each is returned to one caller
   * only, across instances: that one takes care of its calls. A holder that beats again is simply alive again.
   */
  async claimDeadInstances(silentMs: number): Promise<string[]> {
    if (this.#pub.status !== 'ready') return [];
    const claimed = (await this.#pub.eval(CLAIM_DEAD, 1, this.#holders, silentMs, this.opts.holder ?? '').catch(() => [])) as string[];
    return claimed;
  }

  get #rulesChannel(): string {
    return `${this.#channel}:rules`;
  }

  /**
   * Local listeners at once; the others through Redis. A lost message costs only time: every instance also polls the
   * store for the current version (every RULES_POLL_SECONDS).
   */
  rulesChanged(version: number): void {
    this.#local.rulesChanged(version);
    this.#pub.publish(this.#rulesChannel, JSON.stringify({ from: this.instanceId, version })).catch((err: Error) => {
      this.opts.logger?.warn({ err: err.message, version }, 'could not announce a rule change on redis; other instances run it at their next poll');
    });
  }

  onRulesChanged(listener: (version: number) => void): () => void {
    return this.#local.onRulesChanged(listener);
  }

  #rulesReceived(raw: string): void {
    try {
      const { from, version } = JSON.parse(raw) as { from?: string; version?: unknown };
      if (from !== this.instanceId && typeof version === 'number') this.#local.rulesChanged(version);
    } catch {
      // Malformed: ignored; the poll picks the change up.
    }
  }

  get #commands(): string {
    return `${this.#channel}:commands`;
  }

  get #replies(): string {
    return `${this.#channel}:replies:${this.instanceId}`;
  }

  /**
   * Every other instance answers a command: the one that holds the call with its reply, the rest with "not
   * mine". So "no instance holds this call" is known as soon as every instance alive (or reached) has answered,
   * and told apart from "Redis is down" or "an instance did not answer", after which the call may well be live
   * elsewhere. The holder says at once that it has taken the command, then `timeoutMs` no longer applies: its
   * result may take as long as an action does (up to 30 s).
   */
  request(command: CallCommand, timeoutMs = 5000): Promise<CommandAnswer> {
    const down = [this.#pub, this.#sub].find((r) => r.status !== 'ready');
    if (down) return Promise.resolve({ kind: 'unreachable', detail: `the connection to Redis is ${down.status}` });
    if (!this.#listening) return Promise.resolve({ kind: 'unreachable', detail: 'reconnected to Redis, not yet listening for answers' });
    const id = randomUUID();
    return new Promise((resolve) => {
      /** How many other instances the command reached; known once Redis has taken it. */
      let asked: number | undefined;
      let notMine = 0;
      const finish = (answer: CommandAnswer) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(answer);
      };
      const settle = () => {
        if (asked !== undefined && notMine >= asked) finish({ kind: 'none' });
      };
      let timer = setTimeout(
        () =>
          finish({
            kind: 'unreachable',
            sent: true,
            detail:
              asked === undefined
                ? `Redis did not take the command within ${timeoutMs} ms`
                : `${asked - notMine} of ${asked} other instances did not answer within ${timeoutMs} ms`,
          }),
        timeoutMs,
      );
      let taken = false;
      this.#waiting.set(id, (answer) => {
        if (answer.kind === 'taken') {
          // The holder runs it: from now on wait for its result, as long as an action may take.
          if (taken) return;
          taken = true;
          clearTimeout(timer);
          timer = setTimeout(
            () =>
              finish({
                kind: 'unreachable',
                sent: true,
                detail: `the instance holding the call took the command and did not answer within ${RESULT_TIMEOUT_MS / 1000} s`,
              }),
            Math.max(timeoutMs, RESULT_TIMEOUT_MS),
          );
          return;
        }
        if (answer.kind !== 'none') return finish(answer);
        notMine++;
        settle();
      });
      Promise.all([
        this.#pub.publish(this.#commands, JSON.stringify({ id, from: this.instanceId, command })),
        this.#pub.eval(ALIVE, 1, this.#roster, ALIVE_MS) as Promise<number>,
      ]).then(
        // Every other instance alive should answer, even one Redis could not deliver the command to (it lost its
        // connection, and may hold the call). This instance receives its own command too, and ignores it.
        ([receivers, alive]) => {
          asked = Math.max(0, receivers - 1, Number(alive) - 1);
          settle();
        },
        (err: Error) => finish({ kind: 'unreachable', detail: `could not publish to Redis (${err.message})` }),
      );
    });
  }

  serve(handler: (command: CallCommand) => Promise<CommandReply> | undefined): void {
    this.#handler = handler;
  }

  async #run(raw: string): Promise<void> {
    let msg: { id?: string; from?: string; command?: CallCommand };
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    if (!msg.id || !msg.from || msg.from === this.instanceId || !msg.command) return;
    const to = `${this.#channel}:replies:${msg.from}`;
    const running = this.#handler?.(msg.command);
    // Not our call: say so, so that the asking instance need not wait for a timeout to know nobody holds it.
    if (!running) return void (await this.#pub.publish(to, JSON.stringify({ id: msg.id, notMine: true })).catch(() => undefined));
    // Ours: say so at once (an action may take seconds), then send the result; one connection keeps them in order.
    void this.#pub.publish(to, JSON.stringify({ id: msg.id, taken: true })).catch(() => undefined);
    const reply = await running.catch((err: Error) => ({ result: 'failed', detail: err.message }));
    await this.#pub.publish(to, JSON.stringify({ id: msg.id, reply })).catch(() => undefined);
  }

  #reply(raw: string): void {
    try {
      const { id, reply, notMine, taken } = JSON.parse(raw) as { id: string; reply?: CommandReply; notMine?: boolean; taken?: boolean };
      if (reply) this.#waiting.get(id)?.({ kind: 'reply', reply });
      else if (taken) this.#waiting.get(id)?.({ kind: 'taken' });
      else if (notMine) this.#waiting.get(id)?.({ kind: 'none' });
    } catch {
      // A malformed reply is ignored; the request times out.
    }
  }

  async close(): Promise<void> {
    for (const answer of this.#waiting.values()) answer({ kind: 'unreachable', detail: 'this instance is shutting down' });
    clearInterval(this.#heartbeat);
    await this.#local.close();
    // Gone at once, rather than expected to answer for another ALIVE_MS.
    if (this.#pub.status === 'ready') await this.#pub.zrem(this.#roster, this.instanceId).catch(() => undefined);
    // Without a connection there is nothing to quit politely, and waiting for one would hold up shutdown.
    await Promise.allSettled([this.#sub, this.#pub].map((r) => (r.status === 'ready' ? r.quit() : r.disconnect())));
  }

  #receive(raw: string): void {
    let msg: { from?: string; event?: LiveEvent };
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    if (msg.from === this.instanceId || !msg.event || typeof msg.event.type !== 'string') return;
    this.#local.publish(msg.event);
  }
}
