/**
 * Benchmark: RFC 8785 canonicalization of event-shaped objects (~250 bytes of JSON each),
 * beside JSON.stringify of the same objects in the same run. JSON.stringify is the lower
 * bound, not a peer: it neither sorts keys nor checks for lone surrogates, non-finite
 * numbers or non-plain objects, and its output is not canonical.
 *
 * The writer canonicalizes every appended event, so this throughput bounds appends/s on
 * one core before hashing and I/O. Target: ≥ 700k events/s.
 *
 * Run standalone: `npx tsc -p tsconfig.build.json && node dist/bench/canonical.js`.
 */
import { pathToFileURL } from 'node:url';
import { canonicalize } from '../src/canonical/json.js';
import { isQuick } from './environment.js';
import type { BenchResult, BenchTarget } from './result.js';
import { findResult } from './result.js';

const scenario = 'canonicalize/event-250B';
/** Distinct objects cycled through, so no single object's shape or strings stay hot. */
const eventCount = 1024;
const roundMs = isQuick() ? 150 : 400;
const rounds = isQuick() ? 2 : 5;
const targetOpsPerS = 700_000;

export const about = `RFC 8785 canonicalization of ~250-byte event objects (${eventCount} distinct, cycled), median of ${rounds} alternating rounds of ${roundMs} ms, beside JSON.stringify (a lower bound, not a peer: it neither sorts keys nor checks input).`;

/** An event as a module's decide would hand it to the writer: keys in insertion order. */
function makeEvent(seq: number): Record<string, unknown> {
  const from = `acc-${String(seq % 997).padStart(6, '0')}`;
  const to = `acc-${String((seq * 7) % 991).padStart(6, '0')}`;
  return {
    seq,
    ts: new Date(Date.UTC(2026, 10, 22, 10, 0, 0, seq)).toISOString(),
    type: 'ledger.transfer',
    v: 1,
    data: { id: `tr-${seq}`, from, to, amount: String(1000 + ((seq * 37) % 100_000)) },
    meta: { actor: 'alice' },
    prev: (seq * 0x9e3779b1).toString(16).padStart(8, '0').repeat(8).slice(0, 64),
  };
}

/**
 * Operations per second of `fn` over `events` for about `durationMs`. The output is written
 * into a Buffer so that both contenders pay for a flat string (string concatenation builds
 * ropes that are flattened only when used), as the writer does before hashing.
 */
function measure(fn: (value: unknown) => string, events: readonly unknown[], durationMs: number): number {
  const sink = Buffer.alloc(4096);
  let ops = 0;
  let bytes = 0;
  const start = performance.now();
  let now = start;
  while (now - start < durationMs) {
    for (let i = 0; i < 1024; i++) {
      bytes += sink.write(fn(events[(ops + i) % events.length]), 'latin1');
    }
    ops += 1024;
    now = performance.now();
  }
  if (bytes === 0) throw new Error('benchmark produced no output');
  return (ops * 1000) / (now - start);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Measures both contenders in alternating rounds and returns the median of each. */
export async function run(): Promise<BenchResult[]> {
  const events = Array.from({ length: eventCount }, (_, i) => makeEvent(1_000_000 + i));
  const stringify = (value: unknown): string => JSON.stringify(value);
  // Warm-up: let both reach their optimised tiers before timing.
  measure(canonicalize, events, roundMs);
  measure(stringify, events, roundMs);
  const canonicalOps: number[] = [];
  const stringifyOps: number[] = [];
  for (let r = 0; r < rounds; r++) {
    canonicalOps.push(measure(canonicalize, events, roundMs));
    stringifyOps.push(measure(stringify, events, roundMs));
    // Yield between rounds so a runner's timers and I/O are not starved.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return [
    { scenario, name: 'stele canonicalize', value: Math.round(median(canonicalOps)), unit: 'ops/s' },
    { scenario, name: 'JSON.stringify', value: Math.round(median(stringifyOps)), unit: 'ops/s', baseline: true },
  ];
}

export function targets(results: readonly BenchResult[]): BenchTarget[] {
  const ops = findResult(results, scenario, 'stele canonicalize', 'ops/s');
  if (ops === undefined) return [];
  return [{ scenario, target: `≥ ${targetOpsPerS.toLocaleString('en-US')} events/s canonicalized on one core`, measured: `${ops.toLocaleString('en-US')} events/s`, met: ops >= targetOpsPerS }];
}

/** Average size in bytes of the benchmark's events, printed so the scenario name stays honest. */
function averageEventBytes(): number {
  let total = 0;
  for (let i = 0; i < eventCount; i++) total += Buffer.byteLength(canonicalize(makeEvent(1_000_000 + i)));
  return Math.round(total / eventCount);
}

async function main(): Promise<void> {
  const results = await run();
  const width = Math.max(...results.map((r) => r.name.length));
  console.log(`${scenario} (${averageEventBytes()} bytes per event, median of ${rounds} rounds)`);
  for (const r of results) {
    const value = r.value.toLocaleString('en-US').padStart(11);
    console.log(`  ${r.name.padEnd(width)}  ${value} ${r.unit}${r.baseline === true ? '  (baseline)' : ''}`);
  }
  const [stele, baseline] = results;
  if (stele !== undefined && baseline !== undefined) {
    console.log(`  canonicalize / JSON.stringify = ${(stele.value / baseline.value).toFixed(2)}`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
