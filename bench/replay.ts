/**
 * Benchmark: startup replay of a realistic log (issue #3).
 *
 * The log: 1,000,000 events (50,000 in quick mode) written through the engine, as a running
 * service would write them: `workload({seed, accounts: 100,000, keys: 100,000})` commands
 * (mixed ledger, kv and audit traffic; some are rejected by their guards, which records an
 * `audit.command_rejected` event) submitted to `Engine.run` in windows of 4,096 concurrent
 * calls, durable group commit, a checkpoint every 1,000 events. When the log is 10,000 events
 * short of its size, `engine.snapshot()` writes a snapshot; then the log is written to the end
 * and the engine closed (its close appends a last checkpoint).
 *
 * The log is cached: it is generated once into `<scratch>/stele-bench-replay-cache/` (see
 * bench/environment.ts for the scratch root), in a directory named after the generator
 * version (`generatorVersion` below) and the event count, with a sibling `.json` file holding
 * what the generation recorded (sizes, roots, the snapshot's size, the generation rate). A run
 * reuses a cached log whose `.json` exists and matches this file's parameters; bump
 * `generatorVersion` when the workload, the engine options or the event formats change, or
 * delete the directory to generate (and time) the log again. The generation rate is reported
 * only by the run that generated the log, so that every figure shown comes from that run.
 * A second cached directory holds the first half of the log's lines (the half-length log).
 *
 * Measured, each in a FRESH child process (this file, forked with `--measure`), so that its
 * peak RSS (`process.resourceUsage().maxRSS`) is that replay's alone, page cache warm:
 * - stele, full startup replay from genesis with verification: `replayDir(dir, {snapshot:
 *   false})` (chain, canonical form, schemas, log tree, every checkpoint's log and state roots);
 * - stele, startup from the snapshot: `replayDir(dir)`; it must start from the snapshot and end
 *   with the state root of the full replay;
 * - the naive baseline, in one thread: read the file, split lines, JSON.parse, zod
 *   (`envelopeSchema` and the registry's payload schema), SHA-256 of the line (node:crypto),
 *   prev/seq check, `StateMachine.apply`; its state root must equal the full replay's;
 * - stele's full replay of the half-length log, for peak RSS against log length (the state
 *   grows with the log: ledger transfers and audit executions are state entries, so the
 *   entries are shown beside the RSS).
 * Each runs 3 times (once in quick mode), in alternating rounds; medians are reported, with
 * the child's wall time from fork to exit ("s process", Node start-up included) beside the
 * time of the replay call itself.
 *
 * Targets: full replay ≥ 500,000 events/s; startup from the snapshot ≤ 1 s; peak RSS of the
 * full replay ≤ 1 GB (10^9 bytes).
 *
 * Run standalone: `npx tsc -p tsconfig.build.json && node dist/bench/replay.js`.
 * Profile one replay: `node --cpu-prof dist/bench/replay.js --measure full DIR` (DIR: the
 * cached data directory; the child prints its measurement as JSON when not forked).
 */
import { fork } from 'node:child_process';
import { hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isSteleError } from '../src/errors.js';
import { createRegistry } from '../src/events/builtin.js';
import { envelopeSchema } from '../src/events/envelope.js';
import { zeroHash64 } from '../src/hash/hex.js';
import { Engine } from '../src/runtime/engine.js';
import { StateMachine } from '../src/runtime/machine.js';
import { replayDir } from '../src/runtime/replay.js';
import { dataPaths, initDataDir } from '../src/store/data-dir.js';
import { listSnapshots } from '../src/store/snapshot-store.js';
import { workload } from '../src/workload/generate.js';
import { fileSystemOf, isQuick, removeScratch, scratchRoot } from './environment.js';
import { printResults } from './report.js';
import type { BenchResult, BenchTarget } from './result.js';
import { findResult } from './result.js';
import { median } from './stats.js';

