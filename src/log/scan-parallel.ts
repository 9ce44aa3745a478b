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
import { ioError } from '../store/file-store.js';
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

  const frontier = new LogTreeFrontier(sha256);
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
        for (let j = 0; j < r.lines; j++) {
          const treeHashes = frontier.append(r.hashes.subarray(j * 32, j * 32 + 32));
          options.onTreeHashes?.(head.size + j, treeHashes);
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
    await Promise.all(workers.map((w) => w.terminate()));
  }
  const verifier = new ChainVerifier(registry, { file: label, head, frontier });
  return { verifier, endOffset, tornTail, fault, sparseOffsets: [], bytesTotal };
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
