/**
 * Parallel verification of a log file: worker threads verify byte ranges (canonical form,
 * schema, links inside the range, line hashes: the costly part); the main thread checks the
 * links between ranges, builds the RFC 6962 tree from the hashes in order and reports the
 * first fault with its global line number — the same result as the sequential scan
 * (`scanLogFile`), which a test checks on damaged logs.
 *
 * Why: on one core full verification runs at ~160k events/s (JSON.parse, canonical
 * re-serialisation, validation and three SHA-256 per line); the target is 400k/s
 * with both cores. Memory: at most `2 × threads` ranges in flight, each ~32 bytes per line.
 */
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SteleError, steleError } from '../errors.js';
import type { SteleErrorJson } from '../errors.js';
import type { EventRegistry } from '../events/registry.js';
import { sha256 } from '../hash/sha256.js';
import { LogTreeFrontier } from '../merkle/log-tree.js';
import { toHex } from '../hash/hex.js';
import { ioError, offsetIndexEvery, openFile } from '../store/file-store.js';
import type { ChainHead } from './chain.js';
import { ChainVerifier, emptyHead } from './chain.js';
import type { RangeResult, RangeTask } from './range-scan.js';
import type { ScanResult, TornTail } from './scan.js';
import { isTornWrite } from './torn.js';

/** Below this many bytes a log is verified on the calling thread (worker startup costs ~30 ms). */
export const parallelBytesMin = 16 * 1024 * 1024;
/** Range sizes: large enough to amortise messaging, small enough to balance the workers. */
export const rangeBytesMin = 64 * 1024;
export const rangeBytesMax = 8 * 1024 * 1024;

const workerUrl = new URL('./verify-worker.js', import.meta.url);

/** True when the compiled worker script exists (not when running from TypeScript sources). */
export function parallelAvailable(): boolean {
  return workerUrl.protocol === 'file:' && fs.existsSync(fileURLToPath(workerUrl));
}

