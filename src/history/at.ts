/**
 * Time travel (issue #5): the complete state and roots as of any position of the log,
 * re-derived from the files alone.
 *
 * A position is a seq (the state right after that event), an ISO 8601 time (the state after
 * the last event whose ts is at or before it) or a log size (the state after that many
 * events; size 0 is the empty state). The derivation:
 *
 * 1. finds where that position ends in the file by bisection (src/log/seek.ts), no index;
 * 2. loads the newest snapshot at or below it that verifies (trailer, recomputed state root,
 *    its head hash against the log line before it); damaged or foreign snapshots are skipped
 *    and listed, never trusted;
 * 3. takes the log tree frontier at the snapshot's size from the derived tree file when its
 *    root equals the snapshot's logRoot, else re-hashes the prefix;
 * 4. verifies every line from there to the position (chain from the snapshot's head hash,
 *    canonical form, schema, checkpoints and their signatures) and reduces it.
 *
 * So the result is as trustworthy as a full replay for the lines after the base; the
 * prefix before the base is covered by the snapshot's own checks (run `stele forensic` or
 * `stele verify` to re-derive it too, or pass `snapshot: false`).
 *
 * Memory O(state); reads O(events after the base) lines plus ~20 bisection probes.
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import { isSteleError, steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { sha256 } from '../hash/sha256.js';
import { toHex } from '../hash/hex.js';
import { ChainVerifier } from '../log/chain.js';
import { LineSplitter } from '../log/line-splitter.js';
import { openTreeReadOnly } from '../log/read.js';
import { LogSeeker } from '../log/seek.js';
import { LogTreeFrontier, storedHashCount } from '../merkle/log-tree.js';
import { limits } from '../limits.js';
import { checkDataDir } from '../store/data-dir.js';
import type { DataPaths } from '../store/data-dir.js';
import { ioError, openFile, readChunkBytes } from '../store/file-store.js';
import { listSnapshots } from '../store/snapshot-store.js';
import type { MachineOptions } from '../runtime/machine.js';
import { StateMachine } from '../runtime/machine.js';
import type { LoadedSnapshot } from '../runtime/replay.js';
import { loadSnapshotFile, snapshotLabel } from '../runtime/replay.js';
import type { CheckpointSummary } from '../runtime/replay-sink.js';
import { ReplaySink } from '../runtime/replay-sink.js';
import { signaturePolicy } from '../runtime/signatures.js';
import type { PublicKey } from '../crypto/keys.js';

/** A position in the log: after event `seq`, at time `time`, or after `size` events. */
export type AtSpec = { seq: number } | { time: string } | { size: number };

export interface StateAtOptions extends MachineOptions {
  logger?: Logger;
  /** Public keys pinned for checkpoint signatures, beside the data directory's keyring. */
  publicKeys?: readonly PublicKey[];
  /** Start from the newest usable snapshot at or below the position (default true). */
  snapshot?: boolean;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
}

export interface SkippedSnapshot {
  file: string;
  reason: string;
}

/** The state as of a position, and how it was derived. */
export interface StateAt {
  machine: StateMachine;
  /** Events included. */
  size: number;
  /** The last included event (null for the empty state). */
  seq: number | null;
  /** Its ts (null for the empty state). */
  ts: string | null;
  logRoot: string;
  stateRoot: string;
  headHash: string;
  /** The snapshot the derivation started from, if any. */
  base: { file: string; size: number } | null;
  skippedSnapshots: SkippedSnapshot[];
  /** Events verified and reduced after the base. */
  replayed: number;
  /** Where the log tree at the base came from. */
  frontier: 'tree-file' | 'rehashed' | 'genesis';
  checkpoints: CheckpointSummary;
  ms: { total: number };
}

/** Parses a user's ISO 8601 time into the log's ts form (UTC, milliseconds). */
export function normalizeTime(text: string): string {
  const ms = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw steleError('STELE_E_USAGE', `not an ISO 8601 time: ${text}`, { fix: 'give a time like 2026-11-22T10:00:00Z or 2026-11-22T10:00:00.000+01:00 (a date alone means its midnight UTC)' });
  }
  return new Date(ms).toISOString();
}

/**
 * An open derivation that can move forward: `advance(size)` verifies and reduces the lines
 * up to `size`. `StateAt` snapshots are taken with `result()`. One reader, read-only.
 */
export class Derivation {
  readonly machine: StateMachine;
  readonly #verifier: ChainVerifier;
  readonly #sink: ReplaySink;
  readonly #paths: DataPaths;
  readonly #onProgress: ((bytesRead: number, bytesTotal: number) => void) | undefined;
  /** Byte offset of the next line to read. */
  #offset: number;
  readonly #started = performance.now();
  readonly #baseSize: number;

