/**
 * Read-only operations on a data directory: status, full verification, listing events and
 * proofs. They take no lock and open files read-only, so they work beside a running writer
 * and on a read-only copy.
 *
 * Proofs use the derived tree file when it covers the asked size and agrees with the log
 * (the leaf of the proven event is checked against the log line, and every proof is checked
 * before it is returned); otherwise they rebuild the tree in memory from the log
 * (64 bytes per event) with a full verifying scan.
 */
import fs from 'node:fs';
import { steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { createRegistry } from '../events/builtin.js';
import type { HashedEvent } from '../events/envelope.js';
import type { EventRegistry } from '../events/registry.js';
import { bytesEqual, toHex } from '../hash/hex.js';
import { sha256 } from '../hash/sha256.js';
import type { HashReader } from '../merkle/log-tree.js';
import { checkConsistency, checkInclusion, hashLeaf, MemoryHashStore, proveConsistency, proveInclusion, storedHashCount, storedHashIndex, treeHash } from '../merkle/log-tree.js';
import type { ConsistencyProof, InclusionProof } from '../proof/format.js';
import { formatConsistencyProof, formatInclusionProof } from '../proof/format.js';
import { checkDataDir } from '../store/data-dir.js';
import type { DataPaths } from '../store/data-dir.js';
import { ioError, openFile, readChunkBytes } from '../store/file-store.js';
import { TreeFile } from '../store/tree-file.js';
import { limits } from '../limits.js';
import { LineSplitter } from './line-splitter.js';
import { scanLogFile } from './scan.js';
import { StoredHashCursor } from './tree-sync.js';
import type { ScanResult } from './scan.js';
import { defaultThreads, parallelAvailable, parallelBytesMin, scanLogFileParallel } from './scan-parallel.js';

export interface ReadOptions {
  registry?: EventRegistry;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
}

export interface VerifyReport {
  ok: boolean;
  size: number;
  logRoot: string;
  headHash: string;
  bytes: number;
  fault?: { code: string; line?: number; seq?: number; offset?: number; path?: string; message: string; expected?: string; found?: string; fix?: string };
  /** An unacknowledged torn last line (the writer quarantines it on open); not a fault. */
  tornTail?: { offset: number; bytes: number };
  /** Whether the derived tree file agrees with the log (the writer rebuilds it if not). */
  treeFile: 'ok' | 'missing' | 'behind' | 'wrong';
  /** Threads used. */
  threads: number;
}

/**
 * Verifies the whole log (DESIGN.md §2): canonical form, schema, seq, prev, ts, root, and
 * that the derived tree file agrees with the log. Uses worker threads for logs over
 * `parallelBytesMin` when the built-in registry is used (`threads`: 1 forces one thread).
 */
export async function verifyLog(dir: string, options: ReadOptions & { threads?: number } = {}): Promise<VerifyReport> {
  const paths = checkDataDir(dir, false);
  const threads = options.threads ?? defaultThreads();
  let size: number;
  try {
    size = fs.statSync(paths.log).size;
  } catch (err) {
    throw ioError(err, paths.log, 'stat');
  }
  const parallel = options.registry === undefined && threads > 1 && parallelAvailable() && (options.threads !== undefined || size >= parallelBytesMin);
  if (!parallel) return verifySequential(paths, options);
  const tree = openTreeReadOnly(paths);
  const checker = new TreeChecker(tree);
  try {
    const scan = await scanLogFileParallel(paths.log, createRegistry(), {
      threads,
      onTreeHashes: (seq, hashes) => checker.consume(seq, hashes),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
    return buildReport(scan, checker, threads);
  } finally {
    tree?.close();
  }
}

/** `verifyLog` on the calling thread (any registry). */
async function verifySequential(paths: DataPaths, options: ReadOptions): Promise<VerifyReport> {
  const tree = openTreeReadOnly(paths);
  const checker = new TreeChecker(tree);
  try {
    const scan = await scanLogFile(paths.log, options.registry ?? createRegistry(), {
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      onLine: (checked) => checker.consume(checked.event.seq, checked.treeHashes),
    });
    return buildReport(scan, checker, 1);
  } finally {
    tree?.close();
  }
}

export function buildReport(scan: ScanResult, checker: TreeChecker, threads: number): VerifyReport {
  const head = scan.verifier.head;
  if (scan.fault === undefined) checker.finish(head.size);
  const fault = scan.fault ?? checker.fault;
  const report: VerifyReport = {
    ok: fault === undefined,
    size: head.size,
    logRoot: scan.verifier.logRoot(),
    headHash: head.headHash,
    bytes: scan.endOffset,
    treeFile: checker.state,
    threads,
  };
  if (fault !== undefined) report.fault = faultJson(fault);
  if (scan.tornTail !== undefined) report.tornTail = { offset: scan.tornTail.offset, bytes: scan.tornTail.bytes };
  return report;
}

/** Compares the stored hashes a verification computes with the derived tree file. */
export class TreeChecker {
  state: VerifyReport['treeFile'];
  fault: SteleError | undefined;
  #index = 0;
  readonly #stored: StoredHashCursor | undefined;

  constructor(private readonly tree: TreeFile | undefined) {
    this.state = tree === undefined ? 'missing' : 'ok';
    this.#stored = tree === undefined ? undefined : new StoredHashCursor(tree);
  }

  consume(seq: number, treeHashes: readonly Uint8Array[]): void {
    if (this.#stored === undefined || this.state !== 'ok') return;
    for (let j = 0; j < treeHashes.length; j++) {
      const stored = this.#stored.at(this.#index);
      if (stored === undefined) {
        this.state = 'behind';
        return;
      }
      if (!bytesEqual(stored, treeHashes[j]!)) {
        this.state = 'wrong';
        // The first stored hash of a line is its leaf: a different leaf means the line's
        // bytes differ from those hashed when it was written (or the tree file is damaged).
        if (j === 0) this.fault = treeMismatch(seq, `line ${seq + 1} hashes differently than when it was written`);
        return;
      }
      this.#index++;
    }
  }

  /** After a clean scan of `size` events: a tree file holding more is evidence of removed events. */
  finish(size: number): void {
    if (this.tree !== undefined && this.state === 'ok' && this.tree.count > storedHashCount(size)) {
      this.state = 'wrong';
      this.fault = treeMismatch(size, `the tree file records more events than the log's ${size}: events from seq ${size} on were removed`);
    }
  }
}

function treeMismatch(seq: number, message: string): SteleError {
  return steleError('STELE_E_TREE_MISMATCH', message, {
    where: { file: 'events.ndjson', line: seq + 1, seq },
    fix: 'the log was altered after it was written, or index/tree.hashes is damaged. Compare with a backup or a checkpoint; if you trust this log, delete index/tree.hashes and the writer rebuilds it',
  });
}

export function faultJson(fault: SteleError): NonNullable<VerifyReport['fault']> {
  const out: NonNullable<VerifyReport['fault']> = { code: fault.code, message: fault.message };
  if (fault.where.line !== undefined) out.line = fault.where.line;
  if (fault.where.seq !== undefined) out.seq = fault.where.seq;
  if (fault.where.offset !== undefined) out.offset = fault.where.offset;
  if (fault.where.path !== undefined) out.path = fault.where.path;
  if (fault.expected !== undefined) out.expected = fault.expected;
  if (fault.found !== undefined) out.found = fault.found;
  if (fault.fix !== undefined) out.fix = fault.fix;
  return out;
}

export interface StatusReport {
  size: number;
  logRoot: string;
  headHash: string;
  lastTs: string | null;
  bytes: number;
  tornTail?: { offset: number; bytes: number };
  /** "tree-file" when the root came from the derived tree file, "scan" when recomputed. */
  rootSource: 'tree-file' | 'scan';
}

/**
 * Size, root and head hash. Fast path: the head comes from the log's last line and the root
 * from the tree file, accepted only if the tree file's last leaf is the head line's hash;
 * otherwise a full verifying scan. `stele verify` is the full check.
 */
export async function readStatus(dir: string, options: ReadOptions = {}): Promise<StatusReport> {
  const paths = checkDataDir(dir, false);
  const last = readLastLine(paths);
  if (last !== undefined) {
    const tree = openTreeReadOnly(paths);
    try {
      if (tree !== undefined && tree.count >= storedHashCount(last.seq + 1)) {
        const leaf = tree.readHashes([storedHashIndex(0, last.seq)])[0]!;
        if (bytesEqual(leaf, hashLeaf(sha256, last.hash))) {
          const report: StatusReport = {
            size: last.seq + 1,
            logRoot: toHex(treeHash(sha256, last.seq + 1, tree)),
            headHash: toHex(last.hash),
            lastTs: last.ts,
            bytes: last.end,
            rootSource: 'tree-file',
          };
          if (last.tornBytes > 0) report.tornTail = { offset: last.end, bytes: last.tornBytes };
          return report;
        }
      }
    } finally {
      tree?.close();
    }
  }
  const v = await verifySequential(paths, options);
  if (!v.ok && v.fault !== undefined) {
    throw steleError('STELE_E_PANIC', `the log is damaged: ${v.fault.message}`, {
      where: { file: paths.log, ...(v.fault.line === undefined ? {} : { line: v.fault.line }), ...(v.fault.seq === undefined ? {} : { seq: v.fault.seq }) },
      fix: 'run stele verify for details; restore the log from a backup',
    });
  }
  const report: StatusReport = { size: v.size, logRoot: v.logRoot, headHash: v.headHash, lastTs: null, bytes: v.bytes, rootSource: 'scan' };
  if (v.tornTail !== undefined) report.tornTail = v.tornTail;
  return report;
}

interface LastLine {
  seq: number;
  hash: Uint8Array;
  ts: string;
  /** Offset just after the last complete line. */
  end: number;
  tornBytes: number;
}

/** Reads the last complete line of the log from its end (at most lineBytesMax+1 bytes back). */
function readLastLine(paths: DataPaths): LastLine | undefined {
  const fd = openFile(paths.log, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const want = Math.min(size, 2 * limits.lineBytesMax + 2);
    const buf = Buffer.alloc(want);
    fs.readSync(fd, buf, 0, want, size - want);
    const lastNl = buf.lastIndexOf(10);
    if (lastNl === -1) return undefined;
    const prevNl = buf.lastIndexOf(10, lastNl - 1);
    if (prevNl === -1 && want < size) return undefined;
    const line = buf.subarray(prevNl + 1, lastNl);
    const parsed = JSON.parse(line.toString('utf8')) as { seq?: unknown; ts?: unknown };
    if (typeof parsed.seq !== 'number' || typeof parsed.ts !== 'string') return undefined;
    return { seq: parsed.seq, hash: sha256(line), ts: parsed.ts, end: size - want + lastNl + 1, tornBytes: want - lastNl - 1 };
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

export interface EventQuery {
  from?: number;
  limit?: number;
  type?: string;
}

/** Streams events with their derived hash, from `from`, filtered by type, up to `limit`. */
export function* readEvents(dir: string, query: EventQuery = {}): Generator<HashedEvent> {
  const paths = checkDataDir(dir, false);
  const from = query.from ?? 0;
  const limit = query.limit ?? Number.POSITIVE_INFINITY;
  let emitted = 0;
  for (const { seq, line } of readLines(paths)) {
    if (seq < from) continue;
    if (emitted >= limit) return;
    const event = JSON.parse(line.toString('utf8')) as HashedEvent;
    if (query.type !== undefined && event.type !== query.type) continue;
    event.hash = toHex(sha256(line));
    emitted++;
    yield event;
  }
}

/** Complete lines of the log file, in order, with their seq (position). */
function* readLines(paths: DataPaths): Generator<{ seq: number; line: Buffer }> {
  const fd = openFile(paths.log, 'r');
  try {
    let seq = 0;
    let ready: { seq: number; line: Buffer }[] = [];
    const splitter = new LineSplitter(
      {
        line: (chunk, start, end) => ready.push({ seq: seq++, line: Buffer.from(chunk.subarray(start, end)) }),
        overlong: (offset) => {
          throw steleError('STELE_E_LINE_TOO_LARGE', 'a log line exceeds the line limit', {
            where: { file: paths.log, seq, line: seq + 1, offset },
            fix: 'run stele verify',
          });
        },
      },
      limits.lineBytesMax,
    );
    const chunk = Buffer.allocUnsafe(readChunkBytes);
    let position = 0;
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, position);
      if (n === 0) break;
      position += n;
      splitter.push(chunk.subarray(0, n));
      yield* ready;
      ready = [];
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** The hash of the event at `seq`, read from the log. */
function eventHashAt(paths: DataPaths, seq: number): Uint8Array {
  for (const l of readLines(paths)) if (l.seq === seq) return sha256(l.line);
  throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `the log has no event ${seq}`, { fix: 'stele status shows the size' });
}

/** An inclusion proof of `seq` in the log of `size` (default: the current size). */
export function proveEvent(dir: string, seq: number, size?: number, options: ReadOptions = {}): Promise<InclusionProof> {
  const paths = checkDataDir(dir, false);
  return withTree(paths, size, options, (tree, n) => {
    if (!Number.isSafeInteger(seq) || seq < 0 || seq >= n) {
      throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `seq ${seq} is outside 0…${n - 1}`, { fix: `ask for a seq below the size ${n}` });
    }
    const eventHash = eventHashAt(paths, seq);
    const root = treeHash(sha256, n, tree);
    const path = proveInclusion(sha256, seq, n, tree);
    if (!checkInclusion(sha256, seq, n, hashLeaf(sha256, eventHash), path, root)) return undefined;
    return formatInclusionProof(seq, n, toHex(eventHash), toHex(root), path);
  });
}

/** A consistency proof between the log of `size1` and the log of `size2` (default: current). */
export function proveLogConsistency(dir: string, size1: number, size2?: number, options: ReadOptions = {}): Promise<ConsistencyProof> {
  const paths = checkDataDir(dir, false);
  return withTree(paths, size2, options, (tree, n) => {
    if (!Number.isSafeInteger(size1) || size1 < 0 || size1 > n) {
      throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `size ${size1} is outside 0…${n}`, { fix: `ask for sizes with size1 ≤ size2 ≤ ${n}` });
    }
    const root1 = treeHash(sha256, size1, tree);
    const root2 = treeHash(sha256, n, tree);
    const path = proveConsistency(sha256, size1, n, tree);
    if (!checkConsistency(sha256, size1, n, root1, root2, path)) return undefined;
    return formatConsistencyProof(size1, n, toHex(root1), toHex(root2), path);
  });
}

/**
 * Runs `prove` over the tree file when it is usable, else over a tree rebuilt from the log.
 * `prove` returns undefined when its own self-check fails (a wrong tree file): then the
 * rebuilt tree is used.
 */
async function withTree<T>(paths: DataPaths, size: number | undefined, options: ReadOptions, prove: (tree: HashReader, size: number) => T | undefined): Promise<T> {
  const status = await readStatus(paths.dir, options);
  const n = size ?? status.size;
  if (!Number.isSafeInteger(n) || n < 0 || n > status.size) {
    throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `size ${n} is outside 0…${status.size}`, { fix: `ask for a size up to the current size ${status.size}` });
  }
  const file = openTreeReadOnly(paths);
  try {
    if (file !== undefined && file.count >= storedHashCount(n) && status.rootSource === 'tree-file') {
      const out = prove(file, n);
      if (out !== undefined) return out;
    }
  } finally {
    file?.close();
  }
  const memory = new MemoryHashStore();
  const registry = options.registry ?? createRegistry();
  const scan = await scanLogFile(paths.log, registry, { onLine: (checked) => memory.append(checked.treeHashes) });
  if (scan.fault !== undefined && scan.verifier.head.size < n) throw scan.fault;
  const out = prove(memory, n);
  if (out === undefined) throw new Error('a proof built from a freshly verified log failed its own check');
  return out;
}

export function openTreeReadOnly(paths: DataPaths): TreeFile | undefined {
  if (!fs.existsSync(paths.treeFile)) return undefined;
  try {
    return TreeFile.open(paths.treeFile, { readOnly: true });
  } catch {
    return undefined;
  }
}
