// Reads what happened to an emulated call from what the emulator recorded: which outcome the
// service caused, on which line, and how long after that line's transcript reached the service.
import type { CallEvent, EmulatedCall } from './call.js';
import type { Outcome, Scenario } from './scenario.js';

export interface Observation {
  name: string;
  expected: Outcome;
  /** Every kind of change the service made to the call, in order (empty: none). */
  observed: Outcome[];
  /** Index of the line whose transcript (partial or final) was the last posted before the service's first action. */
  triggerLine?: number;
  /** Whether that transcript was final (false: the service acted on a partial). */
  triggerFinal?: boolean;
  /** From posting that transcript to the service's first REST request arriving. */
  latencyMs?: number;
  restRequests: number;
  /** The service's stream was opened again after a pause. */
  resumed: boolean;
  ok: boolean;
}

type Rest = CallEvent & { kind: 'rest' };

/** What a successful REST request did to the call, from the caller's point of view. */
function outcomeOf(e: Rest): Outcome | undefined {
  if (e.status >= 300) return undefined;
  if (e.resource === 'Calls') {
    if (e.form.Status === 'completed' || e.form.Status === 'canceled') return 'end';
    if (e.form.Url || /<(Enqueue|Dial)\b/.test(e.form.Twiml ?? '')) return 'handoff';
    return undefined;
  }
  if (e.resource === 'Streams/{Sid}' && e.form.Status === 'stopped') return 'pause';
  return undefined;
}

export function observe(call: EmulatedCall, scenario: Scenario = call.scenario): Observation {
  const rest = call.events.filter((e): e is Rest => e.kind === 'rest');
  const effective = rest.filter((e) => e.status < 300);
  const observed: Outcome[] = [];
  for (const e of effective) {
    const o = outcomeOf(e);
    // Stopping the stream after a handoff is part of the handoff, not a pause.
    if (o === 'pause' && observed.includes('handoff')) continue;
    if (o && !observed.includes(o)) observed.push(o);
  }
  const firstAction = rest[0];
  const trigger = firstAction && call.transcriptPosts.filter((p) => p.at <= firstAction.at).at(-1);
  const triggerLine = trigger ? trigger.line : undefined;
  const latencyMs = trigger ? firstAction.at - trigger.at : undefined;
  // Back by REST (Streams create) or by TwiML (a secure capture flow's answer starts the stream again).
  const resumed = call.events.filter((e) => e.kind === 'stream-open').length > 1;
  const expected = scenario.expect.outcome;
  const outcomeOk = expected === 'none' ? observed.length === 0 : observed.length === 1 && observed[0] === expected;
  const lineOk = scenario.expect.triggerLine === undefined || scenario.expect.triggerLine === triggerLine;
  return {
    name: scenario.name,
    expected,
    observed,
    triggerLine,
    triggerFinal: trigger ? trigger.final : undefined,
    latencyMs,
    restRequests: rest.length,
    resumed,
    ok: outcomeOk && lineOk,
  };
}
