// The /media-stream endpoint under real and hostile traffic: every message kind, bad frames that
// must not break the connection or other calls, and sessions released when the stream ends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../src/simulator/local-stack.js';
import { eventually, mediaFrame, openStream, send, sid, startFrames } from '../support/twilio-client.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack({ env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' } });
});
afterAll(async () => stack?.close());

describe('/media-stream', () => {
  it('opens a CallSession on start, counts media on both tracks, dtmf and marks, and ends it on stop', async () => {
    const callSid = sid('CA');
    const streamSid = sid('MZ');
    const ws = await openStream(stack);
    send(ws, startFrames(stack, callSid, streamSid, { tenant: 'acme' }));
    send(ws, [mediaFrame(streamSid, 1, 'inbound'), mediaFrame(streamSid, 2, 'outbound'), mediaFrame(streamSid, 3, 'inbound')]);
    send(ws, [
      { event: 'dtmf', sequenceNumber: '5', streamSid, dtmf: { track: 'inbound_track', digit: '1' } },
      { event: 'mark', sequenceNumber: '6', streamSid, mark: { name: 'm1' } },
    ]);
    const session = await eventually(() => {
      const s = stack.service.monitor.session(callSid);
      return s && s.counters.marks === 1 ? s : undefined;
    });
    expect(session.counters).toMatchObject({ frames: 3, dtmf: 1, marks: 1, badFrames: 0 });
    expect(session.customParameters).toEqual({ tenant: 'acme' });
    expect(session.state).toBe('monitoring');

    send(ws, [{ event: 'stop', sequenceNumber: '7', streamSid, stop: { accountSid: sid('AC'), callSid } }]);
    await eventually(() => session.state === 'ended', 2000, 'session to end');
    ws.close();
  });

  it('counts and drops malformed frames, keeps the connection up, and leaves other calls alone', async () => {
    const a = { callSid: sid('CA'), streamSid: sid('MZ') };
    const b = { callSid: sid('CA'), streamSid: sid('MZ') };
    const wsA = await openStream(stack);
    const wsB = await openStream(stack);
    send(wsA, startFrames(stack, a.callSid, a.streamSid));
    send(wsB, startFrames(stack, b.callSid, b.streamSid));
    send(wsA, [
      'garbage',
      '{"event":"media"}',
      '[]',
      { event: 'media', sequenceNumber: '2', streamSid: a.streamSid, media: { track: 'inbound', chunk: 'one', timestamp: '0', payload: '' } },
      mediaFrame(b.streamSid, 1), // a frame for another call's stream on this socket
      { event: 'launch-missiles', sequenceNumber: '3', streamSid: a.streamSid },
      'x'.repeat(10_000),
    ]);
    send(wsA, [mediaFrame(a.streamSid, 4)]);
    send(wsB, [mediaFrame(b.streamSid, 1), mediaFrame(b.streamSid, 2)]);

    const sa = await eventually(() => {
      const s = stack.service.monitor.session(a.callSid);
      return s && s.counters.frames === 1 ? s : undefined;
    });
    expect(sa.counters.badFrames).toBe(7);
    expect(wsA.readyState).toBe(wsA.OPEN);
    const sb = await eventually(() => {
      const s = stack.service.monitor.session(b.callSid);
      return s && s.counters.frames === 2 ? s : undefined;
    });
    expect(sb.counters.badFrames).toBe(0);
    expect(sb.state).toBe('monitoring');
    // Operators see the drops in /metrics, by reason, without the frames' content.
    const metrics = await (await fetch(`${stack.serviceUrl}/metrics`)).text();
    expect(metrics).toMatch(/takeover_bad_frames_total\{reason="not JSON"\} [1-9]/);
    expect(metrics).toMatch(/takeover_bad_frames_total\{reason="unknown event"\} [1-9]/);
    expect(metrics).not.toContain('launch-missiles');
    wsA.close();
    wsB.close();
  });

  it('drops media that arrives before start', async () => {
    const ws = await openStream(stack);
    const streamSid = sid('MZ');
    send(ws, [mediaFrame(streamSid, 1)]);
    const callSid = sid('CA');
    send(ws, startFrames(stack, callSid, streamSid));
    send(ws, [mediaFrame(streamSid, 2)]);
    const s = await eventually(() => {
      const x = stack.service.monitor.session(callSid);
      return x && x.counters.frames === 1 ? x : undefined;
    });
    expect(s.counters.frames).toBe(1);
    ws.close();
  });

  it('ends the session when the socket closes without a stop', async () => {
    const callSid = sid('CA');
    const streamSid = sid('MZ');
    const ws = await openStream(stack);
    send(ws, startFrames(stack, callSid, streamSid));
    const s = await eventually(() => stack.service.monitor.session(callSid));
    ws.terminate();
    await eventually(() => s.state === 'ended', 2000, 'session to end');
    expect(s.endedAt).toBeGreaterThan(0);
  });
});
