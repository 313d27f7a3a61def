// Classifies utterances from the command line: JSON lines in on stdin ({"id","text","context"?}), exactly one JSON
// line out per input on stdout. `npm run --silent classify -- --classifier local|llm|cascade` (--silent keeps npm's banner off stdout).

import { createInterface } from 'node:readline';
import { z } from 'zod';
import { createClassifier, type ClassifierOptions } from '../classification/index.js';
import type { Classifier, Turn } from '../types.js';

const USAGE = `usage: classify [--classifier local|llm|cascade]
Reads JSON lines {"id": "...", "text": "...", "context": ["earlier caller turn", {"track": "outbound", "text": "agent turn"}]}
and writes one JSON line per input: {"id","frustration","frustrated","wantsHuman","sensitive","sentiment","source","latencyMs"}.
A line that cannot be classified gives {"id", "error"} on stdout and a message on stderr. Blank lines are skipped.
Strings in context are caller turns. llm and cascade read OPENAI_API_KEY, OPENAI_BASE_URL, LLM_MODEL (default gpt-4o-mini),
LLM_TIMEOUT_MS (5000), LLM_MAX_RETRIES (1) and CASCADE_DEADLINE_MS (1500).`;

const TRACKS: Record<string, Turn['track']> = { inbound: 'inbound', caller: 'inbound', outbound: 'outbound', agent: 'outbound' };

const InputLine = z.object({
  id: z.union([z.string(), z.number()]),
  text: z.string(),
  context: z
    .array(z.union([z.string(), z.object({ track: z.enum(['inbound', 'outbound', 'caller', 'agent']), text: z.string() })]))
    .optional(),
});

function parseArgs(argv: string[]): ClassifierOptions['kind'] {
  let kind = 'local';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') {
      process.stderr.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a === '--classifier') kind = argv[++i] ?? '';
    else if (a.startsWith('--classifier=')) kind = a.slice('--classifier='.length);
    else fail(`unknown argument ${a}`);
  }
  if (kind !== 'local' && kind !== 'llm' && kind !== 'cascade') fail(`--classifier must be local, llm or cascade, not "${kind}"`);
  return kind as ClassifierOptions['kind'];
}

function fail(message: string): never {
  process.stderr.write(`classify: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) fail(`${name} must be a whole number of ms or retries, not "${raw}"`);
  return n;
}

function options(kind: ClassifierOptions['kind']): ClassifierOptions {
  const logger = { warn: (obj: object, msg?: string) => process.stderr.write(`classify: ${msg ?? ''} ${JSON.stringify(obj)}\n`) };
  if (kind === 'local') return { kind, logger };
  const apiKey = process.env.OPENAI_API_KEY || undefined;
  const baseURL = process.env.OPENAI_BASE_URL || undefined;
  if (!apiKey && !baseURL) fail(`--classifier ${kind} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server)`);
  return {
    kind,
    logger,
    llm: {
      apiKey,
      baseURL,
      model: process.env.LLM_MODEL || 'gpt-4o-mini',
      timeoutMs: intFromEnv('LLM_TIMEOUT_MS', 5000),
      maxRetries: intFromEnv('LLM_MAX_RETRIES', 1),
      deadlineMs: intFromEnv('CASCADE_DEADLINE_MS', 1500),
      // Every CLI line is a final utterance without a call, so neither limit applies; set them out of the way.
      debounceMs: 0,
      maxRequestsPerMinutePerCall: 1_000_000,
    },
  };
}

async function classifyLine(classifier: Classifier, line: string, n: number): Promise<object> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw Object.assign(new Error(`line ${n}: not JSON`), { id: null });
  }
  const parsed = InputLine.safeParse(raw);
  const id = (raw as { id?: unknown } | null)?.id ?? null;
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw Object.assign(new Error(`line ${n}: ${issue?.path.join('.') || 'input'}: ${issue?.message}`), { id });
  }
  const { text, context = [] } = parsed.data;
  const turns: Turn[] = context.map((c) => (typeof c === 'string' ? { track: 'inbound', text: c } : { track: TRACKS[c.track]!, text: c.text }));
  try {
    const a = await classifier.classify({ text, track: 'inbound', context: turns, final: true });
    return {
      id: parsed.data.id,
      frustration: a.frustration,
      frustrated: a.frustration >= 0.5,
      wantsHuman: a.wantsHuman,
      sensitive: a.sensitive,
      sentiment: a.sentiment,
      source: a.source,
      latencyMs: a.latencyMs,
      ...(a.fallback ? { fallback: a.fallback } : {}),
    };
  } catch (err) {
    throw Object.assign(new Error(`line ${n}: ${err instanceof Error ? err.message : String(err)}`), { id: parsed.data.id });
  }
}

async function main(): Promise<void> {
  const kind = parseArgs(process.argv.slice(2));
  const classifier = createClassifier(options(kind));
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    let out: object;
    try {
      out = await classifyLine(classifier, line, n);
    } catch (err) {
      const e = err as Error & { id?: unknown };
      process.stderr.write(`classify: ${e.message}\n`);
      out = { id: e.id ?? null, error: e.message };
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
  await classifier.close?.();
}

main().catch((err: unknown) => {
  process.stderr.write(`classify: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
