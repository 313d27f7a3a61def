// OpenAI Realtime transcription chosen by configuration alone (TRANSCRIPTION_PROVIDER, OPENAI_REALTIME_URL),
// as an operator sets it: the emulated caller's audio goes to the local OpenAI double, and what it hears
// drives the takeover.
import { afterEach, describe, expect, it } from 'vitest';
import type { EmulatedCall } from '../../src/simulator/call.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { observe } from '../../src/simulator/observe.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import { OpenAIRealtimeDouble } from '../doubles/openai-realtime.js';

const scenarios = await loadScenarios();
const scenario = scenarios.find((s) => s.name === 'asks-for-human')!;
const calm = scenarios.find((s) => s.name === 'calm-caller')!;

let stack: LocalStack | undefined;
let double: OpenAIRealtimeDouble | undefined;
afterEach(async () => {
  await stack?.close();
  await double?.close();
});

async function openaiStack(speed: number): Promise<{ stack: LocalStack; double: OpenAIRealtimeDouble; place: (s: typeof calm) => EmulatedCall }> {
  let call: EmulatedCall | undefined;
  const d = await OpenAIRealtimeDouble.start({
    apiKey: 'sk-test',
    deltaIntervalMs: 5,
    // The double answers each turn with the line the speaker (told apart by the tone's pitch) just finished.
    script: (turn) => {
      if (!call) return '';
      const speaker = turn.pitchHz < 275 ? 'caller' : 'agent';
      return call.lines.filter((l) => l.speaker === speaker && l.endMs <= call!.audioNow).at(-1)?.text ?? '';
    },
  });
  const s = await startLocalStack({
    speed,
    env: {
      LOG_LEVEL: 'silent',
      CLASSIFIER: 'local',
      TRANSCRIPTION_PROVIDER: 'openai',
      OPENAI_API_KEY: 'sk-test',
      OPENAI_REALTIME_URL: d.url,
      TRANSCRIBE_VAD_SILENCE_MS: '300',
      HANDOFF_SUMMARY: 'local',
    },
  });
  return {
    stack: s,
    double: d,
    place: (sc) => (call = s.emulator.placeCall(sc, s.emulator.initialTwiml(sc).replace(/<Start><Transcription[^>]*\/><\/Start>/, ''))),
  };
}

describe('TRANSCRIPTION_PROVIDER=openai', () => {
  it('transcribes a calm call to its last words', async () => {
    const o = await openaiStack(4);
    stack = o.stack;
    double = o.double;
    const call = o.place(calm);
    await call.done;
    await new Promise((r) => setTimeout(r, 1500));
    await stack.service.monitor.settle();
    const stored = (await stack.service.store.transcript(call.sid)).map((l) => l.text);
    expect(stored.at(-1)).toBe('Perfect, that is all I needed. Have a nice day.');
  });

  it('streams the call to OpenAI Realtime and hands off on what it hears', async () => {
    const o = await openaiStack(2);
    stack = o.stack;
    double = o.double;
    const call = o.place(scenario);
    // With OpenAI transcribing the stream, the TwiML starts no Twilio transcription.
    expect(call.twiml).not.toContain('Transcription');
    await call.done;
    await stack.service.monitor.settle();

    expect(double.connections.length).toBeGreaterThanOrEqual(2); // one session per track
    expect(double.connections[0]!.appends.length).toBeGreaterThan(0);
    expect(observe(call).observed).toEqual(['handoff']);
    const stored = (await stack.service.store.transcript(call.sid)).map((l) => l.text);
    expect(stored).toContain('I have a question about a charge on my last bill.');
  });
});
