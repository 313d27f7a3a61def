// The bus across instances: events are delivered to local listeners at once and published on a Redis
// channel for the other instances (ioredis pub/sub). An instance ignores its own echoes.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { LocalBus } from './local.js';
import type { Bus, CallCommand, CommandReply, LiveEvent } from './types.js';

export interface RedisBusOptions {
  url: string;
  /** Channel name; instances of one deployment share it. */
  channel?: string;
  logger?: { warn(obj: object, msg?: string): void };
}

export class RedisBus implements Bus {
  readonly instanceId = randomUUID();
  readonly #local = new LocalBus();
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #channel: string;
  readonly #waiting = new Map<string, (reply: CommandReply) => void>();
  #handler: ((command: CallCommand) => Promise<CommandReply> | undefined) | undefined;

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
    await sub.subscribe(bus.#channel, bus.#commands, bus.#replies);
    sub.on('message', (channel: string, raw: string) => {
      if (channel === bus.#channel) bus.#receive(raw);
      else if (channel === bus.#commands) void bus.#run(raw);
      else if (channel === bus.#replies) bus.#reply(raw);
    });
    return bus;
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

  get #commands(): string {
    return `${this.#channel}:commands`;
  }

  get #replies(): string {
    return `${this.#channel}:replies:${this.instanceId}`;
  }

  request(command: CallCommand, timeoutMs = 5000): Promise<CommandReply | undefined> {
    const id = randomUUID();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.#waiting.set(id, (reply) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(reply);
      });
      this.#pub.publish(this.#commands, JSON.stringify({ id, from: this.instanceId, command })).catch(() => undefined);
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
    const running = this.#handler?.(msg.command);
    if (!running) return; // not our call: the instance that holds it answers
    const reply = await running.catch((err: Error) => ({ result: 'failed', detail: err.message }));
    await this.#pub.publish(`${this.#channel}:replies:${msg.from}`, JSON.stringify({ id: msg.id, reply })).catch(() => undefined);
  }

  #reply(raw: string): void {
    try {
      const { id, reply } = JSON.parse(raw) as { id: string; reply: CommandReply };
      this.#waiting.get(id)?.(reply);
    } catch {
      // A malformed reply is ignored; the request times out.
    }
  }

  async close(): Promise<void> {
    for (const resolve of this.#waiting.values()) resolve({ result: 'failed', detail: 'shutting down' });
    await this.#local.close();
    await Promise.allSettled([this.#sub.quit(), this.#pub.quit()]);
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
