/**
 * One scan for replays: sequential (`scanLogFile`) or, for large logs of the built-in
 * registry, parallel — worker threads verify ranges (JSON, canonical form, schema, hashes:
 * most of the cost) while this thread re-reads the verified lines, extends the tree and
 * hands the consumer only the lines it asks for, parsed (`wants`): a replay from a snapshot
 * parses nothing before the snapshot but checkpoints. Both give the consumer the same
 * `CheckedLine`s in the same order and the same first fault.
 */
import type { EventEnvelope } from '../events/envelope.js';
import type { EventRegistry } from '../events/registry.js';
import type { CheckedLine } from './chain.js';
import type { ScanOptions, ScanResult } from './scan.js';
import { scanLogFile } from './scan.js';
import { parallelAvailable, parallelBytesMin, scanLogFileParallel } from './scan-parallel.js';
import type { LogTreeFrontier } from '../merkle/log-tree.js';
import fs from 'node:fs';

export interface ReplayScanOptions {
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
  /** Lines the consumer needs, parsed; called for every line in the parallel scan only (the sequential scan parses them all anyway). */
  wants?: (seq: number, bytes: Buffer) => boolean;
  /** Each line the consumer wants, with its byte offset and length (without `\n`). */
  onLine?: (checked: CheckedLine, offset: number, lineBytes: number) => void;
  onTreeHashes?: (seq: number, treeHashes: Uint8Array[]) => void;
  /** Worker threads; 0 or 1 scans on this thread. Parallel only for the built-in registry and logs over parallelBytesMin. */
  threads?: number;
  /** `builtin` must be true for the parallel path: the workers load only the built-in registry. */
  builtinRegistry?: boolean;
  /** Smallest log (bytes) scanned with worker threads; `parallelBytesMin` by default (tests lower it). */
  parallelBytesMin?: number;
  /** The sequential verifier to use / the frontier to extend. */
  sequential: NonNullable<ScanOptions['verifier']>;
  frontier: LogTreeFrontier;
}

/** Whether `scanForReplay` would use worker threads for this file. */
export function replayScanIsParallel(file: string, options: Pick<ReplayScanOptions, 'threads' | 'builtinRegistry' | 'parallelBytesMin'>): boolean {
  if ((options.threads ?? 1) < 2 || options.builtinRegistry !== true || !parallelAvailable()) return false;
  try {
    return fs.statSync(file).size >= (options.parallelBytesMin ?? parallelBytesMin);
  } catch {
    return false;
  }
}

export async function scanForReplay(file: string, registry: EventRegistry, options: ReplayScanOptions): Promise<ScanResult & { threads: number }> {
  if (!replayScanIsParallel(file, options)) {
    const scan = await scanLogFile(file, registry, {
      verifier: options.sequential,
      onLine: (checked, offset, lineBytes) => {
        options.onTreeHashes?.(checked.event.seq, checked.treeHashes);
        options.onLine?.(checked, offset, lineBytes);
      },
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
    return { ...scan, threads: 1 };
  }
  const threads = options.threads!;
  const scan = await scanLogFileParallel(file, registry, {
    threads,
    frontier: options.frontier,
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    ...(options.onTreeHashes === undefined ? {} : { onTreeHashes: options.onTreeHashes }),
    onLineBytes: (line) => {
      if (options.onLine === undefined || (options.wants !== undefined && !options.wants(line.seq, line.bytes))) return;
      // The workers verified this line (canonical JSON, envelope, schema): parsing is all that is left.
      const event = JSON.parse(line.bytes.toString('utf8')) as EventEnvelope;
      const checked: CheckedLine = { event, hash: Buffer.from(line.hashBytes.buffer, line.hashBytes.byteOffset, 32).toString('hex'), hashBytes: line.hashBytes, treeHashes: line.treeHashes };
      if (line.logRootBefore !== undefined) checked.logRootBefore = line.logRootBefore;
      options.onLine(checked, line.offset, line.bytes.length);
    },
  });
  return { ...scan, threads };
}
