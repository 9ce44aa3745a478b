/**
 * The file operations the log's hot path uses, behind a small interface so that tests can
 * inject faults (ENOSPC after N bytes, short writes, a write returning 0, EIO on read, a
 * failing fdatasync) through the real FileStore code, not a mock of it.
 *
 * Invariants:
 * - `nodeFileOps` is node:fs itself: the functions are the library's own, bound once, so the
 *   default costs one property load per call and allocates nothing per append.
 * - Implementations keep node:fs semantics: `writeSync` may write fewer bytes than asked (the
 *   caller loops), errors are thrown/rejected as `NodeJS.ErrnoException` with a `code`.
 */
import fs from 'node:fs';
import { promisify } from 'node:util';

export interface FileOps {
  /** Positional write; returns the bytes written (possibly fewer than `length`). */
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  /** Makes the file's data durable (fdatasync(2)). */
  fdatasync(fd: number): Promise<void>;
  /** Positional read; resolves with the bytes read (0 at the end of the file). */
  read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  /** Synchronous positional read, for the read API's random access. */
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  ftruncateSync(fd: number, length: number): void;
  /** Links to the open file: 0 once it was deleted (or its directory removed) under us. */
  linksOf(fd: number): number;
}

const fdatasync = promisify(fs.fdatasync);
const read = promisify(fs.read);

export const nodeFileOps: FileOps = {
  writeSync: (fd, buffer, offset, length, position) => fs.writeSync(fd, buffer, offset, length, position),
  fdatasync,
  read: (fd, buffer, offset, length, position) => read(fd, buffer, offset, length, position),
  readSync: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  ftruncateSync: (fd, length) => fs.ftruncateSync(fd, length),
  linksOf: (fd) => fs.fstatSync(fd).nlink,
};

/** Writes all of `bytes` at `position`, looping over short writes; a write of 0 bytes is EIO. */
export function writeAll(ops: FileOps, fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    const n = ops.writeSync(fd, bytes, done, bytes.length - done, position + done);
    if (n <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
    done += n;
  }
}
