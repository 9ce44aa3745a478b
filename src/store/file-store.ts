/**
 * The file-backed LogStore: `<data>/events.ndjson`, appended with positional writes and made
 * durable with fdatasync before an append resolves.
 *
 * Invariants:
 * - `size`/`endOffset` only ever cover bytes that were fdatasynced.
 * - A failed write is cut back (ftruncate) to the last whole acknowledged line before the
 *   error is reported, so the file keeps only whole acknowledged lines.
 * - If the cut back itself fails, the store refuses every further append (a later batch
 *   written at the same offset could leave torn bytes after it, in the middle of the log).
 * - After an fdatasync error the store refuses every further append (the kernel may have
 *   dropped the dirty pages, so retrying could acknowledge data that is not on disk; see
 *   docs/decisions.md "An fsync error stops the writer"). The unacknowledged batch is cut
 *   back (best effort) so that a rebuild or a restart sees only acknowledged lines.
 * - Before acknowledging, the store checks that the file still has a link: a log deleted
 *   under the writer (or its data directory removed) would otherwise take acknowledged
 *   events with it when the process exits. One fstat per batch, not per event.
 * - File operations go through `FileOps` (src/store/file-ops.ts): node:fs by default, faults
 *   injected in tests.
 * - One append at a time: the writer's group commit serialises them (asserted).
 * - Reads seek through a sparse offset index (one offset per `offsetIndexEvery` events,
 *   8 bytes per 1,024 events) and stream in chunks: O(1) memory in the log's length.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { LineSplitter } from '../log/line-splitter.js';
import { limits } from '../limits.js';
import type { LogStore, StoredLine } from './log-store.js';
import { AppendSignal, followStore } from './log-store.js';
import { conflict } from './memory-store.js';
import type { FileOps } from './file-ops.js';
import { nodeFileOps, writeAll } from './file-ops.js';

/** One sparse-index entry per this many events. */
export const offsetIndexEvery = 1024;
/** Bytes read per chunk when streaming the log. */
export const readChunkBytes = 1024 * 1024;

export interface FileStoreState {
  size: number;
  endOffset: number;
  /** offsets[i] = byte offset of seq i * offsetIndexEvery. */
  sparseOffsets: number[];
}

export class FileStore implements LogStore {
  #size: number;
  #end: number;
  readonly #sparse: number[];
  readonly #appended = new AppendSignal();
  #appending = false;
  #failed: SteleError | undefined;
  #closed = false;

  private constructor(
    readonly file: string,
    private readonly fd: number,
    private readonly readOnly: boolean,
    state: FileStoreState,
    private readonly ops: FileOps,
  ) {
    this.#size = state.size;
    this.#end = state.endOffset;
    this.#sparse = state.sparseOffsets;
  }

  /** Opens the log file with a known verified state (from the startup scan). */
  static open(file: string, state: FileStoreState, options: { readOnly: boolean; ops?: FileOps }): FileStore {
    return new FileStore(file, openFile(file, options.readOnly ? 'r' : 'r+'), options.readOnly, state, options.ops ?? nodeFileOps);
  }

  get size(): number {
    return this.#size;
  }

  get endOffset(): number {
    return this.#end;
  }

  /** Set once the store cannot go on (fdatasync failed, a cut back failed, the file was deleted): it then refuses all appends. */
  get failure(): SteleError | undefined {
    return this.#failed;
  }

