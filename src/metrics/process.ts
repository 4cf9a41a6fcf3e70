/** The process's own gauges: what a scrape reads of its memory. */
import type { Registry } from "./registry.ts";

export function registerProcessMetrics(registry: Registry): void {
  registry.gauge("comet_process_resident_memory_bytes", "Resident set size", () => process.memoryUsage().rss);
  registry.gauge("comet_process_heap_used_bytes", "JavaScript heap in use", () => process.memoryUsage().heapUsed);
}