const quick = isQuick();
/** Bump when the workload, the engine options or the event formats change: cached logs of other versions are not reused. */
const generatorVersion = 1;
const logEvents = quick ? 50_000 : 1_000_000;
/** The snapshot is taken this many events before the end of the log (issue #3). */
const snapshotTailEvents = 10_000;
const halfEvents = logEvents / 2;
const workloadSeed = 3;
const workloadAccounts = 100_000;
const workloadKeys = 100_000;
const checkpointEvery = 1000;
/** Commands in flight during generation: enough for large group-commit batches. */
const commandWindow = 4096;
/** Timed runs of each contender, each in its own process; the median is reported. */
const rounds = quick ? 1 : 3;
const readChunkBytes = 1 << 20;

const targetEventsPerS = 500_000;
const targetSnapshotSecondsMax = 1;
const targetRssBytesMax = 1e9;

const logLabel = compactCount(logEvents);
const scenario = `replay/mixed-${logLabel}`;
const rssScenario = 'replay/peak-rss-vs-log-length';
const generateScenario = `replay/generate-${logLabel}`;

export const about =
  `Startup replay of a cached ${logEvents.toLocaleString('en-US')}-event log of mixed ledger, kv and audit commands (written through the engine, a checkpoint every ${checkpointEvery.toLocaleString('en-US')} events, a snapshot ${snapshotTailEvents.toLocaleString('en-US')} events before the end), ` +
  `each replay in a fresh child process (median of ${rounds}, page cache warm): from genesis with full verification, from the snapshot, the full replay of the log's first half for peak RSS against log length, and a naive one-thread read + JSON.parse + zod + SHA-256 + reduce baseline; MB = 10^6 bytes.`;

const units = { rate: 'events/s', seconds: 's', process: 's process', rss: 'MB peak RSS', entries: 'state entries', events: 'events' } as const;
const names = {
  full: 'stele replayDir from genesis, verified',
  snapshot: 'stele replayDir from the snapshot',
  naive: 'naive: read + JSON.parse + zod + SHA-256 + reduce, 1 thread',
  rssFull: (n: number) => `stele replayDir from genesis, ${n.toLocaleString('en-US')}-event log`,
  generate: `stele Engine.run, ${commandWindow.toLocaleString('en-US')} commands in flight, durable group commit`,
} as const;

// ── the cached log ──────────────────────────────────────────────────────────────────────

/** What the generation recorded, in the sibling `.json` of a cached log. */
interface LogMeta {
  generatorVersion: number;
  seed: number;
  accounts: number;
  keys: number;
  checkpointEvery: number;
  /** The requested event count. */
  events: number;
  /** Events in the log (≥ `events`: the last window and the closing checkpoint overshoot). */
  size: number;
  /** Log size the snapshot covers. */
  snapshotSize: number;
  stateRoot: string;
  logRoot: string;
  headHash: string;
  entries: number;
  bytes: number;
  commands: number;
  rejected: number;
  seconds: number;
  generatedAt: string;
}

export interface CachedLog {
  dir: string;
  meta: LogMeta;
  /** True when this run generated the log (its generation rate is then a figure of this run). */
  generated: boolean;
}

function cacheRoot(): string {
  return path.join(scratchRoot(), 'stele-bench-replay-cache');
}

function compactCount(n: number): string {
  if (n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n % 1000 === 0) return `${n / 1000}k`;
  return String(n);
}

function readMeta(file: string): LogMeta | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LogMeta;
  } catch {
    return undefined;
  }
}