  async append(expectedSize: number, bytes: Buffer, count: number): Promise<void> {
    assert.ok(!this.#appending, 'FileStore.append called while another append is in flight');
    if (this.readOnly) throw steleError('STELE_E_DATA_DIR_UNWRITABLE', 'the log is open read-only', { where: { file: this.file } });
    if (this.#closed) throw steleError('STELE_E_CLOSED', 'the log is closed', { where: { file: this.file } });
    if (this.#failed !== undefined) throw this.#failed;
    if (expectedSize !== this.#size) throw conflict(expectedSize, this.#size);
    this.#appending = true;
    const ops = this.ops;
    try {
      const start = this.#end;
      const where = { file: this.file, offset: start, seq: this.#size };
      try {
        writeAll(ops, this.fd, bytes, start);
      } catch (err) {
        // Cut back to the last acknowledged line so the file never keeps a partial batch.
        const error = ioError(err, this.file, 'write', start, this.#size);
        try {
          ops.ftruncateSync(this.fd, start);
        } catch (truncateErr) {
          this.#failed = steleError('STELE_E_IO', `a failed write could not be cut back (${(truncateErr as Error).message}); the writer stopped acknowledging`, {
            where,
            fix: 'restart the writer once the disk is healthy: the open re-verifies the log and moves the torn tail to quarantine',
            cause: err,
          });
          throw this.#failed;
        }
        throw error;
      }
      try {
        await ops.fdatasync(this.fd);
      } catch (err) {
        // Never retried: after a failed fsync the page cache may have dropped our pages
        // (the "fsyncgate" lesson). Stop acknowledging; recovery happens by reopening.
        this.#failed = steleError('STELE_E_IO', `fdatasync failed: ${(err as Error).message}; the writer stopped acknowledging`, {
          where,
          fix: 'check the disk (dmesg), then restart the writer: it re-verifies the log from disk before accepting appends. Events acknowledged before this error are durable; this batch was not acknowledged',
          cause: err,
        });
        try {
          ops.ftruncateSync(this.fd, start);
        } catch {
          // Best effort: the lines were never acknowledged; a restart verifies whatever is there.
        }
        throw this.#failed;
      }
      this.#checkLinked(where);
      this.#indexOffsets(bytes, start);
      this.#size += count;
      this.#end = start + bytes.length;
    } finally {
      this.#appending = false;
    }
    this.#appended.notify();
  }

  /** Refuses to acknowledge into a file that no longer has a name (deleted, or its directory removed). */
  #checkLinked(where: { file: string; offset: number; seq: number }): void {
    let links: number;
    try {
      links = this.ops.linksOf(this.fd);
    } catch (err) {
      this.#failed = ioError(err, this.file, 'stat', where.offset, where.seq);
      throw this.#failed;
    }
    if (links > 0) return;
    try {
      // The batch is not acknowledged: keep the orphan to the acknowledged lines, so that the
      // rescue copy the fix describes holds exactly those.
      this.ops.ftruncateSync(this.fd, where.offset);
    } catch {
      // Best effort: a restart verifies whatever the rescued copy holds.
    }
    this.#failed = steleError('STELE_E_DATA_DIR_MISSING', `the log file ${this.file} was deleted (or its data directory removed) while the writer ran; the writer stopped acknowledging`, {
      where,
      fix: `the deleted log is still open in this process: before stopping it, copy it back with cp /proc/${process.pid}/fd/${this.fd} ${this.file} (recreate the directory first), then restart the writer; or restore the data directory from a backup`,
      detail: { pid: process.pid, fd: this.fd },
    });
    throw this.#failed;
  }

  #indexOffsets(bytes: Buffer, start: number): void {
    let seq = this.#size;
    let at = 0;
    while (at < bytes.length) {
      if (seq % offsetIndexEvery === 0) this.#sparse[seq / offsetIndexEvery] = start + at;
      const nl = bytes.indexOf(10, at);
      assert.ok(nl !== -1, 'appended bytes must end with a newline');
      at = nl + 1;
      seq++;
    }
  }

  async *read(fromSeq: number, toSeq?: number): AsyncIterable<StoredLine[]> {
    const end = Math.min(toSeq ?? this.#size, this.#size);
    if (fromSeq >= end) return;
    const slot = Math.floor(fromSeq / offsetIndexEvery);
    let seq = slot * offsetIndexEvery;
    let position = this.#sparse[slot] ?? 0;
    if (this.#sparse[slot] === undefined) seq = 0;
    const endOffset = this.#end;
    let batch: StoredLine[] = [];
    let done = false;
    const splitter = new LineSplitter(
      {
        line: (chunk, start, stop, offset) => {
          if (done) return;
          if (seq >= fromSeq && seq < end) batch.push({ seq, offset, line: chunk.subarray(start, stop) });
          seq++;
          if (seq >= end) done = true;
        },
        overlong: (offset) => {
          throw steleError('STELE_E_LINE_TOO_LARGE', 'a log line exceeds the line limit', {
            where: { file: this.file, seq, line: seq + 1, offset },
            fix: 'run stele verify to locate the damage',
          });
        },
      },
      limits.lineBytesMax,
      position,
    );
    while (!done && position < endOffset) {
      const chunk = Buffer.allocUnsafe(Math.min(readChunkBytes, endOffset - position));
      let n: number;
      try {
        ({ bytesRead: n } = await this.ops.read(this.fd, chunk, 0, chunk.length, position));
      } catch (err) {
        throw ioError(err, this.file, 'read', position, seq);
      }
      if (n === 0) break;
      splitter.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      position += n;
      if (batch.length > 0) {
        yield batch;
        batch = [];
      }
    }
  }

  follow(fromSeq: number, signal: AbortSignal): AsyncIterable<StoredLine[]> {
    return followStore(this, this.#appended, fromSeq, signal);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#appended.notify();
    fs.closeSync(this.fd);
    return Promise.resolve();
  }
}

/** Opens a file, turning an fs error into a typed one (ENOENT, EACCES, EIO… with the file named). */
export function openFile(file: string, flags: string | number): number {
  try {
    return fs.openSync(file, flags);
  } catch (err) {
    throw ioError(err, file, 'open');
  }
}

/** An fs error as a typed one: ENOSPC → STELE_E_DISK_FULL, EACCES/EPERM/EROFS → STELE_E_DATA_DIR_UNWRITABLE, ENOENT on a write → STELE_E_DATA_DIR_MISSING, else STELE_E_IO; with the place. */
export function ioError(err: unknown, file: string, op: string, offset?: number, seq?: number): SteleError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = { file, ...(offset === undefined ? {} : { offset }), ...(seq === undefined ? {} : { seq }) };
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return steleError('STELE_E_DISK_FULL', `no space left on the device (${op})`, {
      where,
      fix: 'free disk space; appends succeed again without a restart and nothing acknowledged was lost',
      cause: err,
    });
  }
  if (code === 'ENOENT' && op !== 'open' && !op.startsWith('read')) {
    return steleError('STELE_E_DATA_DIR_MISSING', `cannot ${op} ${file}: its directory no longer exists`, {
      where,
      fix: 'the data directory (or a directory in it) was removed while stele ran: stop the writer, restore the data directory from a backup, restart',
      cause: err,
    });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return steleError('STELE_E_DATA_DIR_UNWRITABLE', `cannot ${op} ${file}: ${code}`, {
      where,
      fix: 'restore write permission on the data directory, or mount it read-write',
      cause: err,
    });
  }
  return steleError('STELE_E_IO', `cannot ${op} ${file}: ${(err as Error).message}`, {
    where,
    fix: 'check the disk and the file system (dmesg); then restart: the log is re-verified on open',
    cause: err,
  });
}
