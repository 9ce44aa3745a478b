/**
 * The derived tree file (`index/tree.hashes`): the log tree's stored hashes (see
 * `merkle/log-tree.ts`), 32 bytes each, in stored-hash order, nothing else. It is the
 * file-backed `HashReader` that serves roots and proofs of any size without a rescan.
 *
 * Invariants:
 * - `count` = ⌊file length / 32⌋. A trailing partial hash (a torn write) is ignored, and cut
 *   when the file is opened writable.
 * - Derived, never authoritative: it is checked against the log on the writer's open and
 *   rebuilt from there when missing or wrong, so appends are not fsynced. Appends are
 *   positional writes at count × 32, so a failed or partial write is overwritten by the next.
 * - Appends are buffered in memory and written once `pendingHashesMax` hashes are waiting
 *   (and on `flush`/`close`): one syscall per ~256 KiB instead of one per group commit, off
 *   the writer's ack path. Reads see buffered hashes. A failed write (disk full) keeps the
 *   hashes buffered and is retried by the next flush; the log itself is unaffected.
 * - Read-only opens never write, truncate or create: the observer's contract (DESIGN.md §1.6).
 */
import fs from 'node:fs';
import type { SteleError } from '../errors.js';
import { steleError } from '../errors.js';
import type { HashReader } from '../merkle/log-tree.js';
import { nodeFileOps, writeAll } from './file-ops.js';

const hashBytes = 32;
/** Buffered hashes that trigger a write (8,192 × 32 B = 256 KiB). */
export const pendingHashesMax = 8192;

export class TreeFile implements HashReader {
  #fd: number | undefined;
  /** Hashes in the file. */
  #count: number;
  /** Hashes appended but not yet written, in order, after the file's. */
  #pending: Buffer[] = [];
  #pendingCount = 0;
  /** The last failed background write, if the retry has not succeeded yet. */
  #writeError: SteleError | undefined;

  private constructor(
    readonly file: string,
    fd: number,
    private readonly readOnly: boolean,
    count: number,
  ) {
    this.#fd = fd;
    this.#count = count;
  }

