/**
 * One clock for every bench process: microseconds since the epoch, with sub-millisecond
 * resolution. performance.timeOrigin is read from the wall clock once at process start and
 * performance.now() is monotonic after it, so two processes on one machine agree to a few µs —
 * enough to measure publish-to-receive latency across processes.
 */
export const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
