// The dashboard's pure browser-side functions, run in Node: reading the SSE feed, parsing a pasted
// conversation for a dry run, and reading decisions and audit entries whatever shape the API gives them.
import { describe, expect, it } from 'vitest';

// The dashboard ships as plain JS modules (no build step); give the functions under test their types here.
const assets = new URL('../../src/supervisor/public/assets/', import.meta.url).href;
const { parseSse } = (await import(`${assets}events.js`)) as {
  parseSse(text: string): { events: { event: string; data: string; id?: string }[]; rest: string };
};
const { parseConversation, describeCondition, describeAction, formatOffset } = (await import(`${assets}rules.js`)) as {
  parseConversation(text: string): { transcript?: { track: string; text: string }[]; error?: string };
  formatOffset(ms: number): string;
  describeCondition(c: unknown): string;
  describeAction(a: unknown): string;
};
const { frustrationThresholds } = (await import(`${assets}chart.js`)) as {
  frustrationThresholds(rules: unknown[]): { value: number; ruleId: string }[];
};
const { normaliseDecision, describeEntry } = (await import(`${assets}calls.js`)) as {
  normaliseDecision(d: unknown): Record<string, unknown>;
  describeEntry(e: unknown): string;
};

describe('reading the live feed (SSE)', () => {
  it('splits complete events and keeps the unfinished tail for the next chunk', () => {
    const { events, rest } = parseSse('data: {"type":"call"}\n\n: keep-alive\n\ndata: {"type":"utt');
    expect(events).toEqual([{ event: 'message', data: '{"type":"call"}', id: undefined }]);
    expect(rest).toBe('data: {"type":"utt');
    expect(parseSse(`${rest}erance"}\n\n`).events[0]!.data).toBe('{"type":"utterance"}');
  });

  it('follows the SSE rules on line ends, multi-line data, event names and ids', () => {
    const { events } = parseSse('event: live\r\nid: 7\r\ndata: a\r\ndata:b\r\n\r\n');
    expect(events).toEqual([{ event: 'live', data: 'a\nb', id: '7' }]);
  });
});

describe('a conversation pasted for a dry run', () => {
  it('reads who says what, and joins a line without a speaker to the turn before', () => {
    expect(parseConversation('Agent: How can I help?\ncaller: I want to cancel\nmy subscription.\n\n')).toEqual({
      transcript: [
        { track: 'outbound', text: 'How can I help?' },
        { track: 'inbound', text: 'I want to cancel my subscription.' },
      ],
    });
  });

  it('says when a rule fired, from the start of the call', () => {
    expect([0, 4_600, 65_000, 600_000].map(formatOffset)).toEqual(['0:00', '0:05', '1:05', '10:00']);
  });

  it('says which line has no speaker', () => {
    expect(parseConversation('hello there').error).toMatch(/Line 1: start it with "caller:" or "agent:"/);
    expect(parseConversation('  \n').error).toMatch(/at least one turn/);
  });
});

describe('rules as the page shows them', () => {
  it('draws a threshold for each enabled frustration rule, nested ones included', () => {
    const rules = [
      { id: 'a', enabled: true, when: { type: 'frustration', atLeast: 0.7 } },
      { id: 'b', enabled: false, when: { type: 'frustration', atLeast: 0.5 } },
      { id: 'c', enabled: true, when: { type: 'all', of: [{ type: 'wants_human' }, { type: 'frustration', atLeast: 0.6 }] } },
    ];
    expect(frustrationThresholds(rules)).toEqual([
      { value: 0.7, ruleId: 'a' },
      { value: 0.6, ruleId: 'c' },
    ]);
  });

  it('says a rule in words', () => {
    expect(describeCondition({ type: 'phrase', phrases: ['cancel my subscription'], track: 'inbound' })).toBe('the caller says “cancel my subscription”');
    expect(describeCondition({ type: 'frustration', atLeast: 0.7, turns: 2 })).toBe('frustration ≥ 0.7 for 2 turns');
    expect(describeAction({ type: 'handoff', to: { queue: 'retention' } })).toBe('hand off to queue retention');
    expect(describeAction({ type: 'pause', resumeAfterSeconds: 0 })).toBe('pause transcription until resumed by hand');
  });
});

describe('decisions and audit entries', () => {
  it('reads a decision from the feed and from an audit entry alike', () => {
    const fromFeed = normaliseDecision({ type: 'decision', decisionId: 'd1', ruleId: 'r', action: 'handoff', mode: 'enforce', reason: 'x', at: 5 });
    const fromAudit = normaliseDecision({ kind: 'decision', decisionId: 'd1', at: 5, actor: 'rule:r', data: { ruleId: 'r', action: { type: 'handoff' }, mode: 'enforce', reason: 'x' } });
    expect(fromAudit).toMatchObject({ decisionId: 'd1', ruleId: 'r', action: 'handoff', mode: 'enforce', reason: 'x', at: 5 });
    expect(fromFeed).toMatchObject(fromAudit);
  });

  it('gives each kind of audit entry one readable line', () => {
    expect(describeEntry({ kind: 'outcome', data: { result: 'done', detail: 'handed off: queue support' } })).toBe('done: handed off: queue support');
    expect(describeEntry({ kind: 'gate', data: { open: false, reason: 'sensitive: payment_card' } })).toBe('transcription paused: sensitive: payment_card');
    expect(describeEntry({ kind: 'assessment', data: { frustration: 0.81, sentiment: -0.4, wantsHuman: true, sensitive: [] } })).toBe(
      'frustration 0.81, sentiment -0.40, asks for a person',
    );
    expect(describeEntry({ kind: 'attempt', data: { step: 'update call TwiML', attempt: 1, ok: true, ms: 11.0954 } })).toBe('update call TwiML, attempt 1: ok, 11 ms');
    expect(describeEntry({ kind: 'supervisor', data: { request: 'POST /api/calls/:callSid/takeover', status: 200, outcome: { result: 'done' } } })).toBe(
      'POST /api/calls/:callSid/takeover: done',
    );
  });
});
