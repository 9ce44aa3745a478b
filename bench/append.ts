/**
 * Benchmark: durable append throughput and ack latency (issue #2).
 *
 * N concurrent appenders (1, 16, 256) each run `await writer.append(kv.put)` in a loop on a
 * fresh data directory for a fixed time after a warm-up; an ack means the event is durable
 * (group commit: one write + one fdatasync per batch). Measured: acks/s, and the p50/p99 of
 * the time from calling `append` to its ack resolving, in µs. Every contender runs once per
 * round, rounds alternate (3 in full mode), and the figures are pooled over the rounds.
 *
 * Beside it, in the same run and on the same disk:
 * - the raw floor: `fs.writeSync` + `fs.fdatasyncSync` per event, with the same line bytes
 *   (the latency a single appender can never beat), and the same with the fdatasync made
 *   through libuv's thread pool (`fs.fdatasync`), as any writer that keeps its event loop
 *   free must;
 * - raw per batch of 1,000 events: one writeSync + one fdatasyncSync for 1,000 lines (about
 *   the most a group commit can get from the disk at that batch size);
 * - Hypercore 11 appending the same bytes (one stele line per block) at 1 and 256 concurrent
 *   appenders. Hypercore does not fsync by default: its append resolves once its RocksDB
 *   write is done, without syncing the WAL, so its figures are not durable ones.
 *
 * Targets: ≥ 150,000 durable events/s at 256 appenders on 2 cores; single-appender p50 ack
 * latency ≤ 1.5 × one raw write + fdatasync.
 *
 * Run standalone: `npx tsc -p tsconfig.build.json && node dist/bench/append.js`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { initDataDir, openWriter } from '../src/index.js';
import type { AppendInput } from '../src/index.js';
import { fileSystemOf, isQuick, makeScratch, removeScratch, scratchRoot, yieldToLoop } from './environment.js';
import { printResults } from './report.js';
import type { BenchResult, BenchTarget } from './result.js';
import { findResult } from './result.js';
import { percentile, Samples } from './stats.js';

const scenario = 'append/durable-250B';
const quick = isQuick();
const warmupMs = quick ? 300 : 1000;
const phaseMs = quick ? 1000 : 3000;
/**
 * Every contender runs once per round and rounds alternate, so that a slow spell of the
 * (shared, virtual) disk hits all contenders alike; figures are pooled over the rounds.
 */
const rounds = quick ? 1 : 3;
const appenderCounts = [1, 16, 256] as const;
/** Hypercore serialises appends itself; the two ends show whether concurrency helps it. */
const hypercoreAppenderCounts = [1, 256] as const;
const rawBatchEvents = 1000;
/** Distinct inputs cycled through by the appenders. */
const inputPoolSize = 4096;
/** With a 13-character key and a 6- or 7-digit seq, a kv.put line is ~250 bytes. */
const valueChars = 67;
/** An fdatasync faster than this is not a flush to stable media but an ack from a cache (the figures then say so). */
const cachedFlushUsMax = 200;

const targetEventsPerS = 150_000;
const targetAppenders = 256;
const targetLatencyRatioMax = 1.5;

export const about =
  'Durable appends: N concurrent appenders each awaiting `writer.append(kv.put)` in a loop (an ack means written and fdatasynced; group commit), ' +
  `beside a raw write + fdatasync per event, a raw write + fdatasync per ${rawBatchEvents.toLocaleString('en-US')} events, and Hypercore 11 appending the same bytes. ` +
  `Each contender runs ${rounds} timed phase${rounds === 1 ? '' : 's'} of ${phaseMs / 1000} s, each after a ${warmupMs / 1000} s warm-up, in alternating rounds; figures are pooled over the phases. ` +
  'Latency: from calling append to its ack, of the appends both started and acknowledged inside a timed phase.';

const names = {
  stele: (n: number) => `stele append, ${n} appender${n === 1 ? '' : 's'}`,
  rawEvent: 'raw writeSync + fdatasyncSync per event',
  rawEventAsync: 'raw writeSync + async fs.fdatasync per event',
  rawBatch: `raw writeSync + fdatasyncSync per ${rawBatchEvents.toLocaleString('en-US')} events`,
  hypercore: (n: number) => `Hypercore 11 append, ${n} appender${n === 1 ? '' : 's'}`,
} as const;

const units = { rate: 'events/s', p50: 'µs p50', p99: 'µs p99' } as const;

