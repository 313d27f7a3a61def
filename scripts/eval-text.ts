// Renders `npm run eval`'s report as a table a person can read (--format text): the figures first, then the worst
// examples, so the lines that set rules off on calm calls are in front of whoever tunes the classifier or the rules.

import type { Example, FalseTakeoverReport, PersonRequestReport, UpsetReport } from './replay.js';

interface Prf {
  precision: number;
  recall: number;
  f1: number;
  n: number;
  positives: number;
}

export interface EvalReport {
  classifier: string;
  split: string;
  note: string;
  rules: string;
  frustration: Prf;
  wantsHuman: Prf;
  wantsHumanRasa: Prf & { missed: string[]; wronglyFlagged: string[] };
  sensitive: Prf;
  falseTakeovers: FalseTakeoverReport & { bySet: Record<'taskmaster' | 'written', { conversations: number; withTakeover: number; share: number }> };
  personRequests: PersonRequestReport;
  upsetCallers: UpsetReport;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const f3 = (x: number): string => x.toFixed(3);

function table(header: string[], rows: (string | number)[][]): string[] {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)];
}

const clip = (text: string, n = 90): string => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

function examples(list: Example[]): string[] {
  return list.map((e) => `  ${e.rule} (${e.action}) ×${e.conversations}: "${clip(e.text)}"  [${e.example.kind} ${e.example.id} turn ${e.example.turn}] ${clip(e.reason, 80)}${e.cues.length ? `; cues: ${clip(e.cues.join(', '), 80)}` : ''}`);
}

/** `shown` 0 leaves the example lists out (the test split's default) and says how to show them. */
export function formatText(r: EvalReport, shown = 10): string {
  const ft = r.falseTakeovers;
  const pr = r.personRequests;
  const up = r.upsetCallers;
  const out: string[] = [];
  out.push(`takeover eval, ${r.split} split; classifier ${r.classifier}; rules ${r.rules}`, `(${r.note})`, '');
  out.push(...table(['per utterance', 'precision', 'recall', 'F1', 'n', 'positives'], [
    ['frustration (GoEmotions dev)', f3(r.frustration.precision), f3(r.frustration.recall), f3(r.frustration.f1), r.frustration.n, r.frustration.positives],
    ['wants a human (Bitext held-aside)', f3(r.wantsHuman.precision), f3(r.wantsHuman.recall), f3(r.wantsHuman.f1), r.wantsHuman.n, r.wantsHuman.positives],
    ['wants a human (Rasa, all)', f3(r.wantsHumanRasa.precision), f3(r.wantsHumanRasa.recall), f3(r.wantsHumanRasa.f1), r.wantsHumanRasa.n, r.wantsHumanRasa.positives],
    ['sensitive, strict (held-aside)', f3(r.sensitive.precision), f3(r.sensitive.recall), f3(r.sensitive.f1), r.sensitive.n, r.sensitive.positives],
  ]), '');
  out.push(...table(['whole conversations', 'conversations', 'acted', 'share'], [
    ['calm: false takeovers (lower is better)', ft.conversations, ft.withTakeover, pct(ft.share)],
    ['  of which Taskmaster coffee orders', ft.bySet.taskmaster.conversations, ft.bySet.taskmaster.withTakeover, pct(ft.bySet.taskmaster.share)],
    ['  of which calls written for takeover', ft.bySet.written.conversations, ft.bySet.written.withTakeover, pct(ft.bySet.written.share)],
    ['asks for a person: handed off', pr.asks.conversations, pr.asks.handedOff, pct(pr.asks.share)],
    ['hard negatives: wrongly handed off', pr.hardNegatives.conversations, pr.hardNegatives.handedOff, pct(pr.hardNegatives.share)],
    ['upset: handed off by the 3rd upset turn', up.conversations, up.byThirdUpsetTurn, pct(up.byThirdUpsetTurnShare)],
  ]), '');
  out.push(...table(['false takeovers by rule', 'conversations', 'share'], Object.entries(ft.byRule).map(([k, v]) => [k, v.conversations, pct(v.share)])), '');
  out.push(...table(['false takeovers by kind', 'conversations', 'acted', 'share'], Object.entries(ft.byKind).map(([k, v]) => [k, v.conversations, v.withTakeover, pct(v.share)])), '');
  const a = up.atUpsetTurn;
  out.push(`upset callers handed off at upset turn: before the 1st ${a.beforeFirst}, 1st ${a.first}, 2nd ${a.second}, 3rd ${a.third}, later ${a.later}, never ${a.never}; in ${up.upsetTurnsNotHeard} a privacy pause kept upset turns from being heard`);
  const w = pr.asks.when;
  out.push(`requests for a person handed off: on the request ${w.onRequest}, later ${w.later}, before it ${w.beforeRequest}, never ${w.never}`, '');
  if (shown === 0) {
    out.push(`no examples on the ${r.split} split unless asked for: --examples N (do not read the test part while tuning)`);
    return `${out.join('\n')}\n`;
  }
  out.push('worst false takeovers on calm calls (rule, action, in how many conversations, the line, an example, the reason):', ...examples(ft.worst), '');
  out.push('hard negatives handed off or acted on:', ...examples(pr.hardNegatives.wrong), '');
  out.push('requests for a person missed:', ...pr.asks.missed.map((m) => `  "${clip(m.text)}"  [${m.kind} ${m.id}]`), '');
  out.push('upset callers not handed off by the 3rd upset turn (their 3rd upset line):', ...up.missed.map((m) => `  ${m.handedOffAt}: "${clip(m.text)}"  [${m.kind} ${m.id}]${m.upsetTurnsNotHeard ? ` (${m.upsetTurnsNotHeard} upset turns not heard: paused)` : ''}`), '');
  out.push('Rasa requests missed:', ...r.wantsHumanRasa.missed.map((t) => `  "${t}"`), '');
  return `${out.join('\n')}\n`;
}
