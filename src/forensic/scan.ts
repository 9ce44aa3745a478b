/**
 * The one log scan the forensic commands share (audit, trace, explain): the verifying scan
 * of every replay (chain, canonical form, schema, seq, ts; worker threads for large logs of
 * the built-in registry), with the consumer's own line handler in place of the replay sink.
 *
 * Why not `replayDir`: its sink stops at the first checkpoint mismatch, which is right for
 * startup (DESIGN.md §6) and wrong for an audit, which must record the mismatch and go on.
 * The consumer therefore reduces and compares itself, and must not throw a SteleError for a
 * divergence: a SteleError thrown from `onLine` ends the scan as a fault of the log.
 */
import type { EventRegistry } from '../events/registry.js';
import { ChainVerifier } from '../log/chain.js';
import type { CheckedLine } from '../log/chain.js';
import type { ScanResult } from '../log/scan.js';
import { defaultThreads } from '../log/scan-parallel.js';
import { scanForReplay } from '../log/scan-replay.js';
import type { LogTreeFrontier } from '../merkle/log-tree.js';
import type { DataPaths } from '../store/data-dir.js';
import { logFileLabel } from './compare.js';

export interface ForensicScanOptions {
  registry: EventRegistry;
  /** Whether `registry` is the built-in one (worker threads load only that one). */
  builtin: boolean;
  /** Worker threads (default: one per core, up to 4; 1 = this thread only). */
  threads?: number;
  /** Smallest log scanned with worker threads (default 16 MiB). */
  parallelBytesMin?: number;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
  /** Lines `onLine` needs (the parallel scan parses only those; the sequential one hands over every line). */
  wants: (seq: number, bytes: Buffer) => boolean;
  /** Each verified line, in order, with the log tree over the lines up to and including it. */
  onLine: (checked: CheckedLine, frontier: LogTreeFrontier) => void;
}

export type ForensicScan = ScanResult & { threads: number };

/** Scans the whole log once; the first fault of the log itself is in `fault`. */
export function scanForensic(paths: DataPaths, options: ForensicScanOptions): Promise<ForensicScan> {
  const verifier = new ChainVerifier(options.registry, { file: logFileLabel });
  const frontier = verifier.frontier;
  return scanForReplay(paths.log, options.registry, {
    sequential: verifier,
    frontier,
    threads: options.threads ?? defaultThreads(),
    builtinRegistry: options.builtin,
    ...(options.parallelBytesMin === undefined ? {} : { parallelBytesMin: options.parallelBytesMin }),
    wants: options.wants,
    onLine: (checked) => options.onLine(checked, frontier),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
}
