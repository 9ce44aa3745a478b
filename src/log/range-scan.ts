/**
 * Verifies the lines that start inside one byte range of a log file: the unit of work of
 * parallel verification. The range's first line adopts its own seq/prev/ts as the starting
 * head (the main thread checks the link to the previous range); every later line is checked
 * in full by the ChainVerifier. Returns the lines' hashes so the main thread can build the
 * log tree and check the links between ranges.
 *
 * Lines are assigned to the range their first byte falls in (the split of Hadoop's
 * line-record reader): a range skips the partial line it starts in and reads past its end to
 * finish its last line.
 */
import fs from 'node:fs';
import { isSteleError } from '../errors.js';
import type { SteleErrorJson } from '../errors.js';
import { isEnvelope } from '../events/envelope.js';
import type { EventRegistry } from '../events/registry.js';
import { limits } from '../limits.js';
import { ioError, openFile, readChunkBytes } from '../store/file-store.js';
import { ChainVerifier } from './chain.js';
import { LineSplitter } from './line-splitter.js';

export interface RangeTask {
  id: number;
  file: string;
  fileLabel: string;
  start: number;
  end: number;
  /** True for the range that ends at the end of the file: it reports the tail. */
  last: boolean;
}

export interface RangeResult {
  id: number;
  /** Lines verified (before the fault, if any). */
  lines: number;
  /** 32 bytes per verified line: its SHA-256. */
  hashes: Uint8Array;
  /** Offset of the range's first line. */
  firstOffset: number;
  /** seq/prev/ts of the first line, when it could be read. */
  first: { seq: number; prev: string; ts: string } | undefined;
  /** Hash and ts of the last verified line. */
  last: { hash: string; ts: string } | undefined;
  /** Offset just after the last verified line. */
  endOffset: number;
  fault: SteleErrorJson | undefined;
  tail: { offset: number; bytes: number; data: Uint8Array | undefined } | undefined;
}

export function scanRange(task: RangeTask, registry: EventRegistry): RangeResult {
  const verifier = new ChainVerifier(registry, { file: task.fileLabel, tree: false });
  const fd = openFile(task.file, 'r');
  try {
    const firstOffset = firstLineStart(fd, task);
    let hashes = Buffer.allocUnsafe(Math.max(1024, Math.ceil((task.end - task.start) / 64)) * 32);
    let lines = 0;
    let first: RangeResult['first'];
    let last: RangeResult['last'];
    let fault: SteleErrorJson | undefined;
    let endOffset = firstOffset;
    let done = firstOffset >= task.end;
    const splitter = new LineSplitter(
      {
        line: (chunk, start, end, offset) => {
          if (done) return;
          if (offset >= task.end) {
            done = true;
            return;
          }
          if (lines === 0) first = adopt(verifier, chunk, start, end);
          try {
            const checked = verifier.check(chunk, start, end, offset);
            if ((lines + 1) * 32 > hashes.length) {
              const grown = Buffer.allocUnsafe(hashes.length * 2);
              hashes.copy(grown);
              hashes = grown;
            }
            hashes.write(checked.hash, lines * 32, 'hex');
            lines++;
            last = { hash: checked.hash, ts: checked.event.ts };
            endOffset = offset + (end - start) + 1;
          } catch (err) {
            if (!isSteleError(err)) throw err;
            fault = err.toJSON();
            done = true;
          }
        },
        overlong: (offset, bytes) => {
          if (done) return;
          if (offset >= task.end) {
            done = true;
            return;
          }
          fault = verifier.overlong(offset, bytes).toJSON();
          done = true;
        },
      },
      limits.lineBytesMax,
      firstOffset,
    );
    let position = firstOffset;
    const buffer = Buffer.allocUnsafe(readChunkBytes);
    let ended = false;
    while (!done) {
      let n: number;
      try {
        n = fs.readSync(fd, buffer, 0, buffer.length, position);
      } catch (err) {
        throw ioError(err, task.file, 'read', position);
      }
      if (n === 0) {
        ended = true;
        break;
      }
      splitter.push(buffer.subarray(0, n));
      position += n;
    }
    let tail: RangeResult['tail'];
    if (ended && fault === undefined && task.last) {
      const t = splitter.finish();
      if (t.bytes > 0) tail = { offset: t.offset, bytes: t.bytes, data: t.data };
    }
    return { id: task.id, lines, hashes: hashes.subarray(0, lines * 32), firstOffset, first, last, endOffset, fault, tail };
  } finally {
    fs.closeSync(fd);
  }
}

/** Offset of the first line starting at or after `task.start`. */
function firstLineStart(fd: number, task: RangeTask): number {
  if (task.start === 0) return 0;
  const buffer = Buffer.allocUnsafe(64 * 1024);
  let position = task.start - 1;
  for (;;) {
    const n = fs.readSync(fd, buffer, 0, buffer.length, position);
    if (n === 0) return position;
    const nl = buffer.subarray(0, n).indexOf(10);
    if (nl !== -1) return position + nl + 1;
    position += n;
  }
}

/** Starts the verifier's head from the range's first line, so its own links are not checked here. */
function adopt(verifier: ChainVerifier, chunk: Buffer, start: number, end: number): RangeResult['first'] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(chunk.toString('utf8', start, end));
  } catch {
    return undefined;
  }
  if (!isEnvelope(parsed)) return undefined;
  verifier.head = { size: parsed.seq, headHash: parsed.prev, lastTs: parsed.ts };
  return { seq: parsed.seq, prev: parsed.prev, ts: parsed.ts };
}