/** The cached log of `logEvents` events, generated first when missing or made by other parameters. */
export async function ensureLog(): Promise<CachedLog> {
  const dir = path.join(cacheRoot(), `v${generatorVersion}-${logEvents}`);
  const metaFile = `${dir}.json`;
  const meta = readMeta(metaFile);
  const wanted = { generatorVersion, seed: workloadSeed, accounts: workloadAccounts, keys: workloadKeys, checkpointEvery, events: logEvents };
  if (meta !== undefined && fs.existsSync(dir) && Object.entries(wanted).every(([k, v]) => meta[k as keyof LogMeta] === v)) {
    progress(`reusing the cached log ${dir} (generated ${meta.generatedAt}; delete it to generate and time it again)`);
    return { dir, meta, generated: false };
  }
  // A directory without its .json is an interrupted generation: start again.
  removeScratch(dir);
  fs.rmSync(metaFile, { force: true });
  fs.mkdirSync(cacheRoot(), { recursive: true });
  const partial = `${dir}.partial`;
  removeScratch(partial);
  const generated = await generateLog(partial);
  fs.renameSync(partial, dir);
  fs.writeFileSync(metaFile, `${JSON.stringify({ ...wanted, ...generated, generatedAt: new Date().toISOString() }, null, 2)}\n`);
  return { dir, meta: readMeta(metaFile)!, generated: true };
}

type Generated = Omit<LogMeta, 'generatorVersion' | 'seed' | 'accounts' | 'keys' | 'checkpointEvery' | 'events' | 'generatedAt'>;

async function generateLog(dir: string): Promise<Generated> {
  progress(`generating a ${logEvents.toLocaleString('en-US')}-event log in ${dir} (cached for later runs)`);
  initDataDir(dir);
  const engine = await Engine.open(dir, { checkpointEvery });
  const commands = workload({ seed: workloadSeed, accounts: workloadAccounts, keys: workloadKeys });
  let submitted = 0;
  let rejected = 0;
  let snapshotSize: number | undefined;
  const started = performance.now();
  const size = (): number => engine.log.writer.status().size;
  /** Runs commands in windows until the log holds `until` events; windows shrink near the mark so it is not overshot by much. */
  const feed = async (until: number): Promise<void> => {
    while (size() < until) {
      const window = Math.min(commandWindow, until - size());
      const runs: Promise<unknown>[] = [];
      for (let i = 0; i < window; i++) {
        const next = commands.next();
        if (next.done === true) throw new Error('the workload generator ended');
        submitted++;
        runs.push(
          engine.run(next.value).catch((err: unknown) => {
            // A guard's refusal (an overdraft) is part of the workload: it is recorded in the log.
            if (isSteleError(err) && err.code === 'STELE_E_REJECTED') rejected++;
            else throw err;
          }),
        );
      }
      await Promise.all(runs);
    }
  };
  try {
    await feed(logEvents - snapshotTailEvents);
    await engine.snapshot();
    snapshotSize = size();
    await feed(logEvents);
  } finally {
    await engine.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const status = engine.log.writer.status();
  const snapshots = listSnapshots(dir);
  if (snapshotSize === undefined) throw new Error('no snapshot was written');
  if (snapshots.length !== 1 || snapshots[0]!.size !== snapshotSize) throw new Error(`expected one snapshot at size ${snapshotSize}, found ${JSON.stringify(snapshots)}`);
  const bytes = fs.statSync(dataPaths(dir).log).size;
  progress(
    `generated ${status.size.toLocaleString('en-US')} events (${(bytes / 1e6).toFixed(1)} MB) from ${submitted.toLocaleString('en-US')} commands (${rejected.toLocaleString('en-US')} rejected) in ${seconds.toFixed(1)} s: ` +
      `${Math.round(submitted / seconds).toLocaleString('en-US')} commands/s; snapshot at size ${snapshotSize.toLocaleString('en-US')}`,
  );
  return {
    size: status.size,
    snapshotSize,
    stateRoot: engine.machine.stateRoot(),
    logRoot: status.logRoot,
    headHash: status.headHash,
    entries: engine.machine.entries.size,
    bytes,
    commands: submitted,
    rejected,
    seconds,
  };
}

/** A data directory holding the first `events` lines of `log` (cached beside it), no snapshot. */
function ensurePrefix(log: CachedLog, events: number): string {
  const dir = `${log.dir}-prefix-${events}`;
  const done = `${dir}.done`;
  if (!log.generated && fs.existsSync(dir) && fs.existsSync(done)) return dir;
  removeScratch(dir);
  fs.rmSync(done, { force: true });
  initDataDir(dir);
  const source = fs.openSync(dataPaths(log.dir).log, 'r');
  const target = fs.openSync(dataPaths(dir).log, 'w');
  try {
    const chunk = Buffer.alloc(readChunkBytes);
    let lines = 0;
    while (lines < events) {
      const n = fs.readSync(source, chunk, 0, chunk.length, null);
      if (n === 0) throw new Error(`the log has fewer than ${events} lines`);
      let end = 0;
      while (lines < events) {
        const nl = chunk.indexOf(10, end);
        if (nl === -1 || nl >= n) {
          end = n;
          break;
        }
        end = nl + 1;
        lines++;
      }
      fs.writeSync(target, chunk, 0, end);
    }
  } finally {
    fs.closeSync(source);
    fs.closeSync(target);
  }
  fs.writeFileSync(done, `${events}\n`);
  return dir;
}

/** Reads a file once, so that no contender pays for the first read from disk. */
function warmPageCache(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = Buffer.alloc(readChunkBytes);
    while (fs.readSync(fd, chunk, 0, chunk.length, null) > 0);
  } finally {
    fs.closeSync(fd);
  }
}