  private constructor(
    paths: DataPaths,
    machine: StateMachine,
    verifier: ChainVerifier,
    sink: ReplaySink,
    offset: number,
    readonly base: { file: string; size: number } | null,
    readonly skippedSnapshots: SkippedSnapshot[],
    readonly frontierSource: StateAt['frontier'],
    onProgress: ((bytesRead: number, bytesTotal: number) => void) | undefined,
  ) {
    this.#paths = paths;
    this.machine = machine;
    this.#verifier = verifier;
    this.#sink = sink;
    this.#offset = offset;
    this.#baseSize = verifier.head.size;
    this.#onProgress = onProgress;
  }

  /** Events verified so far. */
  get size(): number {
    return this.#verifier.head.size;
  }

  /**
   * Opens a derivation positioned at the best base for reaching `target` events: the newest
   * usable snapshot at or below it (or genesis). Lines before the base are re-hashed only
   * when the tree file cannot give the frontier.
   */
  static open(dir: string, target: number, options: StateAtOptions = {}): Derivation {
    const paths = checkDataDir(dir, false);
    const signatures = signaturePolicy(paths.dir, options.publicKeys === undefined ? {} : { publicKeys: options.publicKeys });
    const skipped: SkippedSnapshot[] = [];
    let loaded: LoadedSnapshot | undefined;
    let seeker: LogSeeker | undefined;
    try {
      if (options.snapshot !== false) {
        seeker = new LogSeeker(paths.log);
        for (const { file, size } of listSnapshots(paths.dir).reverse()) {
          if (size > target) continue;
          const found = tryLoad(file, size, seeker, options);
          if ('skipped' in found) skipped.push(found.skipped);
          else {
            loaded = found.loaded;
            break;
          }
        }
      }
      if (skipped.length > 0) options.logger?.warn({ skipped }, 'snapshots skipped for time travel');
      if (loaded === undefined || loaded.base.header.size === 0) {
        const machine = new StateMachine(options);
        const verifier = new ChainVerifier(machine.registry, { file: 'events.ndjson' });
        return new Derivation(paths, machine, verifier, new ReplaySink(machine, verifier.frontier, undefined, undefined, signatures), 0, null, skipped, 'genesis', options.onProgress);
      }
      const header = loaded.base.header;
      const base = { file: loaded.base.file, size: header.size };
      const frontier = frontierFromTree(paths, header.size, header.logRoot);
      if (frontier === undefined) {
        // No usable tree file: verify the prefix from genesis (no reduction before the base).
        const verifier = new ChainVerifier(loaded.machine.registry, { file: 'events.ndjson' });
        const sink = new ReplaySink(loaded.machine, verifier.frontier, loaded.base, undefined, signatures);
        return new Derivation(paths, loaded.machine, verifier, sink, 0, base, skipped, 'rehashed', options.onProgress);
      }
      const verifier = new ChainVerifier(loaded.machine.registry, {
        file: 'events.ndjson',
        head: { size: header.size, headHash: header.headHash, lastTs: header.headTs },
        frontier,
      });
      const offset = seeker!.offsetOfSeq(header.size);
      return new Derivation(paths, loaded.machine, verifier, new ReplaySink(loaded.machine, verifier.frontier, undefined, undefined, signatures), offset, base, skipped, 'tree-file', options.onProgress);
    } finally {
      seeker?.close();
    }
  }