/** One timed phase. */
interface Measured {
  events: number;
  ms: number;
  /** Ack latencies in µs (unsorted); empty when per-event latency means nothing (raw batches). */
  latenciesUs: Float64Array;
}

function makeInputs(): AppendInput[] {
  return Array.from({ length: inputPoolSize }, (_, i) => {
    const seed = (Math.imul(i + 1, 0x9e3779b1) >>> 0).toString(36);
    return { type: 'kv.put', data: { key: `k${String(i).padStart(12, '0')}`, value: seed.repeat(Math.ceil(valueChars / seed.length)).slice(0, valueChars) } };
  });
}

/**
 * Runs `appenders` loops of `await appendOne(i, n)` through a warm-up and a timed phase.
 * Throughput counts the acks received during the timed phase; latencies are those of the
 * appends both started and acknowledged in it.
 */
async function drive(appenders: number, appendOne: (appender: number, n: number) => Promise<unknown>): Promise<Measured> {
  let phase: 'warmup' | 'timed' | 'stop' = 'warmup';
  let acked = 0;
  const latencies = new Samples();
  const loop = async (appender: number): Promise<void> => {
    for (let n = 0; phase !== 'stop'; n++) {
      const startedTimed = phase === 'timed';
      const t0 = performance.now();
      await appendOne(appender, n);
      const t1 = performance.now();
      if (phase === 'timed') {
        acked++;
        if (startedTimed) latencies.push((t1 - t0) * 1000);
      }
    }
  };
  const done = Promise.all(Array.from({ length: appenders }, (_, i) => loop(i)));
  await sleep(warmupMs);
  phase = 'timed';
  const timedStart = performance.now();
  await sleep(phaseMs);
  phase = 'stop';
  const timedEnd = performance.now();
  await done;
  return { events: acked, ms: timedEnd - timedStart, latenciesUs: latencies.toArray() };
}

function sleep(ms: number): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, ms));
}

/** The phases of one contender pooled: total events over total time, percentiles over all samples. */
interface Pooled {
  eventsPerS: number;
  /** Sorted; empty when the contender has no per-event latency. */
  latenciesUs: Float64Array;
}

function pool(phases: readonly Measured[]): Pooled {
  const events = phases.reduce((n, m) => n + m.events, 0);
  const ms = phases.reduce((n, m) => n + m.ms, 0);
  const latenciesUs = new Float64Array(phases.reduce((n, m) => n + m.latenciesUs.length, 0));
  let at = 0;
  for (const m of phases) {
    latenciesUs.set(m.latenciesUs, at);
    at += m.latenciesUs.length;
  }
  return { eventsPerS: (events * 1000) / ms, latenciesUs: latenciesUs.sort() };
}

function poolResults(name: string, p: Pooled, extra: Partial<BenchResult>): BenchResult[] {
  const results: BenchResult[] = [{ scenario, name, value: Math.round(p.eventsPerS), unit: units.rate, ...extra }];
  if (p.latenciesUs.length > 0) {
    results.push(
      { scenario, name, value: Math.round(percentile(p.latenciesUs, 50)), unit: units.p50, ...extra },
      { scenario, name, value: Math.round(percentile(p.latenciesUs, 99)), unit: units.p99, ...extra },
    );
  }
  return results;
}

interface SteleLog {
  /** Average bytes of a line in the log file, without its newline. */
  lineBytes: number;
  /** Up to `rawBatchEvents` lines (with their newline) from the end of the log, for the raw baselines. */
  tailLines: Buffer[];
}

async function measureStele(appenders: number, inputs: readonly AppendInput[], onLog: (log: SteleLog) => void): Promise<Measured> {
  const dir = makeScratch(`append-${appenders}`);
  try {
    initDataDir(dir);
    const opened = await openWriter(dir);
    let measured: Measured;
    try {
      const writer = opened.writer;
      measured = await drive(appenders, (appender, n) => writer.append(inputs[(appender * 7919 + n) % inputs.length]!));
    } finally {
      await opened.close();
    }
    const size = opened.writer.status().size;
    const fileBytes = fs.statSync(opened.paths.log).size;
    onLog({ lineBytes: (fileBytes - size) / size, tailLines: readTailLines(opened.paths.log, rawBatchEvents) });
    return measured;
  } finally {
    removeScratch(dir);
  }
}