export function defaultThreads(): number {
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

export interface ParallelScanOptions {
  threads: number;
  fileLabel?: string;
  /** Range size; by default the file is cut into ~8 ranges per thread within the bounds above. */
  rangeBytes?: number;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
  /** Called for every verified line, in order, with the stored hashes it adds to the tree. */
  onTreeHashes?: (seq: number, treeHashes: Uint8Array[]) => void;
  /** The tree frontier to extend (a replay shares it); a fresh one by default. */
  frontier?: LogTreeFrontier;
  /**
   * Called for every verified line, in order, with its bytes (without `\n`), after the
   * workers verified it: the main thread re-reads each verified range (from the page cache)
   * for a replay to reduce. `logRootBefore` is given for `stele.checkpoint` lines. A
   * SteleError thrown stops the scan as its fault, as in `scanLogFile`.
   */
  onLineBytes?: (line: VerifiedLineBytes) => void;
}

/** A line the workers verified, as the main thread sees it in `onLineBytes`. */
export interface VerifiedLineBytes {
  seq: number;
  bytes: Buffer;
  offset: number;
  hashBytes: Uint8Array;
  treeHashes: Uint8Array[];
  logRootBefore: Uint8Array | undefined;
}

/**
 * A canonical line's top-level keys are sorted, so it ends with `"type":"…","v":N}`: the
 * type of a verified line can be read from its end without parsing it.
 */
const checkpointMarker = Buffer.from('"type":"stele.checkpoint","v":');

export function isCheckpointLine(bytes: Buffer): boolean {
  const at = bytes.lastIndexOf(checkpointMarker);
  if (at < 0) return false;
  for (let i = at + checkpointMarker.length; i < bytes.length - 1; i++) {
    const c = bytes[i]!;
    if (c < 0x30 || c > 0x39) return false;
  }
  return bytes[bytes.length - 1] === 0x7d;
}

export async function scanLogFileParallel(file: string, registry: EventRegistry, options: ParallelScanOptions): Promise<ScanResult> {
  const label = options.fileLabel ?? 'events.ndjson';
  let bytesTotal: number;
  try {
    bytesTotal = fs.statSync(file).size;
  } catch (err) {
    throw ioError(err, file, 'stat');
  }
  const threads = Math.max(1, options.threads);
  const rangeBytes = options.rangeBytes ?? Math.min(rangeBytesMax, Math.max(rangeBytesMin, Math.ceil(bytesTotal / (threads * 8))));
  const tasks: RangeTask[] = [];
  for (let start = 0, id = 0; start < bytesTotal || id === 0; start += rangeBytes, id++) {
    const end = Math.min(bytesTotal, start + rangeBytes);
    tasks.push({ id, file, fileLabel: label, start, end, last: end >= bytesTotal });
    if (end >= bytesTotal) break;
  }
  const workers = Array.from({ length: Math.min(threads, tasks.length) }, () => new Worker(workerUrl));
  const pending = new Map<number, { resolve: (r: RangeResult) => void; reject: (e: Error) => void }>();
  const results = new Map<number, Promise<RangeResult>>();
  for (const worker of workers) {
    worker.on('message', (msg: RangeResult | { id: number; error: SteleErrorJson }) => {
      const waiter = pending.get(msg.id);
      pending.delete(msg.id);
      if ('error' in msg) waiter?.reject(fromJson(msg.error));
      else waiter?.resolve(msg);
    });
    worker.on('error', (err) => {
      for (const w of pending.values()) w.reject(err);
      pending.clear();
    });
  }
  let posted = 0;
  const postUpTo = (n: number) => {
    for (; posted < Math.min(n, tasks.length); posted++) {
      const task = tasks[posted]!;
      results.set(
        task.id,
        new Promise<RangeResult>((resolve, reject) => {
          pending.set(task.id, { resolve, reject });
        }),
      );
      workers[posted % workers.length]!.postMessage(task);
    }
  };

  const frontier = options.frontier ?? new LogTreeFrontier(sha256);
  const sparseOffsets: number[] = [];
  const readFd = options.onLineBytes === undefined ? undefined : openFile(file, 'r');
  let head: ChainHead = emptyHead;
  let endOffset = 0;
  let fault: SteleError | undefined;
  let tornTail: TornTail | undefined;
  try {
    for (let i = 0; i < tasks.length && fault === undefined; i++) {
      postUpTo(i + 2 * workers.length);
      const r = await results.get(i)!;
      results.delete(i);
      if (r.lines > 0) {
        fault = checkLink(head, r, label);
        if (fault !== undefined) break;
        if (readFd === undefined) {
          for (let j = 0; j < r.lines; j++) {
            const treeHashes = frontier.append(r.hashes.subarray(j * 32, j * 32 + 32));
            options.onTreeHashes?.(head.size + j, treeHashes);
          }
        } else {
          const delivered = deliverLines(readFd, file, r, head.size, frontier, sparseOffsets, options);
          if (delivered.fault !== undefined) {
            // The head stops before the refused line (its ts is that of the last whole range).
            fault = delivered.fault;
            if (delivered.lines > 0) head = { size: head.size + delivered.lines, headHash: toHex(r.hashes.subarray((delivered.lines - 1) * 32, delivered.lines * 32)), lastTs: head.lastTs };
            break;
          }
        }
        head = { size: head.size + r.lines, headHash: r.last!.hash, lastTs: r.last!.ts };
        endOffset = r.endOffset;
      }
      if (r.fault !== undefined) {
        // The worker numbered lines from its own start; the global position is head.size.
        fault = fromJson(r.fault, { line: head.size + 1, seq: head.size });
        break;
      }
      if (r.tail !== undefined) {
        const data = r.tail.data === undefined ? undefined : Buffer.from(r.tail.data);
        if (data !== undefined && !isTornWrite(data)) {
          fault = steleError('STELE_E_NOT_CANONICAL', 'the last line has bytes after the end of its event where a newline should be', {
            where: { file: label, line: head.size + 1, seq: head.size, offset: r.tail.offset },
            fix: 'the last line was altered (its newline is missing or replaced); restore the log from a backup',
          });
        } else tornTail = { offset: r.tail.offset, bytes: r.tail.bytes, data };
      }
      options.onProgress?.(Math.max(endOffset, tasks[i]!.end), bytesTotal);
    }
  } finally {
    if (readFd !== undefined) fs.closeSync(readFd);
    await Promise.all(workers.map((w) => w.terminate()));
  }
  const verifier = new ChainVerifier(registry, { file: label, head, frontier });
  return { verifier, endOffset, tornTail, fault, sparseOffsets, bytesTotal };
}

/**
 * Re-reads a verified range and hands its lines to `onLineBytes`, in order, extending the
 * tree. Returns how many lines were accepted, and the first fault `onLineBytes` threw.
 */
function deliverLines(fd: number, file: string, r: RangeResult, firstSeq: number, frontier: LogTreeFrontier, sparseOffsets: number[], options: ParallelScanOptions): { lines: number; fault?: SteleError } {
  const length = r.endOffset - r.firstOffset;
  const bytes = Buffer.allocUnsafe(length);
  let read = 0;
  try {
    while (read < length) {
      const n = fs.readSync(fd, bytes, read, length - read, r.firstOffset + read);
      if (n === 0) break;
      read += n;
    }
  } catch (err) {
    throw ioError(err, file, 'read', r.firstOffset + read);
  }
  let start = 0;
  for (let j = 0; j < r.lines; j++) {
    const end = bytes.indexOf(10, start);
    const seq = firstSeq + j;
    const line = bytes.subarray(start, end);
    if (seq % offsetIndexEvery === 0) sparseOffsets[seq / offsetIndexEvery] = r.firstOffset + start;
    const hashBytes = r.hashes.subarray(j * 32, j * 32 + 32);
    const logRootBefore = isCheckpointLine(line) ? frontier.root() : undefined;
    const treeHashes = frontier.append(hashBytes);
    options.onTreeHashes?.(seq, treeHashes);
    try {
      options.onLineBytes!({ seq, bytes: line, offset: r.firstOffset + start, hashBytes, treeHashes, logRootBefore });
    } catch (err) {
      if (err instanceof SteleError) return { lines: j, fault: err };
      throw err;
    }
    start = end + 1;
  }
  return { lines: r.lines };
}

/** Checks that a range's first line continues the verified prefix (seq, prev, ts). */
function checkLink(head: ChainHead, r: RangeResult, label: string): SteleError | undefined {
  const where = { file: label, line: head.size + 1, seq: head.size, offset: r.firstOffset };
  const first = r.first!;
  if (first.seq !== head.size) {
    return steleError('STELE_E_SEQ_GAP', `expected seq ${head.size}, found ${first.seq}`, {
      where,
      expected: String(head.size),
      found: String(first.seq),
      fix: 'events are missing or repeated before this line; restore the log from a backup',
    });
  }
  if (first.prev !== head.headHash) {
    return steleError('STELE_E_CHAIN_BROKEN', 'prev does not match the hash of the previous line', {
      where,
      expected: head.headHash,
      found: first.prev,
      fix: head.size === 0 ? 'the first event must have 64 zeros as prev' : `line ${head.size} or this line was altered; restore the log from a backup`,
    });
  }
  if (first.ts < head.lastTs) {
    return steleError('STELE_E_TS_DECREASED', 'ts goes back in time', {
      where,
      expected: `>= ${head.lastTs}`,
      found: first.ts,
      fix: 'a log line was altered; restore the log from a backup',
    });
  }
  return undefined;
}

function fromJson(json: SteleErrorJson, where: { line?: number; seq?: number } = {}): SteleError {
  return new SteleError(json.code, json.message, {
    where: { ...json.where, ...where },
    ...(json.fix === undefined ? {} : { fix: json.fix }),
    ...(json.expected === undefined ? {} : { expected: json.expected }),
    ...(json.found === undefined ? {} : { found: json.found }),
    ...(json.detail === undefined ? {} : { detail: json.detail }),
  });
}
