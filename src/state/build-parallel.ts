/**
 * Bulk build of the state tree (DESIGN.md §3) from key strings and JSON values, on two
 * threads: what loading a snapshot or re-deriving a large state pays once.
 *
 * Why threads: a 1M-key state costs ~4.4M SHA-256 calls (keyHash, valueHash and leaf per key,
 * ~1.44 node hashes per key with the zero-sibling levels), and a node:crypto call costs
 * ~0.45 µs however small its input; with canonicalization that is ~2.5–3 s on one core of
 * this project's machines. The work splits in two phases:
 * 1. Leaf hashing, self-balancing. Only the main thread can canonicalize the values (they
 *    are its objects). It walks the entries in chunks; while the worker has fewer than
 *    `chunksInFlight` chunks queued, it hands the next one over as UTF-8 key and value texts
 *    in shared memory (the worker hashes key, value and leaf), otherwise it hashes that chunk
 *    itself. So neither thread waits, whatever the machine's load or the values' size.
 * 2. Sorting and branch nodes, one side of bit 0 per thread. Each thread sorts the leaves of
 *    its side, drops duplicates and builds the side's subtree in place with
 *    `buildStateRange` (node ids are positions in the sorted order, and the sides own
 *    disjoint position ranges); the main thread joins the two roots. If every key falls on
 *    one side of bit 0 (tiny or adversarial states) the main thread builds it all.
 * Everything lives in SharedArrayBuffer-backed arenas that the resulting StateTree adopts,
 * so nothing is copied back.
 *
 * Invariants:
 * - The result equals `StateTree.build` of the same (keyHash, valueHash) pairs, byte for byte
 *   (a test compares them); a later entry for the same key overrides an earlier one.
 * - Every hand-over of shared memory is ordered by an Atomics store before the message and an
 *   Atomics load after it, so the JS memory model (not only the engine's message queue)
 *   guarantees the reader sees the writer's bytes.
 * - The worker is terminated on every path, including a value that fails to canonicalize.
 *
 * Shell side: it spawns a worker from this file's compiled .js, so it runs from `dist/` (the
 * service, the CLI, the benchmarks), not from TypeScript sources under vitest.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { canonicalize } from '../canonical/json.js';
import { sha256Into, sha256Utf8Into } from './sha256-into.js';
import type { StateArenas } from './smt.js';
import { allocateStateArenas, buildStateRange, hashStateLeaves, joinStateRanges, sortStateLeaves, stateHashBytes, StateTree } from './smt.js';

/** Below this many entries one thread wins: starting a worker costs ~30–50 ms. */
export const parallelEntriesMin = 50_000;

/** Entries per chunk handed to the worker: ~5 ms of its work, so a message is noise and the balance is fine-grained. */
const chunkEntries = 4096;

/** Chunks the worker may have queued before the main thread hashes a chunk itself: enough that it never starves. */
const chunksInFlight = 2;

const workerMarker = 'stele.state.build-parallel';

/** `sync` slots. Every hand-over of shared memory is an Atomics write before the message and an Atomics read after it. */
const fenceToWorker = 0;
/** Chunks the worker has hashed; written by it after each one, read by the main thread to balance. */
const chunksDone = 1;

type ToWorker =
  | { type: 'init'; arenas: StateArenas; sync: Int32Array }
  | { type: 'hash'; from: number; to: number; text: Uint8Array; ends: Int32Array }
  | { type: 'flush' }
  | { type: 'side'; order: Int32Array; top: number };

type FromWorker = { type: 'hashed' } | { type: 'built'; root: number; kept: number; dropped: number[] };

export interface BuildStateOptions {
  /** Threads to use: 1 (this thread only) or 2 (this one and a worker, the default). */
  threads?: 1 | 2;
}

function toList(entries: Iterable<readonly [string, unknown]>): readonly (readonly [string, unknown])[] {
  return Array.isArray(entries) ? (entries as readonly (readonly [string, unknown])[]) : [...entries];
}

/**
 * The state tree of `entries` (key → JSON value) on this thread alone: keyHash and valueHash
 * straight into the arenas (no allocation per entry), then `StateTree`'s bulk build. A value
 * outside the JSON data model throws canonicalize's typed SteleError.
 */