/** The last `count` complete lines of `file` (each with its newline), fewer if the file has fewer. */
function readTailLines(file: string, count: number): Buffer[] {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, count * 1024);
    const buf = Buffer.alloc(length);
    fs.readSync(fd, buf, 0, length, size - length);
    const lines: Buffer[] = [];
    let end = buf.length;
    while (lines.length < count) {
      const start = buf.lastIndexOf(10, end - 2) + 1;
      // A line cut by the read window is not whole: stop before it unless the window is the file.
      if (start === 0 && length < size) break;
      lines.push(Buffer.from(buf.subarray(start, end)));
      if (start === 0) break;
      end = start;
    }
    return lines.reverse();
  } finally {
    fs.closeSync(fd);
  }
}

const fdatasyncAsync = promisify(fs.fdatasync);

/**
 * The raw floor: one write + one fdatasync per event on one file, with the fdatasync either
 * synchronous (the floor the issue names) or through libuv's thread pool as the writer does
 * (the difference is the cost of that hop, which no async writer avoids).
 */
async function measureRawPerEvent(lines: readonly Buffer[], asyncSync: boolean): Promise<Measured> {
  const dir = makeScratch('append-raw');
  const fd = fs.openSync(path.join(dir, 'events.ndjson'), 'w');
  try {
    let position = 0;
    let events = 0;
    const phase = async (durationMs: number, latencies: Samples | undefined): Promise<number> => {
      const start = performance.now();
      let now = start;
      while (now - start < durationMs) {
        const line = lines[events++ % lines.length]!;
        const t0 = now;
        fs.writeSync(fd, line, 0, line.length, position);
        if (asyncSync) await fdatasyncAsync(fd);
        else fs.fdatasyncSync(fd);
        position += line.length;
        now = performance.now();
        latencies?.push((now - t0) * 1000);
      }
      return now - start;
    };
    await phase(warmupMs, undefined);
    const latencies = new Samples();
    const ms = await phase(phaseMs, latencies);
    return { events: latencies.length, ms, latenciesUs: latencies.toArray() };
  } finally {
    fs.closeSync(fd);
    removeScratch(dir);
  }
}

/** One write + one fdatasync per `rawBatchEvents` lines. */
function measureRawPerBatch(lines: readonly Buffer[]): Measured {
  const batch = Buffer.concat(Array.from({ length: rawBatchEvents }, (_, i) => lines[i % lines.length]!));
  const dir = makeScratch('append-raw-batch');
  const fd = fs.openSync(path.join(dir, 'events.ndjson'), 'w');
  try {
    let position = 0;
    const phase = (durationMs: number): Measured => {
      let batches = 0;
      const start = performance.now();
      let now = start;
      while (now - start < durationMs) {
        fs.writeSync(fd, batch, 0, batch.length, position);
        fs.fdatasyncSync(fd);
        position += batch.length;
        batches++;
        now = performance.now();
      }
      return { events: batches * rawBatchEvents, ms: now - start, latenciesUs: new Float64Array(0) };
    };
    phase(warmupMs);
    return phase(phaseMs);
  } finally {
    fs.closeSync(fd);
    removeScratch(dir);
  }
}

type HypercoreConstructor = typeof import('hypercore').default;

/** Hypercore, or why it could not be loaded (the scenario then runs without it). */
async function loadHypercore(): Promise<HypercoreConstructor | string> {
  try {
    return (await import('hypercore')).default;
  } catch (err) {
    return `Hypercore could not be loaded (${(err as Error).message.split('\n')[0]}); install the devDependencies`;
  }
}

async function measureHypercore(Hypercore: HypercoreConstructor, appenders: number, blocks: readonly Buffer[]): Promise<Measured> {
  const dir = makeScratch(`append-hypercore-${appenders}`);
  try {
    const core = new Hypercore(path.join(dir, 'core'));
    await core.ready();
    try {
      return await drive(appenders, (appender, n) => core.append(blocks[(appender * 7919 + n) % blocks.length]!));
    } finally {
      await core.close();
    }
  } finally {
    removeScratch(dir);
  }
}

function progress(message: string): void {
  process.stderr.write(`  append: ${message}\n`);
}

function describe(m: Measured): string {
  const sorted = Float64Array.from(m.latenciesUs).sort();
  const latency = sorted.length === 0 ? '' : `, p50 ${Math.round(percentile(sorted, 50))} µs, p99 ${Math.round(percentile(sorted, 99))} µs`;
  return `${Math.round((m.events * 1000) / m.ms).toLocaleString('en-US')} events/s${latency}`;
}

interface Contender {
  name: string;
  baseline: boolean;
  measure: () => Promise<Measured> | Measured;
  phases: Measured[];
}

