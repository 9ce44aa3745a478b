/**
 * The shapes every benchmark in `bench/` shares, so that `bench/run.ts` can collect the
 * results of all scenarios and generate `docs/benchmarks.md` from data, never by hand.
 *
 * A scenario is one file exporting `run()`; it may also export `about` (one sentence for the
 * generated document) and `targets()` (the figures the issue asks for, checked against the
 * results of the same run).
 */
export interface BenchResult {
  /** What is measured, e.g. `canonicalize/event-250B`; stele and its baseline share it. */
  scenario: string;
  /** Who is measured, e.g. `stele canonicalize` or `JSON.stringify`. */
  name: string;
  value: number;
  /** Unit of `value`, e.g. `ops/s`, `MB/s`, `µs p50`. Results of one name are shown side by side, one column per unit. */
  unit: string;
  /** True for the peer or lower bound stele is compared against in the same run. */
  baseline?: boolean;
  /** What a reader must know to read the figure honestly (e.g. "does not fsync"). */
  note?: string;
}

/** A figure requested by an issue, and whether this run met it. */
export interface BenchTarget {
  scenario: string;
  /** The requirement, e.g. `≥ 150,000 durable events/s at 256 appenders`. */
  target: string;
  /** What this run measured, e.g. `162,000 events/s`. */
  measured: string;
  met: boolean;
}

/** What a scenario file exports. */
export interface BenchScenario {
  run(): Promise<BenchResult[]>;
  about?: string;
  targets?(results: readonly BenchResult[]): BenchTarget[];
}

/** The value of the result `name`/`unit` in `scenario`, if it was measured. */
export function findResult(results: readonly BenchResult[], scenario: string, name: string, unit: string): number | undefined {
  return results.find((r) => r.scenario === scenario && r.name === name && r.unit === unit)?.value;
}
