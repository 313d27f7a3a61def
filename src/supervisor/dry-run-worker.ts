// The worker thread of a dry run (started by dry-run-thread.ts): builds the classifier, runs dryRun() and posts
// the result. Whatever a candidate rule or a transcript costs, it costs it here, not on the live calls' event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { createClassifier } from '../classification/index.js';
import type { Assessment, Classifier, ClassifyInput } from '../types.js';
import { ClassifierFailedError, dryRun } from './dry-run.js';
import type { FromWorker, ToWorker, WorkerInput } from './dry-run-thread.js';

const port = parentPort!;
const input = workerData as WorkerInput;
const post = (m: FromWorker) => port.postMessage(m);

/** The classifier of the thread that started this one, asked turn by turn. */
function remoteClassifier(name: Classifier['name']): Classifier {
  let next = 0;
  const waiting = new Map<number, { resolve(a: Assessment): void; reject(e: Error): void }>();
  port.on('message', (m: ToWorker) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.type === 'assessment') w?.resolve(m.assessment);
    else w?.reject(new Error(m.message));
  });
  return {
    name,
    classify(c: ClassifyInput) {
      const id = next++;
      return new Promise<Assessment>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        post({ type: 'classify', id, input: c });
      });
    },
  };
}

const classifier: Classifier =
  'remote' in input.classifier ? remoteClassifier(input.classifier.remote) : createClassifier({ kind: input.classifier.kind, llm: input.classifier.llm });

try {
  const result = await dryRun({ turns: input.turns, rules: input.rules, call: input.call, classifier });
  post({ type: 'done', result });
} catch (err) {
  if (err instanceof ClassifierFailedError) post({ type: 'classifier-failed', classifier: err.classifier, message: err.message });
  else post({ type: 'failed', message: (err as Error)?.message ?? String(err) });
} finally {
  // The thread that started this one terminates it once it has the answer.
  await classifier.close?.();
}