// ── the measured replays (child processes) ──────────────────────────────────────────────

type Mode = 'full' | 'snapshot' | 'naive';
const modes: readonly Mode[] = ['full', 'snapshot', 'naive'];

/** What a child measured. */
interface Measurement {
  mode: Mode;
  /** Wall time of the replay call alone. */
  seconds: number;
  size: number;
  stateRoot: string;
  /** The log root (stele's replays; the naive one builds no log tree). */
  logRoot: string | undefined;
  entries: number;
  /** Size the snapshot covered, when the replay started from one. */
  snapshotSize: number | undefined;
  /** Events reduced (after the snapshot, if any). */
  reduced: number;
  /** Checkpoints whose state root was compared. */
  stateRootsChecked: number;
  /** `process.resourceUsage().maxRSS`, KiB. */
  maxRssKiB: number;
  /** The replay's fault, if it stopped on one (a bug: the generated log is sound). */
  fault: string | undefined;
}

async function measure(mode: Mode, dir: string): Promise<Measurement> {
  const started = performance.now();
  if (mode === 'naive') {
    const r = naiveReplay(dataPaths(dir).log);
    const seconds = (performance.now() - started) / 1000;
    return { mode, seconds, ...r, logRoot: undefined, snapshotSize: undefined, reduced: r.size, stateRootsChecked: 0, maxRssKiB: process.resourceUsage().maxRSS, fault: undefined };
  }
  const r = await replayDir(dir, { snapshot: mode === 'snapshot' });
  const seconds = (performance.now() - started) / 1000;
  return {
    mode,
    seconds,
    size: r.stats.size,
    stateRoot: r.stats.stateRoot,
    logRoot: r.stats.logRoot,
    entries: r.stats.entries,
    snapshotSize: r.stats.snapshot?.size,
    reduced: r.stats.reduced,
    stateRootsChecked: r.stats.checkpoints.stateRootsChecked,
    maxRssKiB: process.resourceUsage().maxRSS,
    fault: r.fault === undefined ? undefined : JSON.stringify(r.fault.toJSON()),
  };
}

/**
 * The naive baseline: what one would write first. One thread; every line parsed, validated
 * with the zod schemas, hashed and chained, and reduced by stele's own state machine (so the
 * reducers and the state tree cost the same as in stele's replay). No canonical-form check,
 * no log Merkle tree, no checkpoint checks: it does less than stele's replay.
 */
