// Child process of bench/decision.ts: the Twilio emulator placing many scripted calls at once, kept
// out of the service's process so its CPU is not counted against the service.
import { TwilioEmulator } from '../src/simulator/emulator.js';
import { observe } from '../src/simulator/observe.js';
import { loadScenarios } from '../src/simulator/scenario.js';

interface Start {
  accountSid: string;
  authToken: string;
  publicUrl: string;
  calls: number;
  rampMs: number;
}

const send = (m: object) => process.send!(m);

process.once('message', async (start: Start) => {
  const emulator = new TwilioEmulator({
    accountSid: start.accountSid,
    authToken: start.authToken,
    servicePublicUrl: start.publicUrl,
    serviceLocalUrl: 'http://127.0.0.1:0',
  });
  const apiUrl = await emulator.listen();
  send({ type: 'emulator', apiUrl });
  process.once('message', async ({ serviceUrl }: { serviceUrl: string }) => {
    emulator.opts.serviceLocalUrl = serviceUrl;
    const scenarios = await loadScenarios();
    const done: Promise<void>[] = [];
    for (let i = 0; i < start.calls; i++) {
      const s = scenarios[i % scenarios.length]!;
      await new Promise((r) => setTimeout(r, start.rampMs / start.calls));
      const call = emulator.placeCall(s);
      done.push(call.done);
    }
    await Promise.all(done);
    const observations = [...emulator.calls.values()].map((c) => observe(c));
    await emulator.close();
    send({
      type: 'done',
      ok: observations.filter((o) => o.ok).length,
      calls: observations.length,
      latenciesMs: observations.flatMap((o) => (o.latencyMs === undefined ? [] : [o.latencyMs])),
    });
  });
});
