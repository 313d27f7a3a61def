// Wall-clock time in epoch milliseconds with sub-millisecond resolution, for the stage times of a
// decision (Date.now() rounds to whole milliseconds, too coarse for a pipeline that takes less).
// The global `performance`, the one a virtual clock (vi.useFakeTimers) replaces along with Date.
export const now = (): number => performance.timeOrigin + performance.now();
