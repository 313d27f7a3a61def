// The emulator and our requests, checked against Twilio's own OpenAPI description of the REST API
// (../shared/specs/twilio_api_v2010.json): every field we send is one Twilio declares, with a valid
// value, and every answer the emulator gives has the shape Twilio documents.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyRestError, createTwilioClient, twilioCallControl, type CallControl } from '../../src/actions/twilio-rest.js';
import { TwilioEmulator } from '../../src/simulator/emulator.js';
import type { Scenario } from '../../src/simulator/scenario.js';
import { sid } from '../support/twilio-client.js';

const specPath = fileURLToPath(new URL('../../../shared/specs/twilio_api_v2010.json', import.meta.url));
const spec = JSON.parse(readFileSync(specPath, 'utf8')) as {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> }; responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>>;
  components: { schemas: Record<string, Schema> };
};
type Schema = { $ref?: string; properties?: Record<string, Schema>; required?: string[]; [k: string]: unknown };

/** OpenAPI 3.0 `nullable: true` → JSON Schema `anyOf [..., null]`, which Ajv understands with or without a type. */
function openApiToJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(openApiToJsonSchema);
  if (typeof node !== 'object' || node === null) return node;
  const { nullable, ...rest } = node as Record<string, unknown>;
  const out = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, openApiToJsonSchema(v)]));
  return nullable === true ? { anyOf: [out, { type: 'null' }] } : out;
}

