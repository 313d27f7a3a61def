// `npm run demo -- --watch`: the service and the Twilio emulator stay up while scripted calls arrive one after
// another, a few at a time, so that a person can watch them on the dashboard (URL and a fresh admin token printed).
import { setTimeout as sleep } from 'node:timers/promises';
import { startLocalStack } from '../simulator/local-stack.js';
import type { Scenario } from '../simulator/scenario.js';
import { MemoryStore } from '../store/memory.js';
import { issueToken } from '../supervisor/tokens.js';

export interface WatchOptions {
  scenarios: Scenario[];
  speed: number;
  /** Calls on the line at once. */
  calls: number;
  /** The service's port on 127.0.0.1 (0: any free one). */
  port: number;
  /** Seconds between one call's end and the next one on its line. */
  gapSeconds?: number;
}

/** Runs until SIGINT or SIGTERM, then closes the service and the emulator; resolves with the exit code. */
export async function watchDemo(opts: WatchOptions): Promise<number> {
  const store = new MemoryStore();
  const { token } = await issueToken(store, { name: 'demo', role: 'admin' });
  const stack = await startLocalStack({ speed: opts.speed, port: opts.port, parts: { store } });
  const stop = new AbortController();
  const names = new Map<string, string>();
  stack.service.bus.subscribe((e) => {
    const name = names.get(e.callSid);
    if (!name) return;
    if (e.type === 'decision') console.log(`  ${name}: rule ${e.ruleId} → ${e.action}${e.note ? ` (${e.note})` : ''}`);
    if (e.type === 'gate') console.log(`  ${name}: transcription ${e.open ? 'resumed' : 'paused'} (${e.by})`);
    if (e.type === 'alert') console.log(`  ${name}: ALERT (${e.kind}): ${e.reason}`);
  });

  console.log(`takeover demo: scripted calls arrive continuously, ${opts.calls} at a time (speed ${opts.speed}x). Ctrl-C stops it.`);
  console.log(`Dashboard:   ${stack.serviceUrl}/`);
  console.log(`Admin token: ${token}`);
  console.log('(paste the token on the dashboard to sign in; it lives as long as this demo)\n');

  let next = 0;
  /** One line of calls: a call, its end, a short gap, the next scenario of the rotation. */
  const line = async (index: number) => {
    await sleep(index * 2000, undefined, { signal: stop.signal });
    while (!stop.signal.aborted) {
      const scenario = opts.scenarios[next++ % opts.scenarios.length]!;
      const call = stack.emulator.placeCall(scenario);
      names.set(call.sid, `${scenario.name} (${call.sid.slice(-6)})`);
      console.log(`call ${call.sid.slice(-6)}: ${scenario.name}: ${scenario.description}`);
      await call.done;
      await sleep(((opts.gapSeconds ?? 3) * 1000) / opts.speed, undefined, { signal: stop.signal });
    }
  };
  const lines = Array.from({ length: opts.calls }, (_, i) => line(i).catch((err: unknown) => (stop.signal.aborted ? undefined : Promise.reject(err))));

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  // A second signal while closing: stop at once.
  process.once(signal, () => process.exit(130));
  console.log(`\n${signal}: stopping the calls, the service and the emulator…`);
  stop.abort();
  await stack.close();
  await Promise.allSettled(lines);
  console.log('stopped.');
  return 0;
}
