// The real service as a child process (`node --import tsx src/server.ts`, one process, so that SIGKILL kills it
// all) beside a Twilio emulator run by the test, on a SQLite file in a temporary folder (unless the env says
// DATABASE_URL): what an operator runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TwilioEmulator, type EmulatorOptions } from '../../src/simulator/emulator.js';
import { createStore, type SqlStore } from '../../src/store/index.js';
import { eventually, sid } from '../support/twilio-client.js';
import { freePort } from '../support/ports.js';
export { freePort };

const ROOT = new URL('../../', import.meta.url).pathname;
export const PUBLIC_URL = 'https://takeover.restart.invalid';

export interface ServiceProcess {
  child: ChildProcess;
  url: string;
  output: string[];
  /** When and how it exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}


export class RestartRig {
  readonly dir = mkdtempSync(join(tmpdir(), 'takeover-restart-'));
  readonly accountSid = sid('AC');
  readonly authToken = sid('');
  emulator!: TwilioEmulator;
  port = 0;
  readonly processes: ServiceProcess[] = [];
  #store?: SqlStore;

  constructor(readonly env: Record<string, string> = {}) {}

  get sqlitePath(): string {
    return join(this.dir, 'takeover.db');
  }

  /** `apiKeys`: the account's API keys, for services that authenticate with one each (the emulator records which). */
  async start(speed: number, extra: Pick<EmulatorOptions, 'apiKeys'> = {}): Promise<this> {
    this.port = await freePort();
    this.emulator = new TwilioEmulator({
      ...extra,
      accountSid: this.accountSid,
      authToken: this.authToken,
      servicePublicUrl: PUBLIC_URL,
      serviceLocalUrl: `http://127.0.0.1:${this.port}`,
      speed,
    });
    await this.emulator.listen();
    return this;
  }

  writeRules(rules: unknown[]): string {
    const path = join(this.dir, 'rules.json');
    writeFileSync(path, JSON.stringify({ rules }));
    return path;
  }

  /**
   * Starts the service (from source through tsx, or `nodeArgs`, e.g. the compiled `dist/server.js`) and waits until
   * /readyz answers 200. `env` is this process's own (over the rig's): another PORT and INSTANCE_ID for a second
   * instance, the emulator then reaching them through a balancer of the test's on the rig's port.
   */
  async spawnService(nodeArgs = ['--import', 'tsx', 'src/server.ts'], env: Record<string, string> = {}): Promise<ServiceProcess> {
    const port = env.PORT ?? String(this.port);
    const child = spawn(process.execPath, nodeArgs, {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: port,
        HOST: '127.0.0.1',
        PUBLIC_URL,
        TWILIO_ACCOUNT_SID: this.accountSid,
        TWILIO_AUTH_TOKEN: this.authToken,
        TWILIO_API_KEY_SID: '',
        TWILIO_API_KEY_SECRET: '',
        TWILIO_API_BASE_URL: this.emulator.url,
        SQLITE_PATH: this.sqlitePath,
        DATABASE_URL: '',
        REDIS_URL: '',
        OPENAI_API_KEY: '',
        OPENAI_BASE_URL: '',
        CLASSIFIER: 'local',
        TRANSCRIPTION_PROVIDER: 'twilio',
        INSTANCE_ID: 'restart-test:1',
        LOG_LEVEL: 'info',
        ...this.env,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
    );
    const p: ServiceProcess = { child, url: `http://127.0.0.1:${port}`, output, exited };
    this.processes.push(p);
    let gone = false;
    void exited.then(() => (gone = true));
    await eventually(
      async () => {
        if (gone) throw new Error(`the service exited at start:\n${output.join('')}`);
        return fetch(`${p.url}/readyz`).then((r) => r.ok, () => false);
      },
      30_000,
      'the service to be ready',
    );
    return p;
  }

  /** The same SQLite file, opened beside the service (WAL: it reads while the service writes). */
  async store(): Promise<SqlStore> {
    this.#store ??= await createStore({ sqlitePath: this.sqlitePath });
    return this.#store;
  }

  async close(): Promise<void> {
    for (const p of this.processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(this.processes.map((p) => p.exited));
    await this.emulator?.close();
    await this.#store?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