const ajv = new Ajv({ strict: false, validateFormats: false, coerceTypes: true, allErrors: true });
ajv.addSchema({ components: openApiToJsonSchema(spec.components) } as object, 'twilio');
const resolveRefs = (s: Schema): Schema => JSON.parse(JSON.stringify(s).replace(/"#\/components/g, '"twilio#/components'));

const API = '/2010-04-01/Accounts/{AccountSid}';
const operations = {
  Calls: `${API}/Calls/{Sid}.json`,
  Streams: `${API}/Calls/{CallSid}/Streams.json`,
  'Streams/{Sid}': `${API}/Calls/{CallSid}/Streams/{Sid}.json`,
  'Recordings/{Sid}': `${API}/Calls/{CallSid}/Recordings/{Sid}.json`,
  Transcriptions: `${API}/Calls/{CallSid}/Transcriptions.json`,
  'Transcriptions/{Sid}': `${API}/Calls/{CallSid}/Transcriptions/{Sid}.json`,
} as const;

function requestSchema(resource: keyof typeof operations): Schema {
  return spec.paths[operations[resource]]!.post!.requestBody!.content['application/x-www-form-urlencoded']!.schema;
}
function responseSchema(resource: keyof typeof operations): Schema {
  const ok = spec.paths[operations[resource]]!.post!.responses['200']!;
  return ok.content!['application/json']!.schema;
}

/** Problems with a form body we sent: unknown fields, missing required ones, invalid values. */
function formProblems(resource: keyof typeof operations, form: Record<string, string>): string[] {
  const schema = requestSchema(resource);
  const known = new Set(Object.keys(schema.properties ?? {}));
  const problems = Object.keys(form).filter((k) => !known.has(k)).map((k) => `${resource}: field ${k} is not in Twilio's spec`);
  const validate = ajv.compile(resolveRefs(schema));
  if (!validate({ ...form })) problems.push(...(validate.errors ?? []).map((e) => `${resource}: ${e.instancePath} ${e.message}`));
  return problems;
}

function bodyProblems(resource: keyof typeof operations, body: Record<string, unknown>): string[] {
  const schema = responseSchema(resource);
  const target = schema.$ref ? spec.components.schemas[schema.$ref.split('/').pop()!]! : schema;
  const known = new Set(Object.keys(target.properties ?? {}));
  const problems = Object.keys(body).filter((k) => !known.has(k)).map((k) => `${resource}: answer field ${k} is not in Twilio's spec`);
  const validate = ajv.compile(resolveRefs(schema));
  if (!validate(body)) problems.push(...(validate.errors ?? []).map((e) => `${resource}: answer ${e.instancePath} ${e.message}`));
  return problems;
}

const scenario: Scenario = {
  name: 'spec-check',
  description: 'a long quiet call to act on',
  from: '+15550100001',
  to: '+15550100099',
  parameters: { tenant: 'acme' },
  recording: true,
  expect: { outcome: 'none' },
  lines: [{ speaker: 'caller', text: 'hello', gapMs: 60_000 }],
};

let emulator: TwilioEmulator;
let control: CallControl;
const accountSid = sid('AC');
const authToken = 'test-token-' + sid('');

beforeAll(async () => {
  emulator = new TwilioEmulator({ accountSid, authToken, servicePublicUrl: 'https://takeover.spec.invalid', serviceLocalUrl: 'http://127.0.0.1:9' });
  const url = await emulator.listen();
  control = twilioCallControl(createTwilioClient({ accountSid, authToken, apiKeySid: undefined, apiKeySecret: undefined, apiBaseUrl: url }));
});
afterAll(async () => emulator?.close());

describe('our REST requests and the emulator, against Twilio’s OpenAPI spec', () => {
  it('every operation takeover performs sends only declared fields with valid values', async () => {
    const call = emulator.placeCall(scenario);
    const stream = await control.createStream(call.sid, {
      url: 'wss://takeover.spec.invalid/media-stream',
      name: 'takeover',
      track: 'both_tracks',
      parameters: { tenant: 'acme', from: '+15550100001' },
    });
    await control.stopStream(call.sid, stream);
    await control.setRecording(call.sid, 'paused');
    await control.setRecording(call.sid, 'in-progress');
    const gt = await control.createTranscription(call.sid, {
      name: 'takeover',
      statusCallbackUrl: 'https://takeover.spec.invalid/twilio/transcription',
      track: 'both_tracks',
      partialResults: true,
    });
    await control.stopTranscription(call.sid, gt);
    await control.updateTwiml(call.sid, '<Response><Enqueue>support</Enqueue></Response>');
    await control.end(call.sid);

    const rest = emulator.restLog().filter((r) => r.callSid === call.sid);
    expect(rest.map((r) => `${r.resource} ${r.status}`)).toEqual([
      'Streams 200',
      'Streams/{Sid} 200',
      'Recordings/{Sid} 200',
      'Recordings/{Sid} 200',
      'Transcriptions 200',
      'Transcriptions/{Sid} 200',
      'Calls 200',
      'Calls 200',
    ]);
    expect(rest[0]!.form).toMatchObject({ 'Parameter1.Name': 'tenant', 'Parameter1.Value': 'acme', Track: 'both_tracks' });
    expect(rest[2]!.form).toEqual({ Status: 'paused', PauseBehavior: 'skip' });
    expect(rest.flatMap((r) => formProblems(r.resource as keyof typeof operations, r.form))).toEqual([]);
  });

  it('answers each operation with the JSON shape Twilio documents', async () => {
    const call = emulator.placeCall(scenario);
    const base = `${emulator.url}/2010-04-01/Accounts/${accountSid}/Calls/${call.sid}`;
    const post = async (path: string, form: Record<string, string>) => {
      const res = await fetch(base + path, {
        method: 'POST',
        headers: { authorization: 'Basic ' + Buffer.from(`${accountSid}:${authToken}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const created = await post('/Streams.json', { Url: 'wss://takeover.spec.invalid/media-stream', Name: 'n1' });
    expect(created.status).toBe(200);
    expect(bodyProblems('Streams', created.body)).toEqual([]);
    const stopped = await post(`/Streams/${created.body.sid}.json`, { Status: 'stopped' });
    expect(stopped.body.status).toBe('stopped');
    expect(bodyProblems('Streams/{Sid}', stopped.body)).toEqual([]);
    const rec = await post('/Recordings/Twilio.CURRENT.json', { Status: 'paused', PauseBehavior: 'skip' });
    expect(rec.body.status).toBe('paused');
    expect(bodyProblems('Recordings/{Sid}', rec.body)).toEqual([]);
    const gt = await post('/Transcriptions.json', { StatusCallbackUrl: 'https://takeover.spec.invalid/twilio/transcription', Name: 't1' });
    expect(bodyProblems('Transcriptions', gt.body)).toEqual([]);
    const gtStop = await post(`/Transcriptions/t1.json`, { Status: 'stopped' });
    expect(bodyProblems('Transcriptions/{Sid}', gtStop.body)).toEqual([]);
    const updated = await post('.json', { Twiml: '<Response><Say>hi</Say></Response>' });
    expect(updated.status).toBe(200);
    expect(bodyProblems('Calls', updated.body)).toEqual([]);
  });

  it('answers errors in Twilio’s format: unknown call, call not in progress, bad credentials', async () => {
    const unknown = await fetch(`${emulator.url}/2010-04-01/Accounts/${accountSid}/Calls/${sid('CA')}.json`, {
      method: 'POST',
      headers: { authorization: 'Basic ' + Buffer.from(`${accountSid}:${authToken}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Status=completed',
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 20404, status: 404, message: expect.any(String), more_info: expect.stringContaining('20404') });

    const call = emulator.placeCall(scenario);
    await control.end(call.sid);
    const err = await control.updateTwiml(call.sid, '<Response/>').catch((e: unknown) => e as { status: number; code: number });
    expect(err).toMatchObject({ status: 400, code: 21220 });

    const badAuth = await fetch(`${emulator.url}/2010-04-01/Accounts/${accountSid}/Calls/${call.sid}.json`, {
      headers: { authorization: 'Basic ' + Buffer.from(`${accountSid}:wrong`).toString('base64') },
    });
    expect(badAuth.status).toBe(401);
    expect(await badAuth.json()).toMatchObject({ code: 20003, status: 401 });
  });

  it('refuses Twiml and Url together with a plain 400, not with 21220 (which says the call is gone)', async () => {
    const call = emulator.placeCall(scenario);
    const res = await fetch(`${emulator.url}/2010-04-01/Accounts/${accountSid}/Calls/${call.sid}.json`, {
      method: 'POST',
      headers: { authorization: 'Basic ' + Buffer.from(`${accountSid}:${authToken}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ Twiml: '<Response/>', Url: 'https://takeover.spec.invalid/x' }).toString(),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: number; status: number; message: string };
    expect(body).toMatchObject({ code: 400, status: 400, more_info: expect.stringContaining('/400') });
    expect(body.message).toMatch(/Twiml and Url/);
    // The service reads it as its own mistake (never retried), not as a call that has ended.
    expect(classifyRestError({ status: body.status, code: body.code, message: body.message }).kind).toBe('fatal');
    expect(call.status).toBe('in-progress');
    expect(call.events.filter((e) => e.kind === 'twiml')).toHaveLength(1); // only the call's first TwiML ran
  });

  it('refuses inline TwiML over 4,000 characters with 32018', async () => {
    const call = emulator.placeCall(scenario);
    const err = await control.updateTwiml(call.sid, `<Response><Say>${'a'.repeat(4000)}</Say></Response>`).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, code: 32018 });
  });
});