export async function run(): Promise<BenchResult[]> {
  const fsInfo = fileSystemOf(scratchRoot());
  progress(`data directories under ${scratchRoot()}: ${fsInfo.description}${fsInfo.sameDeviceAsRepo ? ', the disk of the repository' : ', NOT the disk of the repository'}`);
  const inputs = makeInputs();
  // The raw baselines write the very lines stele wrote: taken from the first stele log.
  let lines: Buffer[] = [];
  const lineBytes: number[] = [];
  const onLog = (log: SteleLog): void => {
    lineBytes.push(log.lineBytes);
    if (lines.length === 0) lines = log.tailLines;
  };
  const stele = (n: number): Contender => ({ name: names.stele(n), baseline: false, measure: () => measureStele(n, inputs, onLog), phases: [] });
  const contenders: Contender[] = [
    // The single appender runs right beside the raw floor it is compared with.
    stele(1),
    { name: names.rawEvent, baseline: true, measure: () => measureRawPerEvent(lines, false), phases: [] },
    { name: names.rawEventAsync, baseline: true, measure: () => measureRawPerEvent(lines, true), phases: [] },
    ...appenderCounts.filter((n) => n !== 1).map(stele),
    { name: names.rawBatch, baseline: true, measure: () => measureRawPerBatch(lines), phases: [] },
  ];
  const Hypercore = await loadHypercore();
  if (typeof Hypercore === 'string') progress(Hypercore);
  else {
    for (const n of hypercoreAppenderCounts) contenders.push({ name: names.hypercore(n), baseline: true, measure: () => measureHypercore(Hypercore, n, lines), phases: [] });
  }

  for (let r = 0; r < rounds; r++) {
    for (const c of contenders) {
      const m = await c.measure();
      c.phases.push(m);
      progress(`round ${r + 1}/${rounds}, ${c.name}: ${describe(m)}`);
      await yieldToLoop();
    }
  }

  const rawLineBytes = lines.reduce((n, l) => n + l.length - 1, 0) / lines.length;
  const rawEvent = pool(contenders.find((c) => c.name === names.rawEvent)!.phases);
  const rawP50Us = percentile(rawEvent.latenciesUs, 50);
  const notes: Record<string, string> = {
    stele: `kv.put lines of ${Math.min(...lineBytes).toFixed(1)}–${Math.max(...lineBytes).toFixed(1)} bytes + newline on average (longer seqs in longer runs), measured from each log file`,
    raw:
      `the same bytes: ${lines.length} lines taken from stele's log, ${rawLineBytes.toFixed(1)} bytes + newline on average` +
      (rawP50Us < cachedFlushUsMax
        ? `; a write + fdatasync p50 of ${Math.round(rawP50Us)} µs is far below a flush to stable media: this (virtual) disk acknowledges fdatasync from a cache, so a disk with a real flush will show lower rates and higher latencies`
        : ''),
    hypercore: 'does not fsync by default (its RocksDB WAL is written, not synced, before append resolves): not durable figures; one block = one stele line',
  };
  return contenders.flatMap((c) => {
    const note = c.name.startsWith('stele') ? notes.stele : c.name.startsWith('Hypercore') ? notes.hypercore : notes.raw;
    return poolResults(c.name, pool(c.phases), { note, ...(c.baseline ? { baseline: true } : {}) });
  });
}

export function targets(results: readonly BenchResult[]): BenchTarget[] {
  const out: BenchTarget[] = [];
  const rate = findResult(results, scenario, names.stele(targetAppenders), units.rate);
  if (rate !== undefined) {
    out.push({
      scenario,
      target: `≥ ${targetEventsPerS.toLocaleString('en-US')} durable events/s at ${targetAppenders} appenders (on 2 cores)`,
      measured: `${rate.toLocaleString('en-US')} events/s`,
      met: rate >= targetEventsPerS,
    });
  }
  const steleP50 = findResult(results, scenario, names.stele(1), units.p50);
  const rawP50 = findResult(results, scenario, names.rawEvent, units.p50);
  if (steleP50 !== undefined && rawP50 !== undefined) {
    const ratio = steleP50 / rawP50;
    out.push({
      scenario,
      target: `single-appender p50 ack latency ≤ ${targetLatencyRatioMax} × one raw write + fdatasync`,
      measured: `${steleP50.toLocaleString('en-US')} µs vs ${rawP50.toLocaleString('en-US')} µs = ${ratio.toFixed(2)} ×`,
      met: ratio <= targetLatencyRatioMax,
    });
  }
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await run();
  printResults(results, targets(results));
}
