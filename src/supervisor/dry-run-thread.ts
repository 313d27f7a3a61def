// Runs the dry run (dryRun(), in dry-run-worker.ts) in a worker thread with a time limit, so that a slow candidate
// rule or a long transcript never holds up the event loop that decides on live calls. Over its limit, the worker is
// terminated and the supervisor is told what to do.
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ClassifierOptions } from '../classification/index.js';
import type { Assessment, Classifier, ClassifyInput } from '../types.js';
import { ClassifierFailedError, type DryRunInput, type DryRunResult } from './dry-run.js';

/** What the worker needs to build the configured classifier itself (plain data: it crosses threads). */
export type ClassifierSettings = Pick<ClassifierOptions, 'kind' | 'llm'>;

export interface DryRunThreadsOptions {
  /** A dry run that takes longer is stopped (DRY_RUN_TIMEOUT_MS). */
  timeoutMs: number;
  /**
   * Settings: the worker builds its own classifier from them (local, llm or cascade), so classifying runs off the
   * event loop too. An object (an embedding application's classifier, which cannot cross threads): the worker asks
   * this thread for each caller turn's assessment, one at a time, and the rules still run in the worker. The object
   * is the one the live pipeline already runs on this event loop, so this adds no kind of work the loop does not do
   * for a live call, and the time limit still applies to the whole replay.
   */
  classifier: ClassifierSettings | Classifier;
  /** Dry runs at once; more are refused with DryRunBusyError (each is a thread competing with live calls for a core). */
  maxConcurrent?: number;
  /** Heap of a worker (MB); a dry run that needs more is stopped. */
  maxHeapMb?: number;
}

const DRY_RUN_THREAD_DEFAULTS = { maxConcurrent: 2, maxHeapMb: 256 };

export class DryRunTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(
      `the dry run took longer than ${timeoutMs} ms (DRY_RUN_TIMEOUT_MS) and was stopped: replay fewer or shorter turns, or simplify the candidate rules (or raise DRY_RUN_TIMEOUT_MS)`,
    );
    this.name = 'DryRunTimeoutError';
  }
}

export class DryRunBusyError extends Error {
  constructor(readonly running: number) {
    super(`${running} dry runs are running already: try again when one has finished`);
    this.name = 'DryRunBusyError';
  }
}

export class DryRunStoppedError extends Error {
  constructor() {
    super('the service is shutting down and stopped the dry run: try again in a moment');
    this.name = 'DryRunStoppedError';
  }
}

export class DryRunFailedError extends Error {
  constructor(reason: string) {
    super(`the dry run stopped: ${reason}; replay fewer or shorter turns, or simplify the candidate rules`);
    this.name = 'DryRunFailedError';
  }
}

/** Messages from the worker. */
export type FromWorker =
  | { type: 'classify'; id: number; input: ClassifyInput }
  | { type: 'done'; result: DryRunResult }
  | { type: 'classifier-failed'; classifier: string; message: string }
  | { type: 'failed'; message: string };

/** Messages to the worker. */
export type ToWorker = { type: 'assessment'; id: number; assessment: Assessment } | { type: 'classify-failed'; id: number; message: string };

/** What the worker is started with. */
export interface WorkerInput {
  turns: DryRunInput['turns'];
  rules: DryRunInput['rules'];
  call: DryRunInput['call'];
  /** Settings to build the classifier from, or the name of the one this thread runs for it. */
  classifier: ClassifierSettings | { remote: Classifier['name'] };
}

// The worker is a sibling of this file: .js when compiled; .ts when the service runs from source through tsx,
// whose loader a worker does not inherit, so the worker then starts by importing it through tsx's API.
const here = fileURLToPath(import.meta.url);
const workerUrl = new URL(`./dry-run-worker${extname(here)}`, import.meta.url);
// tsx's ESM API, found from this package (its `require` entry is a sibling of the ESM one); looked up only when
// running from source, as the compiled service (`npm start`) runs without the dev dependencies.
const tsxApi = () => pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
const workerEntry: [URL | string, { eval?: boolean }] =
  extname(here) === '.ts'
    ? [
        `import(${JSON.stringify(tsxApi())})` +
          `.then((tsx) => tsx.tsImport(${JSON.stringify(workerUrl.href)}, ${JSON.stringify(import.meta.url)}))`,
        { eval: true },
      ]
    : [workerUrl, {}];

export class DryRunThreads {
  #running = 0;
  /** Stops the dry runs in progress (on close). */
  readonly #stops = new Set<() => void>();
  readonly #opts: Required<DryRunThreadsOptions>;

  constructor(opts: DryRunThreadsOptions) {
    this.#opts = { ...DRY_RUN_THREAD_DEFAULTS, ...opts };
  }

  /** Dry runs in progress. */
  get running(): number {
    return this.#running;
  }

  /** Terminates every dry run in progress (each rejects with DryRunStoppedError), so that shutting down waits for none. */
  close(): void {
    for (const stop of this.#stops) stop();
  }

  /**
   * Replays `input` in a worker. Rejects with DryRunTimeoutError (over the time limit), DryRunBusyError (too many at
   * once), ClassifierFailedError, or DryRunFailedError (the worker died, e.g. out of memory).
   */
  async run(input: Omit<DryRunInput, 'classifier'>): Promise<DryRunResult> {
    if (this.#running >= this.#opts.maxConcurrent) throw new DryRunBusyError(this.#running);
    this.#running++;
    try {
      return await this.#inWorker(input);
    } finally {
      this.#running--;
    }
  }

  #inWorker(input: Omit<DryRunInput, 'classifier'>): Promise<DryRunResult> {
    const { classifier, timeoutMs, maxHeapMb } = this.#opts;
    const local = isClassifier(classifier) ? classifier : undefined;
    const workerData: WorkerInput = {
      turns: input.turns,
      rules: input.rules,
      call: input.call,
      classifier: local ? { remote: local.name } : { kind: (classifier as ClassifierSettings).kind, llm: (classifier as ClassifierSettings).llm },
    };
    const worker = new Worker(workerEntry[0], {
      ...workerEntry[1],
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: maxHeapMb },
      stdout: false,
      stderr: false,
    });
    return new Promise<DryRunResult>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#stops.delete(stop);
        void worker.terminate();
        fn();
      };
      const stop = () => settle(() => reject(new DryRunStoppedError()));
      this.#stops.add(stop);
      const timer = setTimeout(() => settle(() => reject(new DryRunTimeoutError(timeoutMs))), timeoutMs);
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'done') settle(() => resolve(m.result));
        else if (m.type === 'classifier-failed') settle(() => reject(Object.assign(new ClassifierFailedError(m.classifier, undefined), { message: m.message })));
        else if (m.type === 'failed') settle(() => reject(new DryRunFailedError(m.message)));
        else if (m.type === 'classify' && local) {
          local.classify(m.input).then(
            (assessment) => !settled && worker.postMessage({ type: 'assessment', id: m.id, assessment } satisfies ToWorker),
            (err: unknown) => !settled && worker.postMessage({ type: 'classify-failed', id: m.id, message: (err as Error)?.message ?? String(err) } satisfies ToWorker),
          );
        }
      });
      worker.on('error', (err: Error & { code?: string }) =>
        settle(() => reject(new DryRunFailedError(err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `it needed more than ${maxHeapMb} MB of memory` : err.message))),
      );
      worker.on('exit', (code) => settle(() => reject(new DryRunFailedError(`its thread exited (code ${code}) before it finished`))));
    });
  }
}

function isClassifier(c: ClassifierSettings | Classifier): c is Classifier {
  return typeof (c as Classifier).classify === 'function';
}
