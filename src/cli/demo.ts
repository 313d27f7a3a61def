// `npm run demo`: the service on its embedded defaults beside the Twilio emulator, playing every
// scenario in fixtures/scenarios and reporting what happened to each call.
// `npm run demo -- --ci`: accelerated; exits 0 only if every scenario got its expected outcome and
// nothing else; the last line is a one-line JSON summary.
// `npm run demo -- --watch [--calls 3] [--port 3000]`: keeps running with calls arriving continuously, for the
// dashboard (src/cli/watch.ts); Ctrl-C stops it.
import { parseArgs } from 'node:util';
import { redact } from '../classification/redact.js';
import { ConfigError } from '../config.js';
import { startLocalStack } from '../simulator/local-stack.js';
import { observe, type Observation } from '../simulator/observe.js';
import { loadScenarios } from '../simulator/scenario.js';
import { watchDemo } from './watch.js';

const { values } = parseArgs({
  options: {
    ci: { type: 'boolean', default: false },
    speed: { type: 'string' },
    only: { type: 'string' },
    watch: { type: 'boolean', default: false },
    calls: { type: 'string', default: '3' },
    port: { type: 'string' },
  },
});

const speed = Number(values.speed ?? (values.ci ? 8 : 1));
if (!Number.isFinite(speed) || speed <= 0) {
  console.error(`--speed must be a positive number, got "${values.speed}"`);
  process.exit(2);
}

async function main(): Promise<number> {
  const scenarios = (await loadScenarios()).filter((s) => !values.only || s.name === values.only);
  if (scenarios.length === 0) {
    console.error(`no scenario named "${values.only}"`);
    return 2;
  }
  if (values.watch) {
    const calls = Number(values.calls);
    const port = Number(values.port ?? process.env.PORT ?? 3000);
    if (!Number.isInteger(calls) || calls < 1 || calls > 50) {
      console.error(`--calls must be a whole number from 1 to 50, got "${values.calls}"`);
      return 2;
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      console.error(`--port must be a port number (0: any free port), got "${values.port}"`);
      return 2;
    }
    return watchDemo({ scenarios, speed, calls, port });
  }
  const stack = await startLocalStack({ speed });
  const { config } = stack;
  console.log(
    `takeover demo: ${scenarios.length} scripted calls on the local Twilio emulator ` +
      `(classifier: ${config.classifier.kind}, transcription: Twilio callbacks, speed ${speed}x)\n`,
  );
  const results: Observation[] = [];
  const names = new Map<string, string>();
  const started = Date.now();
  if (!values.ci) {
    // What happens as it happens: each decision and each pause or resume, on the call it concerns.
    stack.service.bus.subscribe((e) => {
      const name = names.get(e.callSid);
      const at = `${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s`;
      if (!name) return;
      if (e.type === 'decision') console.log(`  ${at}  ${name}: rule ${e.ruleId} → ${e.action}${e.note ? ` (${e.note})` : ''}: ${e.reason}`);
      if (e.type === 'gate') console.log(`  ${at}  ${name}: transcription ${e.open ? 'resumed' : 'paused'} (${e.by})`);
    });
  }
  try {
    await Promise.all(
      scenarios.map(async (s) => {
        const call = stack.emulator.placeCall(s);
        names.set(call.sid, s.name);
        await call.done;
        await stack.service.monitor.settle();
        const o = observe(call, s);
        results.push(o);
        const line = o.triggerLine === undefined ? undefined : s.lines[o.triggerLine];
        const what = o.observed.length === 0 ? 'no takeover' : o.observed.join(' + ');
        console.log(`${values.ci ? '' : '\n'}${o.ok ? '✓' : '✗'} ${s.name}: ${what} (expected ${o.expected})`);
        console.log(`    ${s.description}`);
        if (line && o.observed.length > 0) {
          const partial = o.triggerFinal ? '' : ' (on the partial transcript)';
          // A line that paused transcription is not shown, as takeover itself withholds it: health details have
          // nothing to redact.
          const said = o.observed.includes('pause') ? 'the line that paused transcription (not shown)' : `"${redact(line.text)}"`;
          console.log(`    ${o.latencyMs} ms after the ${line.speaker} said${partial}: ${said}`);
        }
        if (o.resumed) console.log('    transcription resumed after the pause');
        const requests = call.events.flatMap((e) => (e.kind === 'rest' ? [`${e.resource} ${e.status}`] : []));
        if (requests.length) console.log(`    REST requests to Twilio: ${requests.join(', ')}`);
      }),
    );
  } finally {
    await stack.close();
  }
  results.sort((a, b) => a.name.localeCompare(b.name));
  const failed = results.filter((r) => !r.ok);
  console.log(`\n${results.length - failed.length} of ${results.length} scenarios got their expected outcome.`);
  if (values.ci) {
    console.log(
      JSON.stringify({
        ok: failed.length === 0,
        scenarios: results.map((r) => ({
          name: r.name,
          expected: r.expected,
          observed: r.observed.length === 0 ? 'none' : r.observed.join('+'),
          latencyMs: r.latencyMs ?? null,
        })),
      }),
    );
  }
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(1);
  },
);
