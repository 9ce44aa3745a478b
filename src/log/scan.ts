/**
 * Streams a log file through the chain verifier: the startup scan of the writer and the
 * whole of `stele verify`. Reads sequentially in 1 MiB chunks (O(1) memory in the log's
 * length) and stops at the first fault.
 */
import fs from 'node:fs';
import type { SteleError } from '../errors.js';
import { isSteleError, steleError } from '../errors.js';
import type { EventRegistry } from '../events/registry.js';
import { ioError, openFile, offsetIndexEvery, readChunkBytes } from '../store/file-store.js';
import { limits } from '../limits.js';
import type { CheckedLine } from './chain.js';
import { ChainVerifier } from './chain.js';
import { LineSplitter } from './line-splitter.js';
import { isTornWrite } from './torn.js';

export interface ScanOptions {
  /** Called after each chunk with bytes read so far and the file size. */
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
  /** Called for every verified line (after its hash and tree update). */
  onLine?: (checked: CheckedLine, offset: number, lineBytes: number) => void;
  /** Name used in fault locations (default: the file's base name). */
  fileLabel?: string;
  /** The verifier to use (a replay shares its tree frontier); a fresh one by default. */
  verifier?: ChainVerifier;
}

export interface TornTail {
  offset: number;
  bytes: number;
  /** The torn bytes (undefined when longer than the line limit: never kept in memory). */
  data: Buffer | undefined;
}

export interface ScanResult {
  verifier: ChainVerifier;
  /** Byte offset just after the last verified line. */
  endOffset: number;
  /** Bytes after the last `\n`, if any: an unacknowledged torn last line. */
  tornTail: TornTail | undefined;
  /** The first fault, if the scan stopped on one. */
  fault: SteleError | undefined;
  /** Byte offset of every offsetIndexEvery-th line, for seeking. */
  sparseOffsets: number[];
  bytesTotal: number;
}

/**
 * Scans and verifies a whole log file. Async only to yield to the event loop after every
 * chunk: a long synchronous scan would starve timers, among them the writer lock's mtime
 * refresh, and a lock not refreshed for `lockStaleMs` may be taken over by another writer.
 */
export async function scanLogFile(file: string, registry: EventRegistry, options: ScanOptions = {}): Promise<ScanResult> {
  const verifier = options.verifier ?? new ChainVerifier(registry, { file: options.fileLabel ?? 'events.ndjson' });
  const sparseOffsets: number[] = [];
  let fault: SteleError | undefined;
  let endOffset = 0;
  const splitter = new LineSplitter(
    {
      line: (chunk, start, end, offset) => {
        if (fault !== undefined) return;
        const seq = verifier.head.size;
        try {
          const checked = verifier.check(chunk, start, end, offset);
          if (seq % offsetIndexEvery === 0) sparseOffsets.push(offset);
          endOffset = offset + (end - start) + 1;
          options.onLine?.(checked, offset, end - start);
        } catch (err) {
          if (!isSteleError(err)) throw err;
          fault = err;
        }
      },
      overlong: (offset, bytes) => {
        if (fault === undefined) fault = verifier.overlong(offset, bytes);
      },
    },
    limits.lineBytesMax,
  );
  const fd = openFile(file, 'r');
  let bytesTotal: number;
  try {
    bytesTotal = fs.fstatSync(fd).size;
    let position = 0;
    let chunk = Buffer.allocUnsafe(readChunkBytes);
    while (fault === undefined) {
      let n: number;
      try {
        n = fs.readSync(fd, chunk, 0, chunk.length, position);
      } catch (err) {
        throw ioError(err, file, 'read', position);
      }
      if (n === 0) break;
      splitter.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      position += n;
      options.onProgress?.(position, Math.max(bytesTotal, position));
      // The splitter copies any partial line it keeps, so the chunk can be reused.
      if (n < chunk.length) chunk = Buffer.allocUnsafe(readChunkBytes);
      await yieldToEventLoop();
    }
  } finally {
    fs.closeSync(fd);
  }
  const tail = splitter.finish();
  let tornTail: TornTail | undefined;
  if (fault === undefined && tail.bytes > 0) {
    if (tail.data !== undefined && !isTornWrite(tail.data)) {
      const seq = verifier.head.size;
      fault = steleError('STELE_E_NOT_CANONICAL', 'the last line has bytes after the end of its event where a newline should be', {
        where: { file: verifier.file, line: seq + 1, seq, offset: tail.offset },
        fix: 'the last line was altered (its newline is missing or replaced); restore the log from a backup',
      });
    } else {
      tornTail = { offset: tail.offset, bytes: tail.bytes, data: tail.data };
    }
  }
  return { verifier, endOffset, tornTail, fault, sparseOffsets, bytesTotal };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