export function buildStateTreeSync(entries: Iterable<readonly [string, unknown]>): StateTree {
  const list = toList(entries);
  const n = list.length;
  const arenas = allocateStateArenas(n);
  for (let i = 0; i < n; i++) {
    const [key, value] = list[i]!;
    sha256Utf8Into(key, arenas.keys, i * stateHashBytes);
    sha256Utf8Into(canonicalize(value), arenas.values, i * stateHashBytes);
  }
  hashStateLeaves(sha256Into, arenas, 0, n);
  const sorted = sortStateLeaves(arenas.keys, n);
  const m = sorted.order.length;
  const root = m === 0 ? 0 : buildStateRange(sha256Into, arenas, sorted.order, 0, m, 0, sorted.prefixes);
  return StateTree.fromArenas(arenas, { leafCount: n, freeLeaves: sorted.dropped, root });
}

/**
 * The state tree of `entries` (key → JSON value), built on two threads when there are at
 * least `parallelEntriesMin` entries (see the file header), else on this one. Same result as
 * `buildStateTreeSync`. A value outside the JSON data model rejects with canonicalize's typed
 * SteleError; a worker that fails to start or crashes rejects with its error.
 */
export async function buildStateTree(entries: Iterable<readonly [string, unknown]>, options: BuildStateOptions = {}): Promise<StateTree> {
  const list = toList(entries);
  const n = list.length;
  if ((options.threads ?? 2) === 1 || n < parallelEntriesMin) return buildStateTreeSync(list);

  const arenas = allocateStateArenas(n, (bytes) => new SharedArrayBuffer(bytes));
  const sync = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(new URL(import.meta.url), { workerData: { [workerMarker]: true } });
  const inbox = new Inbox(worker);
  try {
    const post = (message: ToWorker): void => worker.postMessage(message);
    post({ type: 'init', arenas, sync });

    // 1. Leaf hashing, chunk by chunk, each chunk to whichever thread is free.
    const texts: string[] = [];
    let handed = 0;
    for (let from = 0; from < n; from += chunkEntries) {
      const to = Math.min(from + chunkEntries, n);
      if (handed - Atomics.load(sync, chunksDone) < chunksInFlight) {
        texts.length = 0;
        let bound = 0;
        for (let i = from; i < to; i++) {
          const [key, value] = list[i]!;
          const text = canonicalize(value);
          texts.push(key, text);
          bound += 3 * (key.length + text.length); // UTF-8 takes at most 3 bytes per UTF-16 code unit
        }
        const text = Buffer.from(new SharedArrayBuffer(bound));
        const ends = new Int32Array(new SharedArrayBuffer(4 * texts.length));
        let at = 0;
        for (let j = 0; j < texts.length; j++) {
          at += text.write(texts[j]!, at);
          ends[j] = at;
        }
        Atomics.add(sync, fenceToWorker, 1);
        post({ type: 'hash', from, to, text, ends });
        handed++;
      } else {
        for (let i = from; i < to; i++) {
          const [key, value] = list[i]!;
          sha256Utf8Into(key, arenas.keys, i * stateHashBytes);
          sha256Utf8Into(canonicalize(value), arenas.values, i * stateHashBytes);
        }
        hashStateLeaves(sha256Into, arenas, from, to);
      }
    }
    post({ type: 'flush' });
    await inbox.next('hashed');
    Atomics.load(sync, chunksDone);

    // 2. One side of bit 0 per thread, laid out at [0, n0) and [n0, n) of one shared order.
    const keys = arenas.keys;
    const ones = leavesWithBit0(keys, n, 1);
    const n0 = n - ones.length;
    if (n0 === 0 || ones.length === 0) {
      const sorted = sortStateLeaves(keys, n);
      const root = buildStateRange(sha256Into, arenas, sorted.order, 0, sorted.order.length, 0, sorted.prefixes);
      return StateTree.fromArenas(arenas, { leafCount: n, freeLeaves: sorted.dropped, root });
    }
    const order = new Int32Array(new SharedArrayBuffer(4 * n));
    Atomics.add(sync, fenceToWorker, 1);
    post({ type: 'side', order, top: 1 });
    const mine = sortStateLeaves(keys, ones);
    order.set(mine.order, n0);
    const n1 = mine.order.length;
    const right = buildStateRange(sha256Into, arenas, order, n0, n0 + n1, 1, mine.prefixes);
    const left = await inbox.next('built');
    Atomics.load(sync, chunksDone);
    if (left.type !== 'built') throw new Error('stele bug in state/build-parallel: unexpected reply');
    // The root splits on bit 0 and takes the slot of the boundary between the sides; slots
    // left over by dropped duplicates at the end of each side are free.
    const root = joinStateRanges(sha256Into, arenas, order, { node: n0 - 1, split: 0 }, left.root, right, 0);
    const freeNodes: number[] = [];
    for (let id = Math.max(left.kept - 1, 0); id < n0 - 1; id++) freeNodes.push(id);
    for (let id = n0 + n1 - 1; id < n - 1; id++) freeNodes.push(id);
    return StateTree.fromArenas(arenas, { leafCount: n, freeLeaves: [...left.dropped, ...mine.dropped], nodeCount: n - 1, freeNodes, root });
  } finally {
    await worker.terminate();
  }
}