function naiveReplay(file: string): { size: number; stateRoot: string; entries: number } {
  const registry = createRegistry();
  const machine = new StateMachine({ registry });
  const fd = fs.openSync(file, 'r');
  const chunk = Buffer.alloc(readChunkBytes);
  let carry = Buffer.alloc(0);
  let prev = zeroHash64;
  let size = 0;
  try {
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      // A line cut by the chunk boundary is carried into the next chunk.
      const buf = carry.length === 0 ? chunk.subarray(0, n) : Buffer.concat([carry, chunk.subarray(0, n)]);
      let start = 0;
      for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
        const line = buf.subarray(start, nl);
        const envelope = envelopeSchema.parse(JSON.parse(line.toString('utf8')));
        const data = registry.validate(envelope.type, envelope.v, envelope.data);
        if (envelope.seq !== size || envelope.prev !== prev) throw new Error(`naive replay: line ${size + 1} is not chained`);
        prev = hash('sha256', line, 'hex');
        machine.apply({ ...envelope, data });
        size++;
        start = nl + 1;
      }
      carry = Buffer.from(buf.subarray(start));
    }
  } finally {
    fs.closeSync(fd);
  }
  if (carry.length > 0) throw new Error('naive replay: the log ends without a newline');
  return { size, stateRoot: machine.stateRoot(), entries: machine.entries.size };
}

/** Child mode: measures one replay and sends it to the parent (or prints it, when run by hand). */
async function runMeasureChild(argv: readonly string[]): Promise<void> {
  const mode = argv[0] as Mode;
  const dir = argv[1];
  if (!modes.includes(mode) || dir === undefined) throw new Error(`usage: replay.js --measure ${modes.join('|')} DIR`);
  const m = await measure(mode, dir);
  if (process.send === undefined) {
    console.log(JSON.stringify(m));
    return;
  }
  await new Promise<void>((resolve, reject) => process.send!(m, (err: Error | null) => (err === null ? resolve() : reject(err))));
  process.disconnect();
}

interface Timed {
  m: Measurement;
  /** Fork to exit. */
  processSeconds: number;
}

/** Forks this file to measure one replay in a fresh process. */
function measureInChild(mode: Mode, dir: string): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = fork(fileURLToPath(import.meta.url), ['--measure', mode, dir], { stdio: 'inherit' });
    let m: Measurement | undefined;
    child.on('message', (message) => {
      m = message as Measurement;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const processSeconds = (performance.now() - started) / 1000;
      if (m !== undefined && code === 0) resolve({ m, processSeconds });
      else reject(new Error(`the ${mode} replay of ${dir} exited with ${signal ?? code}${m === undefined ? ' before sending its measurement' : ''}`));
    });
  });
}

// ── the scenario ────────────────────────────────────────────────────────────────────────

function progress(message: string): void {
  process.stderr.write(`  replay: ${message}\n`);
}

function describe(label: string, t: Timed): string {
  const m = t.m;
  return (
    `${label}: ${m.seconds.toFixed(2)} s (${Math.round(m.size / m.seconds).toLocaleString('en-US')} events/s), process ${t.processSeconds.toFixed(2)} s, ` +
    `peak RSS ${(m.maxRssKiB / 1024).toFixed(0)} MiB, ${m.entries.toLocaleString('en-US')} entries${m.snapshotSize === undefined ? '' : `, from the snapshot at ${m.snapshotSize.toLocaleString('en-US')}, ${m.reduced.toLocaleString('en-US')} reduced`}`
  );
}

/** The replay must be sound and agree with the generation: a mismatch here is a bug in stele, reported as is. */
function check(label: string, m: Measurement, expected: { size: number; stateRoot: string; entries: number; logRoot?: string | undefined }): void {
  if (m.fault !== undefined) throw new Error(`${label} stopped on a fault: ${m.fault}`);
  const wrong: string[] = [];
  if (m.size !== expected.size) wrong.push(`size ${m.size}, expected ${expected.size}`);
  if (m.stateRoot !== expected.stateRoot) wrong.push(`state root ${m.stateRoot}, expected ${expected.stateRoot}`);
  if (m.logRoot !== undefined && expected.logRoot !== undefined && m.logRoot !== expected.logRoot) wrong.push(`log root ${m.logRoot}, expected ${expected.logRoot}`);
  if (m.entries !== expected.entries) wrong.push(`${m.entries} state entries, expected ${expected.entries}`);
  if (wrong.length > 0) throw new Error(`${label} is wrong: ${wrong.join('; ')}`);
}

