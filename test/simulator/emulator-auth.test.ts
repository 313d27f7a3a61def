// The emulator authenticates REST requests as Twilio does: HTTP Basic with the Account SID and Auth Token,
// or with one of the account's API keys (SK…) and its secret. A service configured with an API key
// (TWILIO_API_KEY_SID/SECRET) acts on calls with it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TwilioEmulator } from '../../src/simulator/emulator.js';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import { quietCall, sid } from '../support/twilio-client.js';

const quiet = quietCall('auth-check', 'a long quiet call to act on');

describe('Basic auth on the emulator', () => {
  const accountSid = sid('AC');
  const authToken = 'token-' + sid('');
  const key = { sid: sid('SK'), secret: 'secret-' + sid('') };
  let emulator: TwilioEmulator;
  beforeAll(async () => {
    emulator = new TwilioEmulator({ accountSid, authToken, apiKeys: [key], servicePublicUrl: 'https://takeover.auth.invalid', serviceLocalUrl: 'http://127.0.0.1:9' });
    await emulator.listen();
  });
  afterAll(async () => emulator?.close());

  const fetchCall = (callSid: string, user: string, pass: string) =>
    fetch(`${emulator.url}/2010-04-01/Accounts/${accountSid}/Calls/${callSid}.json`, {
      headers: { authorization: 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64') },
    });

  it('accepts the Account SID with the Auth Token, and a configured API key with its secret', async () => {
    const call = emulator.placeCall(quiet);
    expect((await fetchCall(call.sid, accountSid, authToken)).status).toBe(200);
    expect((await fetchCall(call.sid, key.sid, key.secret)).status).toBe(200);
  });

  for (const [what, user, pass] of [
    ['an API key with a wrong secret', () => key.sid, () => 'wrong'],
    ['an API key with the Auth Token', () => key.sid, () => authToken],
    ['the Account SID with the API key secret', () => accountSid, () => key.secret],
    ['an API key the account does not have', () => sid('SK'), () => key.secret],
  ] as const) {
    it(`refuses ${what} with 401 / 20003`, async () => {
      const call = emulator.placeCall(quiet);
      const res = await fetchCall(call.sid, user(), pass());
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ code: 20003, status: 401 });
    });
  }

  it('keeps a secret that contains a colon whole', async () => {
    const colon = new TwilioEmulator({ accountSid, authToken, apiKeys: [{ sid: key.sid, secret: 'a:b' }], servicePublicUrl: 'https://x.invalid', serviceLocalUrl: 'http://127.0.0.1:9' });
    await colon.listen();
    try {
      const res = await fetch(`${colon.url}/2010-04-01/Accounts/${accountSid}/Calls/${sid('CA')}.json`, {
        headers: { authorization: 'Basic ' + Buffer.from(`${key.sid}:a`).toString('base64') },
      });
      expect(res.status).toBe(401);
      const ok = await fetch(`${colon.url}/2010-04-01/Accounts/${accountSid}/Calls/${sid('CA')}.json`, {
        headers: { authorization: 'Basic ' + Buffer.from(`${key.sid}:a:b`).toString('base64') },
      });
      expect(ok.status).toBe(404); // authenticated; the call does not exist
    } finally {
      await colon.close();
    }
  });
});

describe('a service configured with an API key', () => {
  let stack: LocalStack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it('updates a call on the emulator with the key, not the Auth Token', async () => {
    stack = await startLocalStack({ apiKey: true, speed: 10, env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' } });
    const { apiKeySid } = stack.config.twilio;
    expect(apiKeySid).toMatch(/^SK[0-9a-f]{32}$/);
    const frustrated = (await loadScenarios()).find((s) => s.name === 'frustrated-caller')!;
    const call = stack.emulator.placeCall(frustrated);
    await call.done;
    await stack.service.monitor.settle();
    const rest = call.events.filter((e): e is Extract<typeof e, { kind: 'rest' }> => e.kind === 'rest');
    const update = rest.find((e) => e.resource === 'Calls');
    expect(update).toMatchObject({ status: 200, user: apiKeySid });
    expect(update!.form.Twiml).toContain('<Enqueue>support</Enqueue>');
    expect(rest.every((e) => e.user === apiKeySid)).toBe(true);
    expect(stack.service.monitor.session(call.sid)?.state).toBe('handed_off');
  });
});
