// Starts the service and the Twilio emulator side by side on loopback, wired only through
// configuration (TWILIO_API_BASE_URL, PUBLIC_URL, credentials), as an operator would wire them.
import { randomBytes } from 'node:crypto';
import { buildService, type Service, type ServiceParts } from '../app.js';
import { loadConfig, type Config } from '../config.js';
import { TwilioEmulator } from './emulator.js';
import { MemoryStore } from '../store/memory.js';

export interface LocalStack {
  service: Service;
  emulator: TwilioEmulator;
  config: Config;
  /** Where the service listens on loopback. */
  serviceUrl: string;
  close(): Promise<void>;
}

/** The public name the emulator believes the service has; it connects to the loopback port instead. */
const DEMO_PUBLIC_URL = 'https://takeover.demo.invalid';

export async function startLocalStack(options: {
  speed?: number;
  /** Give the service an API key (TWILIO_API_KEY_SID/SECRET) for the REST API, as well as the Auth Token it checks signatures with. */
  apiKey?: boolean;
  env?: Record<string, string | undefined>;
  parts?: Partial<ServiceParts>;
  /** Where the service listens on loopback (default: any free port). */
  port?: number;
} = {}): Promise<LocalStack> {
  const accountSid = 'AC' + randomBytes(16).toString('hex');
  const authToken = randomBytes(16).toString('hex');
  const apiKey = options.apiKey ? { sid: 'SK' + randomBytes(16).toString('hex'), secret: randomBytes(16).toString('hex') } : undefined;
  const emulator = new TwilioEmulator({
    accountSid,
    authToken,
    apiKeys: apiKey ? [apiKey] : [],
    servicePublicUrl: options.env?.PUBLIC_URL ?? DEMO_PUBLIC_URL,
    serviceLocalUrl: 'http://127.0.0.1:0',
    speed: options.speed ?? 1,
  });
  const apiUrl = await emulator.listen();
  const config = loadConfig({
    LOG_LEVEL: 'warn',
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    PUBLIC_URL: DEMO_PUBLIC_URL,
    TWILIO_ACCOUNT_SID: accountSid,
    TWILIO_AUTH_TOKEN: authToken,
    // Never a key from the developer's environment: it would go to the emulator and be refused there.
    TWILIO_API_KEY_SID: apiKey?.sid,
    TWILIO_API_KEY_SECRET: apiKey?.secret,
    TWILIO_API_BASE_URL: apiUrl,
    ...options.env,
  });
  // In memory unless a store is given: demo runs and parallel tests must not share the default SQLite file.
  const service = await buildService(config, { store: new MemoryStore(), ...options.parts });
  const serviceUrl = await service.app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  emulator.opts.serviceLocalUrl = serviceUrl;
  return {
    service,
    emulator,
    config,
    serviceUrl,
    async close() {
      await emulator.close();
      await service.close();
    },
  };
}