const mb = (kib: number): number => Math.round((kib * 1024) / 1e5) / 10;
const round3 = (s: number): number => Math.round(s * 1000) / 1000;

export async function run(): Promise<BenchResult[]> {
  progress(`cache under ${cacheRoot()}: ${fileSystemOf(scratchRoot()).description}`);
  const log = await ensureLog();
  const meta = log.meta;
  const halfDir = ensurePrefix(log, halfEvents);
  warmPageCache(dataPaths(log.dir).log);
  warmPageCache(dataPaths(halfDir).log);

  const runs = { full: [] as Timed[], snapshot: [] as Timed[], naive: [] as Timed[], half: [] as Timed[] };
  let halfExpected: Measurement | undefined;
  for (let r = 0; r < rounds; r++) {
    const label = (name: string): string => `round ${r + 1}/${rounds}, ${name}`;
    const full = await measureInChild('full', log.dir);
    check(label('full replay'), full.m, meta);
    if (full.m.snapshotSize !== undefined) throw new Error('the full replay started from a snapshot');
    runs.full.push(full);
    progress(describe(label('full replay'), full));

    const snap = await measureInChild('snapshot', log.dir);
    check(label('replay from the snapshot'), snap.m, meta);
    if (snap.m.snapshotSize !== meta.snapshotSize) throw new Error(`the replay from the snapshot started from ${snap.m.snapshotSize ?? 'no snapshot'}, not from the snapshot at size ${meta.snapshotSize}`);
    if (snap.m.reduced !== meta.size - meta.snapshotSize) throw new Error(`the replay from the snapshot reduced ${snap.m.reduced} events, expected ${meta.size - meta.snapshotSize}`);
    runs.snapshot.push(snap);
    progress(describe(label('replay from the snapshot'), snap));

    const naive = await measureInChild('naive', log.dir);
    check(label('naive replay'), naive.m, meta);
    runs.naive.push(naive);
    progress(describe(label('naive replay'), naive));

    const half = await measureInChild('full', halfDir);
    halfExpected ??= half.m;
    check(label('full replay of the first half'), half.m, { size: halfEvents, stateRoot: halfExpected.stateRoot, entries: halfExpected.entries, logRoot: halfExpected.logRoot });
    runs.half.push(half);
    progress(describe(label('full replay of the first half'), half));
  }

  const med = (list: readonly Timed[], f: (t: Timed) => number): number => median(list.map(f));
  const replaySeconds = (list: readonly Timed[]): number => med(list, (t) => t.m.seconds);
  const logNote =
    `log of ${meta.size.toLocaleString('en-US')} events, ${(meta.bytes / 1e6).toFixed(1)} MB (${((meta.bytes - meta.size) / meta.size).toFixed(0)} bytes + newline per line), ` +
    `${meta.entries.toLocaleString('en-US')} state entries at the end; s = the replay call, s process = the whole child process from fork to exit (Node start-up and module loading included)`;
  const full = runs.full[0]!.m;
  const results: BenchResult[] = [];
  const row = (name: string, list: readonly Timed[], note: string, extra: Partial<BenchResult> = {}, rate = true): void => {
    const seconds = replaySeconds(list);
    const size = list[0]!.m.size;
    if (rate) results.push({ scenario, name, value: Math.round(size / seconds), unit: units.rate, note, ...extra });
    results.push(
      { scenario, name, value: round3(seconds), unit: units.seconds, note, ...extra },
      { scenario, name, value: round3(med(list, (t) => t.processSeconds)), unit: units.process, note, ...extra },
      { scenario, name, value: mb(med(list, (t) => t.m.maxRssKiB)), unit: units.rss, note, ...extra },
    );
  };
  row(names.full, runs.full, `${logNote}; verifies every line (UTF-8, canonical form, envelope and payload schemas, chain, log tree) and all ${full.stateRootsChecked.toLocaleString('en-US')} checkpoints' log and state roots`);
  row(
    names.snapshot,
    runs.snapshot,
    `loads and verifies the snapshot at size ${meta.snapshotSize.toLocaleString('en-US')} (its state root recomputed from its entries), verifies the whole log and reduces the last ${(meta.size - meta.snapshotSize).toLocaleString('en-US')} events; ends with the full replay's state root`,
    {},
    false,
  );
  row(
    names.naive,
    runs.naive,
    'in one thread: fs.readSync of 1 MiB chunks, split lines, JSON.parse, envelopeSchema.parse + the registry\'s zod payload schema, crypto.hash(sha256) of the line with a prev/seq check, StateMachine.apply (stele\'s reducers and state tree), state root at the end; no canonical-form check, no log tree, no checkpoint checks; ends with the full replay\'s state root',
    { baseline: true },
  );

  const half = runs.half[0]!.m;
  const rssNote = 'peak RSS of a fresh process replaying from genesis; the state grows with the log (ledger transfers and audit executions are state entries), so compare RSS with the entries, not only with the events';
  for (const [list, m] of [
    [runs.full, full],
    [runs.half, half],
  ] as const) {
    const name = names.rssFull(m.size);
    results.push(
      { scenario: rssScenario, name, value: m.size, unit: units.events, note: rssNote },
      { scenario: rssScenario, name, value: m.entries, unit: units.entries, note: rssNote },
      { scenario: rssScenario, name, value: mb(med(list, (t) => t.m.maxRssKiB)), unit: units.rss, note: rssNote },
    );
  }

  if (log.generated) {
    results.push(
      { scenario: generateScenario, name: names.generate, value: Math.round(meta.commands / meta.seconds), unit: 'commands/s', note: `${meta.commands.toLocaleString('en-US')} workload commands (${meta.rejected.toLocaleString('en-US')} rejected by guards, recorded), fed to a fresh engine with a checkpoint every ${checkpointEvery.toLocaleString('en-US')} events and one snapshot; not measured when the log comes from the cache` },
      { scenario: generateScenario, name: names.generate, value: Math.round(meta.size / meta.seconds), unit: units.rate },
      { scenario: generateScenario, name: names.generate, value: round3(meta.seconds), unit: units.seconds },
    );
  } else {
    progress(`generation rate not measured in this run (cached log; it took ${meta.seconds.toFixed(1)} s, ${Math.round(meta.commands / meta.seconds).toLocaleString('en-US')} commands/s, when generated)`);
  }
  return results;
}

