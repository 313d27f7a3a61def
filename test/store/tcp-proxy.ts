// A TCP proxy between the service and PostgreSQL, to make outages without touching the shared server:
// `cut()` destroys every connection and refuses new ones, `swallowReplies()` lets queries through but loses
// the answers (a write that succeeded but whose answer never came), `restore()` lets everything through again.
import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpProxy {
  #mode: 'open' | 'cut' | 'swallow' = 'open';
  readonly #pairs = new Set<[Socket, Socket]>();
  /** Connections the proxy refused while cut. */
  refused = 0;

  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy!.#accept(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    proxy = new TcpProxy(server, typeof address === 'object' && address ? address.port : 0);
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  cut(): void {
    this.#mode = 'cut';
    this.#destroyAll();
  }

  swallowReplies(): void {
    this.#mode = 'swallow';
  }

  restore(): void {
    // Connections whose answers were swallowed are stuck mid-query: end them, as a network that recovers would.
    if (this.#mode === 'swallow') this.#destroyAll();
    this.#mode = 'open';
  }

  async close(): Promise<void> {
    this.#destroyAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(client: Socket, target: { host: string; port: number }): void {
    if (this.#mode === 'cut') {
      this.refused++;
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.#pairs.delete(pair);
    };
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (this.#mode !== 'swallow') client.write(chunk);
    });
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  }

  #destroyAll(): void {
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    this.#pairs.clear();
  }
}