  /** Opens (and when writable, creates) the tree file; a writable open cuts a trailing partial hash. */
  static open(file: string, options: { readOnly: boolean }): TreeFile {
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, options.readOnly ? 'r' : fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
      const bytes = fs.fstatSync(fd).size;
      const count = Math.floor(bytes / hashBytes);
      if (!options.readOnly && bytes !== count * hashBytes) fs.ftruncateSync(fd, count * hashBytes);
      return new TreeFile(file, fd, options.readOnly, count);
    } catch (err) {
      if (fd !== undefined) fs.closeSync(fd);
      throw treeIoError(err, file, 'open');
    }
  }

  /** Number of whole stored hashes, written or buffered. */
  get count(): number {
    return this.#count + this.#pendingCount;
  }

  /** Set while buffered hashes could not be written (e.g. disk full); cleared by a successful flush. */
  get writeError(): SteleError | undefined {
    return this.#writeError;
  }

  /** Appends hashes at the end (buffered; see the file comment). Never throws for I/O. */
  append(hashes: readonly Uint8Array[]): void {
    this.#writableFd('append to');
    if (hashes.length === 0) return;
    const bytes = Buffer.allocUnsafe(hashes.length * hashBytes);
    for (let i = 0; i < hashes.length; i++) {
      const hash = hashes[i]!;
      if (hash.length !== hashBytes) throw new Error(`stele bug: stored hash of ${hash.length} bytes`);
      bytes.set(hash, i * hashBytes);
    }
    this.#pending.push(bytes);
    this.#pendingCount += hashes.length;
    if (this.#pendingCount >= pendingHashesMax) this.#tryFlush();
  }

  /** Writes buffered hashes now; throws the I/O error if that fails (they stay buffered). */
  flush(): void {
    this.#tryFlush();
    if (this.#writeError !== undefined) throw this.#writeError;
  }

  #tryFlush(): void {
    if (this.#pendingCount === 0) return;
    const fd = this.#writableFd('append to');
    const bytes = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    const position = this.#count * hashBytes;
    try {
      // One write in practice; writeAll only loops over a short write.
      writeAll(nodeFileOps, fd, bytes, position);
    } catch (err) {
      this.#pending = [bytes];
      this.#writeError = treeIoError(err, this.file, 'append to', position);
      return;
    }
    this.#count += this.#pendingCount;
    this.#pending = [];
    this.#pendingCount = 0;
    this.#writeError = undefined;
  }

  /**
   * Reads the hash at each stored index with positional reads, one per run of consecutive
   * indexes (a proof is a few scattered indexes; the writer's startup check reads long runs).
   * An index ≥ count is STELE_E_SIZE_OUT_OF_RANGE.
   */
  readHashes(indexes: readonly number[]): Uint8Array[] {
    const fd = this.#openFd();
    const bytes = Buffer.allocUnsafe(indexes.length * hashBytes);
    for (const index of indexes) {
      if (!Number.isSafeInteger(index) || index < 0 || index >= this.count) {
        throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `stored hash ${index} does not exist: ${this.file} holds ${this.count}`, {
          where: { file: this.file },
          fix: 'ask for a tree size no larger than the log; if the log is longer, open the data directory with the writer to rebuild the tree file',
        });
      }
    }
    const buffered = this.#pendingCount === 0 ? undefined : this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    if (buffered !== undefined) this.#pending = [buffered];
    let i = 0;
    while (i < indexes.length) {
      if (indexes[i]! >= this.#count) {
        // A buffered hash: copy it from memory.
        const at = (indexes[i]! - this.#count) * hashBytes;
        buffered!.copy(bytes, i * hashBytes, at, at + hashBytes);
        i++;
        continue;
      }
      let run = 1;
      while (i + run < indexes.length && indexes[i + run] === indexes[i]! + run && indexes[i + run]! < this.#count) run++;
      const position = indexes[i]! * hashBytes;
      try {
        let done = 0;
        while (done < run * hashBytes) {
          const n = fs.readSync(fd, bytes, i * hashBytes + done, run * hashBytes - done, position + done);
          if (n <= 0) throw Object.assign(new Error('the file ended early (shortened by another process?)'), { code: 'EIO' });
          done += n;
        }
      } catch (err) {
        throw treeIoError(err, this.file, 'read', position);
      }
      i += run;
    }
    const out: Uint8Array[] = new Array<Uint8Array>(indexes.length);
    for (let j = 0; j < indexes.length; j++) out[j] = bytes.subarray(j * hashBytes, (j + 1) * hashBytes);
    return out;
  }

  /** Keeps the first `count` hashes (never lengthens: a larger count is STELE_E_SIZE_OUT_OF_RANGE). */
  truncate(count: number): void {
    const fd = this.#writableFd('truncate');
    if (!Number.isSafeInteger(count) || count < 0 || count > this.count) {
      throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `cannot truncate ${this.file} from ${this.count} stored hashes to ${count}`, {
        where: { file: this.file },
        fix: `pass a count in 0…${this.count}: truncate only shortens`,
      });
    }
    if (count >= this.#count) {
      // Only buffered hashes go.
      const keep = count - this.#count;
      const buffered = Buffer.concat(this.#pending);
      this.#pending = keep === 0 ? [] : [buffered.subarray(0, keep * hashBytes)];
      this.#pendingCount = keep;
      return;
    }
    this.#pending = [];
    this.#pendingCount = 0;
    try {
      fs.ftruncateSync(fd, count * hashBytes);
    } catch (err) {
      throw treeIoError(err, this.file, 'truncate');
    }
    this.#count = count;
  }

  /** Writes buffered hashes (best effort: the file is derived) and closes the file; further calls are STELE_E_CLOSED. Closing twice is a no-op. */
  close(): void {
    if (this.#fd === undefined) return;
    if (!this.readOnly) this.#tryFlush();
    const fd = this.#fd;
    this.#fd = undefined;
    try {
      fs.closeSync(fd);
    } catch (err) {
      throw treeIoError(err, this.file, 'close');
    }
  }

  #openFd(): number {
    if (this.#fd === undefined) {
      throw steleError('STELE_E_CLOSED', `the tree file ${this.file} is closed`, { where: { file: this.file }, fix: 'open it again' });
    }
    return this.#fd;
  }

  #writableFd(op: string): number {
    const fd = this.#openFd();
    if (this.readOnly) {
      throw steleError('STELE_E_DATA_DIR_UNWRITABLE', `cannot ${op} ${this.file}: it is open read-only`, {
        where: { file: this.file },
        fix: 'only the writer changes the tree file; open it with { readOnly: false } while holding the writer lock',
      });
    }
    return fd;
  }
}

/** Wraps an fs error: STELE_E_DISK_FULL for a full disk, STELE_E_IO otherwise, with the place and the fix. */
function treeIoError(err: unknown, file: string, op: string, offset?: number): SteleError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = offset === undefined ? { file } : { file, offset };
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return steleError('STELE_E_DISK_FULL', `no space left on the device to ${op} ${file}`, {
      where,
      fix: 'free disk space; the tree file is derived, and is checked and completed from the log on the next open',
      cause: err,
    });
  }
  return steleError('STELE_E_IO', `cannot ${op} ${file}: ${(err as Error).message}`, {
    where,
    fix:
      code === 'ENOENT'
        ? 'the tree file is derived from the log: open the data directory with the writer once to rebuild it'
        : 'check the path, its permissions and the disk; the tree file is derived, so deleting it is safe: the writer rebuilds it from the log',
    cause: err,
  });
}
