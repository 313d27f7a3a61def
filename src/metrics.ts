// Prometheus metrics (prom-client), served at /metrics. Counts and timings only: no call SID, number or text
// ever becomes a label.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  badFrames: Counter<'reason'>;
  decisions: Counter<'action' | 'mode'>;
  outcomes: Counter<'action' | 'result'>;
  /** Transcript received → first REST request sent, for decisions that changed a call. */
  decisionSeconds: Histogram;
  liveCalls: Gauge<'state'>;
}

export function createMetrics(liveCalls: () => Map<string, number>): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'takeover_process_' });
  return {
    registry,
    badFrames: new Counter({
      name: 'takeover_bad_frames_total',
      help: 'Media Stream frames dropped as malformed, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    decisions: new Counter({ name: 'takeover_decisions_total', help: 'Decisions made by rules or supervisors', labelNames: ['action', 'mode'], registers: [registry] }),
    outcomes: new Counter({ name: 'takeover_action_outcomes_total', help: 'Outcomes of actions on calls', labelNames: ['action', 'result'], registers: [registry] }),
    decisionSeconds: new Histogram({
      name: 'takeover_decision_seconds',
      help: 'From the transcript reaching takeover to the REST request leaving for Twilio',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    liveCalls: new Gauge({
      name: 'takeover_calls',
      help: 'Calls takeover knows of, by state',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [state, n] of liveCalls()) this.set({ state }, n);
      },
    }),
  };
}
