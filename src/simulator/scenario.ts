// Scripted calls: who says what, when, and what outcome the call should get. Fixtures live in
// fixtures/scenarios/*.json; this module validates them and lays the lines out on the audio timeline.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

const OUTCOMES = ['none', 'handoff', 'pause', 'end'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const scenarioSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/),
    description: z.string(),
    from: z.string().default('+15550100001'),
    to: z.string().default('+15550100099'),
    parameters: z.record(z.string(), z.string()).default({}),
    /** A call recording runs from the start (so a pause has one to pause). */
    recording: z.boolean().default(false),
    expect: z
      .object({
        outcome: z.enum(OUTCOMES),
        /** Index in `lines` of the line that should trigger the outcome. */
        triggerLine: z.number().int().nonnegative().optional(),
      })
      .strict(),
    lines: z
      .array(
        z
          .object({
            speaker: z.enum(['caller', 'agent']),
            text: z.string().min(1),
            /** Silence before the line (ms of audio). */
            gapMs: z.number().int().nonnegative().default(400),
            /** Length of the spoken line; by default from its word count. */
            durationMs: z.number().int().positive().optional(),
          })
          .strict(),
      )
      .min(1),
  })
  .strict()
  .refine((s) => (s.expect.outcome === 'none') === (s.expect.triggerLine === undefined), {
    message: 'expect.triggerLine is required exactly when the outcome is not "none"',
    path: ['expect', 'triggerLine'],
  })
  .refine((s) => s.expect.triggerLine === undefined || s.expect.triggerLine < s.lines.length, {
    message: 'expect.triggerLine is past the last line',
    path: ['expect', 'triggerLine'],
  });

export type Scenario = z.infer<typeof scenarioSchema>;

export interface TimedLine {
  index: number;
  speaker: 'caller' | 'agent';
  text: string;
  startMs: number;
  endMs: number;
}

/** About 3 words a second, as people speak on the phone. */
function lineDuration(text: string): number {
  return Math.max(600, text.trim().split(/\s+/).length * 330);
}

export function timeline(s: Scenario): TimedLine[] {
  let t = 0;
  return s.lines.map((l, index) => {
    const startMs = t + l.gapMs;
    const endMs = startMs + (l.durationMs ?? lineDuration(l.text));
    t = endMs;
    return { index, speaker: l.speaker, text: l.text, startMs, endMs };
  });
}

const SCENARIO_DIR = new URL('../../fixtures/scenarios/', import.meta.url);

export async function loadScenarios(dir: string | URL = SCENARIO_DIR): Promise<Scenario[]> {
  const path = typeof dir === 'string' ? dir : dir.pathname;
  const files = (await readdir(path)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (f) => {
      const r = scenarioSchema.safeParse(JSON.parse(await readFile(join(path, f), 'utf8')));
      if (!r.success) throw new Error(`${f}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      return r.data;
    }),
  );
}
