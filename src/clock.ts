// Wall-clock time in epoch milliseconds with sub-millisecond resolution, for the stage times of a
// decision (Date.now() rounds to whole milliseconds, too coarse for a pipeline that takes less).
import { performance } from 'node:perf_hooks';

export const now = (): number => performance.timeOrigin + performance.now();
