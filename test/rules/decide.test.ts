// Re-arming: a rule whose action failed may act again on the caller's next trigger, under a new episode;
// a rule whose action went through keeps its cooldown and acts once.
import { describe, expect, it } from 'vitest';
import { decide, rearm, type RuleFiring } from '../../src/rules/decide.js';
import type { RuleMatch } from '../../src/rules/evaluate.js';
import { parseRule } from '../../src/rules/schema.js';

const hand = parseRule({ id: 'hand', cooldownSeconds: 60, when: { type: 'wants_human' }, action: { type: 'handoff', to: { queue: 'support' } } });
const asks: RuleMatch[] = [{ rule: hand, reason: 'caller asked for a person' }];
const times = { transcriptAt: 1, assessedAt: 2 };

describe('rearm', () => {
  it('lets the rule of a failed action act on the next trigger, as a new episode', () => {
    const firing: RuleFiring = new Map();
    const first = decide('CA1', asks, firing, times, 1000).act!;
    expect(first.id).toBe('CA1:hand:1');
    // In its cooldown while the action runs.
    expect(decide('CA1', asks, firing, times, 2000).act).toBeUndefined();
    rearm(firing, first);
    expect(decide('CA1', asks, firing, times, 3000).act?.id).toBe('CA1:hand:2');
  });

  it('leaves a success alone: the cooldown holds, the rule acts once', () => {
    const firing: RuleFiring = new Map();
    decide('CA1', asks, firing, times, 1000);
    expect(decide('CA1', asks, firing, times, 30_000).act).toBeUndefined();
    expect(decide('CA1', asks, firing, times, 61_000).act?.id).toBe('CA1:hand:2');
  });

  it('ignores a failure of an older episode once the rule has fired again', () => {
    const firing: RuleFiring = new Map();
    const first = decide('CA1', asks, firing, times, 1000).act!;
    const second = decide('CA1', asks, firing, times, 70_000).act!;
    rearm(firing, first);
    expect(decide('CA1', asks, firing, times, 71_000).act).toBeUndefined();
    rearm(firing, second);
    expect(decide('CA1', asks, firing, times, 72_000).act?.id).toBe('CA1:hand:3');
  });

  it('does nothing for a supervisor’s decision', () => {
    const firing: RuleFiring = new Map();
    const first = decide('CA1', asks, firing, times, 1000).act!;
    rearm(firing, { ...first, origin: 'manual', ruleId: 'manual' });
    expect(decide('CA1', asks, firing, times, 2000).act).toBeUndefined();
  });
});