/** The leaves [0, n) whose keyHash has bit 0 equal to `bit`. */
function leavesWithBit0(keys: Uint8Array, n: number, bit: 0 | 1): Int32Array {
  let count = 0;
  for (let i = 0; i < n; i++) if (keys[i * stateHashBytes]! >>> 7 === bit) count++;
  const out = new Int32Array(count);
  let w = 0;
  for (let i = 0; i < n; i++) if (keys[i * stateHashBytes]! >>> 7 === bit) out[w++] = i;
  return out;
}

/** The worker's replies, in order, as promises; an error or exit of the worker rejects. */
class Inbox {
  readonly #queue: FromWorker[] = [];
  #waiter: { type: FromWorker['type']; resolve: (m: FromWorker) => void; reject: (e: Error) => void } | undefined;
  #failure: Error | undefined;

  constructor(worker: Worker) {
    worker.on('message', (message: FromWorker) => {
      this.#queue.push(message);
      this.#deliver();
    });
    worker.on('error', (err) => this.#fail(err));
    worker.on('exit', (code) => this.#fail(new Error(`state build worker exited with code ${code}`)));
  }

  next(type: FromWorker['type']): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      this.#waiter = { type, resolve, reject };
      this.#deliver();
    });
  }

  #deliver(): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    const message = this.#queue.shift();
    if (message !== undefined) {
      this.#waiter = undefined;
      if (message.type === waiter.type) waiter.resolve(message);
      else waiter.reject(new Error(`stele bug in state/build-parallel: expected ${waiter.type}, got ${message.type}`));
    } else if (this.#failure !== undefined) {
      this.#waiter = undefined;
      waiter.reject(this.#failure);
    }
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.#deliver();
  }
}

/** The worker side: hashes the chunks it is sent, then sorts and builds the 0 side of bit 0. */
function serveBuild(port: NonNullable<typeof parentPort>): void {
  let arenas: StateArenas | undefined;
  let sync: Int32Array | undefined;
  const ready = (): { arenas: StateArenas; sync: Int32Array } => {
    if (arenas === undefined || sync === undefined) throw new Error('stele bug in state/build-parallel: work before init');
    return { arenas, sync };
  };
  port.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'init':
        arenas = message.arenas;
        sync = message.sync;
        return;
      case 'hash': {
        const w = ready();
        Atomics.load(w.sync, fenceToWorker);
        const { from, text, ends } = message;
        let at = 0;
        for (let j = 0; j < ends.length; j += 2) {
          const o = (from + j / 2) * stateHashBytes;
          const keyEnd = ends[j]!;
          const valueEnd = ends[j + 1]!;
          sha256Into(text.subarray(at, keyEnd), w.arenas.keys, o);
          sha256Into(text.subarray(keyEnd, valueEnd), w.arenas.values, o);
          at = valueEnd;
        }
        hashStateLeaves(sha256Into, w.arenas, from, message.to);
        Atomics.add(w.sync, chunksDone, 1);
        return;
      }
      case 'flush':
        port.postMessage({ type: 'hashed' } satisfies FromWorker);
        return;
      case 'side': {
        const w = ready();
        Atomics.load(w.sync, fenceToWorker);
        const keys = w.arenas.keys;
        const sorted = sortStateLeaves(keys, leavesWithBit0(keys, keys.length / stateHashBytes, 0));
        message.order.set(sorted.order, 0);
        const root = buildStateRange(sha256Into, w.arenas, message.order, 0, sorted.order.length, message.top, sorted.prefixes);
        Atomics.add(w.sync, chunksDone, 1);
        port.postMessage({ type: 'built', root, kept: sorted.order.length, dropped: sorted.dropped } satisfies FromWorker);
        return;
      }
      default: {
        const never: never = message;
        throw new Error(`stele bug in state/build-parallel: unknown message ${JSON.stringify(never)}`);
      }
    }
  });
}

if (!isMainThread && parentPort !== null && (workerData as Record<string, unknown> | null)?.[workerMarker] === true) serveBuild(parentPort);
