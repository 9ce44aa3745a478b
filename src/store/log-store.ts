/**
 * The storage interface under the log: the only thing a replicated backend (planned: NATS
 * JetStream, whose "expected last sequence" is exactly `expectedSize`) has to provide.
 *
 * A store keeps opaque lines; it knows nothing of JSON, hashes or trees. The writer hands
 * it whole, verified, `\n`-terminated lines; readers get them back in order.
 *
 * Contract (tested by one shared suite run against every implementation):
 * - `append(expectedSize, …)` fails with STELE_E_CONFLICT, writing nothing, unless the store
 *   holds exactly `expectedSize` lines; it resolves only once the lines are durable.
 * - A failed append leaves the store as it was before the call (whole lines only).
 * - A store that can no longer acknowledge safely (an fdatasync error, a deleted file) sets
 *   `failure` and refuses every later append with it; the writer then stops.
 * - `read` yields lines `[fromSeq, toSeq)` in order, in batches; `follow` does the same and
 *   then waits for new appends until its signal aborts.
 */
import type { SteleError } from '../errors.js';

export interface StoredLine {
  seq: number;
  /** Byte offset of the line in the store's byte stream (file offset for the file store). */
  offset: number;
  /** The line without its `\n`. */
  line: Buffer;
}

export interface LogStore {
  /** Lines durably stored. */
  readonly size: number;
  /** Set once the store refuses every further append (restart needed); undefined while healthy. */
  readonly failure?: SteleError | undefined;
  /** Appends `count` lines (`bytes` is their concatenation, each ending in `\n`). */
  append(expectedSize: number, bytes: Buffer, count: number): Promise<void>;
  /** Lines `[fromSeq, toSeq)` (to the current size when `toSeq` is omitted), in batches. */
  read(fromSeq: number, toSeq?: number): AsyncIterable<StoredLine[]>;
  /** Lines from `fromSeq` on, then new ones as they are appended, until `signal` aborts. */
  follow(fromSeq: number, signal: AbortSignal): AsyncIterable<StoredLine[]>;
  close(): Promise<void>;
}

/** Waits for the next append of a store, or for an abort. Shared by the implementations. */
export class AppendSignal {
  #waiters: (() => void)[] = [];

  notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  wait(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** `follow` in terms of `read` and an AppendSignal; implementations share it. */
export async function* followStore(
  store: Pick<LogStore, 'size' | 'read'>,
  appended: AppendSignal,
  fromSeq: number,
  signal: AbortSignal,
): AsyncIterable<StoredLine[]> {
  let next = fromSeq;
  while (!signal.aborted) {
    const size = store.size;
    if (next < size) {
      for await (const batch of store.read(next, size)) {
        yield batch;
        const last = batch[batch.length - 1];
        if (last !== undefined) next = last.seq + 1;
        if (signal.aborted) return;
      }
      continue;
    }
    await appended.wait(signal);
  }
}
