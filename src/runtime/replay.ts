/**
 * Startup replay (DESIGN.md §6), the one code path the service, the CLI and the tests use
 * to turn a data directory into state: load and verify the newest usable snapshot, stream
 * and verify the whole log, reduce the events after the snapshot, check every checkpoint.
 *
 * This file is the read-only variant (no lock: CLI reads, `verify`, snapshots made beside
 * a running writer); `src/runtime/engine.ts` runs the same sink inside the writer's open.
 * Memory is O(state): the log is streamed, only the machine grows.
 */
import type { Logger } from 'pino';
import { isSteleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { ChainVerifier } from '../log/chain.js';
import type { CheckedLine } from '../log/chain.js';
import type { ScanResult } from '../log/scan.js';
import { scanForReplay } from '../log/scan-replay.js';
import { defaultThreads, isCheckpointLine } from '../log/scan-parallel.js';
import type { LogTreeFrontier } from '../merkle/log-tree.js';
import { builtinModules } from '../modules/builtin.js';
import { checkDataDir } from '../store/data-dir.js';
import type { DataPaths } from '../store/data-dir.js';
import { listSnapshots, readSnapshot } from '../store/snapshot-store.js';
import { snapshotFault } from '../snapshot/format.js';
import type { MachineOptions } from './machine.js';
import { StateMachine } from './machine.js';
import type { CheckpointSummary, SignaturePolicy, SnapshotBase } from './replay-sink.js';
import { ReplaySink } from './replay-sink.js';
import type { PublicKey } from '../crypto/keys.js';
import { signaturePolicy, warnSignatures } from './signatures.js';
import path from 'node:path';

export interface ReplayOptions extends MachineOptions {
  /** Start from the newest usable snapshot (default true); false replays from genesis. */
  snapshot?: boolean;
  logger?: Logger;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
  /** Called after each line is reduced (forensic comparisons); a SteleError thrown stops the replay as a fault. */
  afterLine?: (checked: CheckedLine, machine: StateMachine, frontier: LogTreeFrontier, at: { offset: number; bytes: number }) => void;
  /** Worker threads verifying the log while this thread reduces (default: one per core, up to 4; 1 = this thread only). */
  threads?: number;
  /** Smallest log scanned with worker threads (default 16 MiB: below it, starting workers costs more than it saves). */
  parallelBytesMin?: number;
  /**
   * Public keys the caller pins (`--pubkey`; issue #5): checkpoint signatures are checked
   * against these and the data directory's keyring (`<data>/keys/*.pub`); checkpoints signed
   * by any other key are counted in `checkpoints.pinned` and logged as a warning.
   */
  publicKeys?: readonly PublicKey[];
  /** The signature policy itself, instead of one built from `publicKeys` (a follower keeps using it after the replay). */
  signatures?: SignaturePolicy;
}

/** Counts and timings of one replay, for `status`, logs and benchmarks. */
export interface ReplayStats {
  size: number;
  logRoot: string;
  headHash: string;
  stateRoot: string;
  /** The snapshot the replay started from, if any. */
  snapshot: { file: string; size: number } | undefined;
  /** Events reduced after the snapshot. */
  reduced: number;
  entries: number;
  checkpoints: CheckpointSummary;
  /** Events after the last checkpoint (the next checkpoint is due after checkpointEvery of them). */
  eventsSinceCheckpoint: number;
  ms: { snapshot: number; scan: number; total: number };
}

export interface Replayed {
  machine: StateMachine;
  stats: ReplayStats;
  /** The scan, with the worker threads it used (1: this thread only). */
  scan: ScanResult & { threads: number };
  /**
   * The first fault (broken chain, checkpoint mismatch, invariant…), if the log is damaged:
   * the machine then holds the state derived from the events before it (panic mode).
   */
  fault: SteleError | undefined;
}

export interface LoadedSnapshot {
  machine: StateMachine;
  base: SnapshotBase;
}

/**
 * Loads the newest snapshot whose modules and versions match `options`' modules, verifying
 * it entirely (trailer, header, canonical lines, recomputed state root). A snapshot made
 * by other module versions is skipped (logged): it is not damaged, only not ours. A damaged
 * one fails with STELE_E_SNAPSHOT_INVALID naming the file: never silently skipped.
 */
export function loadSnapshot(dataDir: string, options: MachineOptions & { logger?: Logger }, logSizeMax = Number.MAX_SAFE_INTEGER): LoadedSnapshot | undefined {
  const files = listSnapshots(dataDir).reverse();
  for (const { file, size } of files) {
    if (size > logSizeMax) {
      throw snapshotFault(snapshotLabel(file), `it covers ${size} events but the log has only ${logSizeMax}: the log lost events, or the snapshot belongs to another log`);
    }
    const loaded = loadSnapshotFile(file, options);
    if (loaded !== undefined) return loaded;
  }
  return undefined;
}

export function snapshotLabel(file: string): string {
  return path.join('snapshots', path.basename(file));
}

/**
 * Loads one snapshot file, verifying it entirely (trailer, header, canonical lines,
 * recomputed state root); undefined when it was made by other module versions (logged).
 * Damage throws STELE_E_SNAPSHOT_INVALID naming the file.
 */
export function loadSnapshotFile(file: string, options: MachineOptions & { logger?: Logger }): LoadedSnapshot | undefined {
  const probe = new StateMachine(options);
  const wanted = JSON.stringify(probe.modules.map((m) => [m.name, m.version]));
  const prefixes = probe.modules.flatMap((m) => m.keyPrefixes);
  const label = snapshotLabel(file);
  const parsed = readSnapshot(file, prefixes);
  const found = JSON.stringify(parsed.header.modules);
  if (found !== wanted) {
    options.logger?.warn({ file: label, modules: parsed.header.modules }, 'snapshot made by other module versions; skipped');
    return undefined;
  }
  let machine: StateMachine;
  try {
    machine = StateMachine.restore(options, parsed.header.size, parsed.parts, parsed.entries, parsed.valueHashes);
  } catch (err) {
    if (isSteleError(err)) throw snapshotFault(label, err.message);
    throw err;
  }
  const stateRoot = machine.stateRoot();
  if (stateRoot !== parsed.header.stateRoot) throw snapshotFault(label, 'the state root recomputed from its entries differs from its header', undefined, stateRoot, parsed.header.stateRoot);
  return { machine, base: { file: label, header: parsed.header } };
}

/** Replays a data directory read-only (no lock). Damage does not throw: it is in `fault`. */
export async function replayDir(dir: string, options: ReplayOptions = {}): Promise<Replayed> {
  const paths = checkDataDir(dir, false);
  return replayPaths(paths, options);
}

export async function replayPaths(paths: DataPaths, options: ReplayOptions = {}): Promise<Replayed> {
  const started = performance.now();
  const loaded = options.snapshot === false ? undefined : loadSnapshot(paths.dir, options);
  const snapshotMs = performance.now() - started;
  const machine = loaded?.machine ?? new StateMachine(options);
  const verifier = new ChainVerifier(machine.registry, { file: 'events.ndjson' });
  const sink = new ReplaySink(machine, verifier.frontier, loaded?.base, undefined, options.signatures ?? signaturePolicy(paths.dir, options.publicKeys === undefined ? {} : { publicKeys: options.publicKeys }));
  const scanStarted = performance.now();
  const afterLine = options.afterLine;
  const scan = await scanForReplay(paths.log, machine.registry, {
    sequential: verifier,
    frontier: verifier.frontier,
    threads: options.threads ?? defaultThreads(),
    builtinRegistry: isBuiltin(options),
    ...(options.parallelBytesMin === undefined ? {} : { parallelBytesMin: options.parallelBytesMin }),
    wants: afterLine === undefined ? replayWants(machine, loaded) : () => true,
    onLine:
      afterLine === undefined
        ? (checked) => sink.line(checked)
        : (checked, offset, bytes) => {
            sink.line(checked);
            afterLine(checked, machine, verifier.frontier, { offset, bytes });
          },
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
  let fault = scan.fault;
  if (fault === undefined) {
    try {
      sink.finish(scan.verifier.head.size);
    } catch (err) {
      if (!isSteleError(err)) throw err;
      fault = err;
    }
  }
  // A snapshot that disagrees with the log fails fast naming the file (DESIGN.md §5): the
  // log is not damaged, and a replay without that snapshot gives the right state.
  if (fault?.code === 'STELE_E_SNAPSHOT_INVALID') throw fault;
  const stats = replayStats(machine, { size: scan.verifier.head.size, logRoot: scan.verifier.logRoot(), headHash: scan.verifier.head.headHash }, sink, loaded, { snapshot: snapshotMs, scan: performance.now() - scanStarted, total: performance.now() - started });
  options.logger?.info({ ...stats, fault: fault?.toJSON() }, fault === undefined ? 'replay finished' : 'replay stopped at a fault');
  if (options.logger !== undefined) warnSignatures(options.logger, stats.checkpoints);
  return { machine, stats, scan, fault };
}

export function replayStats(machine: StateMachine, head: { size: number; logRoot: string; headHash: string }, sink: ReplaySink, loaded: LoadedSnapshot | undefined, ms: ReplayStats['ms']): ReplayStats {
  const size = head.size;
  const last = sink.checkpoints.last;
  return {
    size,
    logRoot: head.logRoot,
    headHash: head.headHash,
    stateRoot: machine.stateRoot(),
    snapshot: loaded === undefined ? undefined : { file: loaded.base.file, size: loaded.base.header.size },
    reduced: sink.reduced,
    entries: machine.entries.size,
    checkpoints: sink.checkpoints,
    eventsSinceCheckpoint: last === undefined ? size : size - last.seq - 1,
    ms: { snapshot: round(ms.snapshot), scan: round(ms.scan), total: round(ms.total) },
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** True when the machine uses only the built-in modules and registry (what verify workers load). */
export function isBuiltin(options: MachineOptions): boolean {
  return options.registry === undefined && (options.modules === undefined || options.modules === builtinModules);
}

/**
 * The lines a replay must parse: those it reduces, checkpoints (their roots are compared),
 * and the snapshot's head line. With worker threads verifying, the others are not parsed.
 */
export function replayWants(machine: StateMachine, loaded: LoadedSnapshot | undefined): (seq: number, bytes: Buffer) => boolean {
  const headSeq = loaded === undefined ? -1 : loaded.base.header.size - 1;
  return (seq, bytes) => seq >= machine.size || seq === headSeq || isCheckpointLine(bytes);
}
