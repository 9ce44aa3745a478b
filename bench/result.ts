/**
 * The one result shape every benchmark in `bench/` returns from its `run()`, so a runner can
 * collect them all and generate `docs/benchmarks.md` from data, never by hand.
 */
export interface BenchResult {
  /** What is measured, e.g. `canonicalize/event-250B`; stele and its baseline share it. */
  scenario: string;
  /** Who is measured, e.g. `stele canonicalize` or `JSON.stringify`. */
  name: string;
  value: number;
  /** Unit of `value`, e.g. `ops/s`, `MB/s`, `ms`. */
  unit: string;
  /** True for the peer or lower bound stele is compared against in the same run. */
  baseline?: boolean;
}
