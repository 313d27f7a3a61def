// What the running service writes to its store, captured from real calls: the Twilio emulator plays scripted
// callers through the whole pipeline (local classifier, default rules, the action executor) into a store that
// records every write. The store suites replay these instead of hand-made values: real clock times (fractional
// milliseconds), real sizes, audit entries shaped as the monitor and the executor make them.
import { startLocalStack } from '../../src/simulator/local-stack.js';
import { loadScenarios } from '../../src/simulator/scenario.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { AuditEntry, CallDataWrite, CallRecord, Store, TranscriptLine } from '../../src/store/types.js';

export type ServiceWrite =
  | { op: 'saveCall'; call: CallRecord }
  | { op: 'appendTranscript'; line: TranscriptLine }
  | { op: 'appendAudit'; entry: AuditEntry };

/** A MemoryStore that also keeps a copy of every call-data write, in the order they were made. */
export class RecordingStore extends MemoryStore {
  readonly writes: ServiceWrite[] = [];
  override saveCall(call: CallRecord): Promise<void> {
    this.writes.push({ op: 'saveCall', call: structuredClone(call) });
    return super.saveCall(call);
  }
  override appendTranscript(line: TranscriptLine): Promise<void> {
    this.writes.push({ op: 'appendTranscript', line: structuredClone(line) });
    return super.appendTranscript(line);
  }
  override appendAudit(entry: AuditEntry): Promise<void> {
    this.writes.push({ op: 'appendAudit', entry: structuredClone(entry) });
    return super.appendAudit(entry);
  }
}

/** Plays a handoff (frustrated caller) and a privacy pause (card number) on the default rules; returns the writes. */
export async function captureServiceWrites(): Promise<ServiceWrite[]> {
  const scenarios = new Map((await loadScenarios()).map((s) => [s.name, s]));
  const store = new RecordingStore();
  const stack = await startLocalStack({ speed: 4, env: { LOG_LEVEL: 'silent', CLASSIFIER: 'local' }, parts: { store } });
  try {
    const calls = ['frustrated-caller', 'reads-card-number'].map((name) => stack.emulator.placeCall(scenarios.get(name)!));
    await Promise.all(calls.map((c) => c.done));
    await stack.service.monitor.settle();
  } finally {
    await stack.close();
  }
  return store.writes;
}

/** Makes one write on `store`, as the service made it. */
export function replay(store: Store, w: ServiceWrite): Promise<void> {
  if (w.op === 'saveCall') return store.saveCall(w.call);
  if (w.op === 'appendTranscript') return store.appendTranscript(w.line);
  return store.appendAudit(w.entry);
}

/** What a store keeps is JSON: compare through it (undefined fields dropped, -0 is 0). */
export const asStored = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** JSON with object keys sorted: equal values give equal strings whatever order their keys were set in. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

/** Oldest first, as a store returns a call's lines and entries: by time, writes of the same time in the order made. */
export const byTime = <T extends { at: number }>(list: T[]): T[] =>
  list.map((x, i) => ({ x, i })).sort((a, b) => a.x.at - b.x.at || a.i - b.i).map(({ x }) => x);

/** The same write in the shape Store.writeAll takes. */
export function asCallData(w: ServiceWrite): CallDataWrite {
  if (w.op === 'saveCall') return { op: 'call', call: w.call };
  if (w.op === 'appendTranscript') return { op: 'transcript', line: w.line };
  return { op: 'audit', entry: w.entry };
}
