/**
 * An in-memory LogStore: the reference implementation of the store contract, and the store
 * of tests that exercise the writer without a disk. Durable only as long as the process.
 */
import { steleError } from '../errors.js';
import type { LogStore, StoredLine } from './log-store.js';
import { AppendSignal, followStore } from './log-store.js';

export class MemoryStore implements LogStore {
  readonly #lines: Buffer[] = [];
  readonly #offsets: number[] = [];
  #bytes = 0;
  readonly #appended = new AppendSignal();
  /** Test hook: fail the next append with this error (fault injection). */
  failNextAppend: Error | undefined;

  get size(): number {
    return this.#lines.length;
  }

  append(expectedSize: number, bytes: Buffer, count: number): Promise<void> {
    if (expectedSize !== this.#lines.length) {
      return Promise.reject(conflict(expectedSize, this.#lines.length));
    }
    if (this.failNextAppend !== undefined) {
      const err = this.failNextAppend;
      this.failNextAppend = undefined;
      return Promise.reject(err);
    }
    const lines: Buffer[] = [];
    let from = 0;
    while (from < bytes.length) {
      const nl = bytes.indexOf(10, from);
      if (nl === -1) return Promise.reject(new Error('MemoryStore.append: bytes must end with \\n'));
      lines.push(Buffer.from(bytes.subarray(from, nl)));
      from = nl + 1;
    }
    if (lines.length !== count) return Promise.reject(new Error(`MemoryStore.append: ${lines.length} lines, ${count} announced`));
    for (const line of lines) {
      this.#lines.push(line);
      this.#offsets.push(this.#bytes);
      this.#bytes += line.length + 1;
    }
    this.#appended.notify();
    return Promise.resolve();
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async *read(fromSeq: number, toSeq = this.#lines.length): AsyncIterable<StoredLine[]> {
    const end = Math.min(toSeq, this.#lines.length);
    const batchMax = 1024;
    for (let s = fromSeq; s < end; s += batchMax) {
      const batch: StoredLine[] = [];
      for (let i = s; i < Math.min(end, s + batchMax); i++) batch.push({ seq: i, offset: this.#offsets[i]!, line: this.#lines[i]! });
      yield batch;
    }
  }

  follow(fromSeq: number, signal: AbortSignal): AsyncIterable<StoredLine[]> {
    return followStore(this, this.#appended, fromSeq, signal);
  }

  close(): Promise<void> {
    this.#appended.notify();
    return Promise.resolve();
  }
}

export function conflict(expectedSize: number, size: number) {
  return steleError('STELE_E_CONFLICT', `the log has ${size} events, the append expected ${expectedSize}`, {
    expected: String(expectedSize),
    found: String(size),
    fix: 'read the current size and retry',
  });
}
