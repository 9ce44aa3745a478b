/**
 * Read-only random access to the log file for the read API: lines by position, through the
 * views' index (`src/views/log-index.ts`), one `pread` per run of lines. Opens the file
 * read-only and never writes (observers run on read-only copies).
 */
import fs from 'node:fs';
import { steleError } from '../errors.js';
import type { FileOps } from './file-ops.js';
import { nodeFileOps } from './file-ops.js';
import { ioError } from './file-store.js';
import type { LogIndex } from '../views/log-index.js';

export class LogReader {
  readonly #fd: number;
  readonly #file: string;
  readonly #ops: FileOps;

  /** `ops` injects faults in tests (node:fs by default). */
  constructor(file: string, ops: FileOps = nodeFileOps) {
    this.#file = file;
    this.#ops = ops;
    this.#fd = fs.openSync(file, 'r');
  }

  /** The lines `fromSeq` … `toSeq - 1` (without `\n`), which the index must cover. */
  lines(index: LogIndex, fromSeq: number, toSeq: number): Buffer[] {
    if (toSeq <= fromSeq) return [];
    const span = index.span(fromSeq, toSeq);
    const buf = Buffer.allocUnsafe(span.bytes);
    let read = 0;
    while (read < span.bytes) {
      let n: number;
      try {
        n = this.#ops.readSync(this.#fd, buf, read, span.bytes - read, span.offset + read);
      } catch (err) {
        // EIO and the like: a typed 503 naming the file and offset, not an internal error.
        throw ioError(err, this.#file, 'read', span.offset + read, fromSeq);
      }
      if (n === 0) {
        throw steleError('STELE_E_INTEGRITY_ALARM', `the log file ended at byte ${span.offset + read}, before the indexed events`, {
          where: { file: this.#file, offset: span.offset + read, seq: fromSeq },
          fix: 'the log shrank under this process: run stele verify on the data directory',
          detail: { kind: 'shrank' },
        });
      }
      read += n;
    }
    const out: Buffer[] = [];
    for (let seq = fromSeq; seq < toSeq; seq++) {
      const at = index.locate(seq);
      out.push(buf.subarray(at.offset - span.offset, at.offset - span.offset + at.bytes));
    }
    return out;
  }

  line(index: LogIndex, seq: number): Buffer {
    return this.lines(index, seq, seq + 1)[0]!;
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}
