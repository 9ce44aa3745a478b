/**
 * Random access into the log by position or time without an index, by bisection over the
 * file's bytes (the way look(1) searches a sorted file): `seq` grows by one per line and `ts`
 * never decreases (DESIGN.md §2), so a probe at any byte offset, moved to the next line
 * start, tells on which side the target lies. About 20 probes of one block each find any
 * line of a 300 MB log; the last 64 KiB window is scanned linearly.
 *
 * Probes parse only the line they land on and check nothing else: the caller verifies the
 * lines it then reads (chain from a trusted head). A probe that lands on a line that is not
 * JSON or has no integer `seq` / string `ts` is STELE_E_LINE_UNREADABLE naming its offset.
 *
 * Read-only: opens the file with 'r' and never writes (observers and auditors run on
 * read-only copies).
 */
import fs from 'node:fs';
import { isSteleError, steleError } from '../errors.js';
import { sha256Hex } from '../hash/sha256.js';
import { limits } from '../limits.js';

/** Below this many bytes between the bounds, the bisection scans lines linearly. */
export const seekWindowBytes = 64 * 1024;
const probeBytes = 4096;

interface ProbedLine {
  /** Byte offset of the line's first byte. */
  start: number;
  /** Byte offset just after its `\n`. */
  next: number;
  seq: number;
  ts: string;
}

export class LogSeeker {
  readonly #fd: number;
  readonly #label: string;
  /** Bytes in the file when opened: later appends are not seen. */
  readonly bytes: number;

  constructor(file: string, label = 'events.ndjson') {
    this.#label = label;
    try {
      this.#fd = fs.openSync(file, 'r');
      this.bytes = fs.fstatSync(this.#fd).size;
    } catch (err) {
      throw steleError('STELE_E_IO', `cannot open ${file}: ${(err as Error).message}`, { where: { file: label }, fix: 'check that the data directory exists and is readable' });
    }
  }

  close(): void {
    fs.closeSync(this.#fd);
  }

  /** Reads up to `length` bytes at `position` (fewer at the end of the file). */
  #read(position: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(Math.max(0, Math.min(length, this.bytes - position)));
    let done = 0;
    while (done < buf.length) {
      const n = fs.readSync(this.#fd, buf, done, buf.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done === buf.length ? buf : buf.subarray(0, done);
  }

  /** The bytes of the complete line starting at `start` (without `\n`), or undefined when no `\n` ends it. */
  lineAt(start: number): Buffer | undefined {
    let want = probeBytes;
    for (;;) {
      const buf = this.#read(start, want);
      const nl = buf.indexOf(10);
      if (nl >= 0) return buf.subarray(0, nl);
      if (start + buf.length >= this.bytes) return undefined;
      if (want > limits.lineBytesMax) {
        throw steleError('STELE_E_LINE_TOO_LARGE', `the line at byte ${start} is over ${limits.lineBytesMax} bytes`, {
          where: { file: this.#label, offset: start },
          fix: 'run stele verify: the log is damaged',
        });
      }
      want = Math.min(want * 8, limits.lineBytesMax + 1);
    }
  }

  /** The first complete line starting at or after `offset` (offset 0, or just after a `\n`). */
  #probe(offset: number): ProbedLine | undefined {
    let start = offset;
    if (offset > 0) {
      // Find the `\n` that ends the line containing byte offset - 1.
      let at = offset - 1;
      for (;;) {
        if (at >= this.bytes) return undefined;
        const buf = this.#read(at, probeBytes);
        const nl = buf.indexOf(10);
        if (nl >= 0) {
          start = at + nl + 1;
          break;
        }
        at += buf.length;
      }
    }
    if (start >= this.bytes) return undefined;
    const line = this.lineAt(start);
    if (line === undefined) return undefined;
    return { start, next: start + line.length + 1, ...this.#fields(line, start) };
  }

  #fields(line: Buffer, start: number): { seq: number; ts: string } {
    let value: unknown;
    try {
      value = JSON.parse(line.toString('utf8'));
    } catch {
      value = undefined;
    }
    const obj = value as { seq?: unknown; ts?: unknown } | undefined;
    if (typeof obj !== 'object' || obj === null || !Number.isSafeInteger(obj.seq) || typeof obj.ts !== 'string') {
      throw steleError('STELE_E_LINE_UNREADABLE', `the line at byte ${start} is not an event with a seq and a ts`, {
        where: { file: this.#label, offset: start },
        fix: 'run stele verify: the log is damaged',
      });
    }
    return { seq: obj.seq as number, ts: obj.ts };
  }

  /**
   * Bisects for the last line satisfying `before` (monotone: true, then false along the log).
   * Returns the start offset of the line to scan from: that line, or 0.
   */
  #bisect(before: (line: ProbedLine) => boolean): number {
    let lo = 0;
    let hi = this.bytes;
    while (hi - lo > seekWindowBytes) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const line = this.#probe(mid);
      if (line === undefined || line.start >= hi) {
        hi = mid;
        continue;
      }
      if (before(line)) lo = line.start;
      else hi = mid;
    }
    return lo;
  }

  /** Calls `visit` on each complete line from `start` on, until it returns false or the file ends. */
  #scan(start: number, visit: (line: ProbedLine) => boolean): void {
    let at = start;
    while (at < this.bytes) {
      const line = this.lineAt(at);
      if (line === undefined) return;
      const probed = { start: at, next: at + line.length + 1, ...this.#fields(line, at) };
      if (!visit(probed)) return;
      at = probed.next;
    }
  }

  /** SHA-256 (hex) of line `seq` (its event hash), or undefined when the file has no complete line `seq`. */
  lineHash(seq: number): string | undefined {
    let offset: number;
    try {
      offset = this.offsetOfSeq(seq);
    } catch (err) {
      if (isSteleError(err) && err.code === 'STELE_E_SIZE_OUT_OF_RANGE') return undefined;
      throw err;
    }
    const line = offset < this.bytes ? this.lineAt(offset) : undefined;
    return line === undefined ? undefined : sha256Hex(line);
  }

  /** The number of complete lines (events) in the file: the seq of the last one plus one. */
  count(): number {
    let size = 0;
    this.#scan(this.#bisect(() => true), (line) => {
      size = line.seq + 1;
      return true;
    });
    return size;
  }

  /**
   * Byte offset where line `seq` starts; `seq` equal to the number of complete lines gives
   * the offset after the last one. Throws STELE_E_SIZE_OUT_OF_RANGE beyond that.
   */
  offsetOfSeq(seq: number): number {
    if (seq === 0) return 0;
    const from = this.#bisect((line) => line.seq <= seq);
    let found: number | undefined;
    let lines = 0;
    let after = from;
    this.#scan(from, (line) => {
      if (line.seq === seq) {
        found = line.start;
        return false;
      }
      lines = line.seq + 1;
      after = line.next;
      return line.seq < seq;
    });
    if (found !== undefined) return found;
    if (lines === seq) return after;
    throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `the log holds ${lines} events, fewer than ${seq}`, {
      where: { file: this.#label },
      expected: `size <= ${lines}`,
      found: String(seq),
      fix: 'pick a position inside the log (stele status shows its size)',
    });
  }

  /**
   * The number of events whose `ts` is at or before `ts` (an RFC 3339 UTC time with
   * milliseconds, compared as text like the log's own ts): the log size as of that time.
   */
  sizeAtTime(ts: string): number {
    const from = this.#bisect((line) => line.ts <= ts);
    let size = 0;
    this.#scan(from, (line) => {
      if (line.ts > ts) return false;
      size = line.seq + 1;
      return true;
    });
    return size;
  }
}
