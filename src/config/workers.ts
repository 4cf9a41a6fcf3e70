/** The `workers` key read: how many processes `comet serve` runs on this host. */
import { availableParallelism } from "node:os";

/** `workers` as configured: 0 is one per CPU this process may use. */
export function workerCount(configured: number): number {
  return configured === 0 ? availableParallelism() : configured;
}