export function targets(results: readonly BenchResult[]): BenchTarget[] {
  const out: BenchTarget[] = [];
  const rate = findResult(results, scenario, names.full, units.rate);
  if (rate !== undefined) {
    out.push({ scenario, target: `full startup replay with verification ≥ ${targetEventsPerS.toLocaleString('en-US')} events/s`, measured: `${rate.toLocaleString('en-US')} events/s`, met: rate >= targetEventsPerS });
  }
  const snapshotSeconds = findResult(results, scenario, names.snapshot, units.seconds);
  if (snapshotSeconds !== undefined) {
    out.push({ scenario, target: `startup from a snapshot ${snapshotTailEvents.toLocaleString('en-US')} events before the end ≤ ${targetSnapshotSecondsMax} s`, measured: `${snapshotSeconds} s`, met: snapshotSeconds <= targetSnapshotSecondsMax });
  }
  const rss = findResult(results, scenario, names.full, units.rss);
  if (rss !== undefined) {
    out.push({ scenario, target: `peak RSS of the full replay ≤ ${targetRssBytesMax / 1e6} MB`, measured: `${rss.toLocaleString('en-US')} MB`, met: rss * 1e6 <= targetRssBytesMax });
  }
  return out;
}

const measureIndex = process.argv.indexOf('--measure');
if (measureIndex !== -1 && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runMeasureChild(process.argv.slice(measureIndex + 1));
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await run();
  printResults(results, targets(results));
}