  /** Verifies and reduces lines until `size` events are derived. Throws the first fault. */
  advance(size: number): void {
    if (size < this.size) throw new Error(`stele bug: a derivation cannot go back from ${this.size} to ${size}`);
    if (size === this.size) return;
    const verifier = this.#verifier;
    const sink = this.#sink;
    let fault: SteleError | undefined;
    let next = this.#offset;
    const splitter = new LineSplitter(
      {
        line: (chunk, start, end, offset) => {
          if (fault !== undefined || verifier.head.size >= size) return;
          try {
            sink.line(verifier.check(chunk, start, end, offset));
            next = offset + (end - start) + 1;
          } catch (err) {
            if (!isSteleError(err)) throw err;
            fault = err;
          }
        },
        overlong: (offset, bytes) => {
          if (fault === undefined && verifier.head.size < size) fault = verifier.overlong(offset, bytes);
        },
      },
      limits.lineBytesMax,
      this.#offset,
    );
    const fd = openFile(this.#paths.log, 'r');
    try {
      const total = fs.fstatSync(fd).size;
      const chunk = Buffer.allocUnsafe(readChunkBytes);
      let position = this.#offset;
      while (fault === undefined && verifier.head.size < size) {
        let n: number;
        try {
          n = fs.readSync(fd, chunk, 0, chunk.length, position);
        } catch (err) {
          throw ioError(err, this.#paths.log, 'read', position);
        }
        if (n === 0) break;
        splitter.push(n === chunk.length ? chunk : chunk.subarray(0, n));
        position += n;
        this.#onProgress?.(position, total);
      }
    } finally {
      fs.closeSync(fd);
    }
    this.#offset = next;
    if (fault !== undefined) throw fault;
    if (verifier.head.size < size) {
      throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `the log ends after ${verifier.head.size} complete events, before position ${size}`, {
        where: { file: 'events.ndjson', offset: next },
        fix: 'pick a position inside the log (stele status shows its size)',
      });
    }
  }

  result(): StateAt {
    const head = this.#verifier.head;
    return {
      machine: this.machine,
      size: head.size,
      seq: head.size === 0 ? null : head.size - 1,
      ts: head.size === 0 ? null : head.lastTs,
      logRoot: toHex(this.#verifier.frontier.root()),
      stateRoot: this.machine.stateRoot(),
      headHash: head.headHash,
      base: this.base,
      skippedSnapshots: this.skippedSnapshots,
      replayed: head.size - Math.max(this.#baseSize, this.base?.size ?? 0),
      frontier: this.frontierSource,
      checkpoints: this.#sink.checkpoints,
      ms: { total: Math.round((performance.now() - this.#started) * 10) / 10 },
    };
  }
}

/** Resolves a position to a log size, checking it lies inside the log. */
export function resolveAt(dir: string, at: AtSpec): number {
  const paths = checkDataDir(dir, false);
  const seeker = new LogSeeker(paths.log);
  try {
    if ('time' in at) return seeker.sizeAtTime(normalizeTime(at.time));
    const size = 'seq' in at ? at.seq + 1 : at.size;
    if (!Number.isSafeInteger(size) || size < 0) throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `not a position: ${JSON.stringify(at)}`, { fix: 'a seq or size is an integer ≥ 0' });
    const count = seeker.count();
    if (size > count) {
      const asked = 'seq' in at ? `event ${at.seq}` : `size ${size}`;
      throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `the log has no ${asked}: it holds ${count} events (seq 0 … ${count - 1})`, {
        where: { file: 'events.ndjson' },
        expected: 'seq' in at ? `seq < ${count}` : `size <= ${count}`,
        found: 'seq' in at ? String(at.seq) : String(size),
        fix: 'pick a position inside the log (stele status shows its size)',
      });
    }
    return size;
  } finally {
    seeker.close();
  }
}

/** The complete state and roots as of `at`, derived from the files alone. */
export function stateAt(dir: string, at: AtSpec, options: StateAtOptions = {}): StateAt {
  const size = resolveAt(dir, at);
  const derivation = Derivation.open(dir, size, options);
  derivation.advance(size);
  const result = derivation.result();
  options.logger?.info({ size: result.size, base: result.base, replayed: result.replayed, ms: result.ms.total }, 'time travel');
  return result;
}

function tryLoad(file: string, size: number, seeker: LogSeeker, options: StateAtOptions): { loaded: LoadedSnapshot } | { skipped: SkippedSnapshot } {
  const label = snapshotLabel(file);
  let loaded: LoadedSnapshot | undefined;
  try {
    loaded = loadSnapshotFile(file, options);
  } catch (err) {
    if (!isSteleError(err)) throw err;
    return { skipped: { file: label, reason: `${err.code}: ${err.message}` } };
  }
  if (loaded === undefined) return { skipped: { file: label, reason: 'made by other module versions' } };
  if (size > 0) {
    const hash = seeker.lineHash(size - 1);
    if (hash !== loaded.base.header.headHash) return { skipped: { file: label, reason: `its head hash does not match event ${size - 1} of the log (found ${hash ?? 'no line'})` } };
  }
  return { loaded };
}

/** The log tree frontier at `size` from the derived tree file, if the file has it and agrees with `logRoot`. */
function frontierFromTree(paths: DataPaths, size: number, logRoot: string): LogTreeFrontier | undefined {
  const tree = openTreeReadOnly(paths);
  if (tree === undefined) return undefined;
  try {
    if (tree.count < storedHashCount(size)) return undefined;
    const frontier = LogTreeFrontier.fromReader(sha256, size, tree);
    return toHex(frontier.root()) === logRoot ? frontier : undefined;
  } catch {
    return undefined;
  } finally {
    tree.close();
  }
}
