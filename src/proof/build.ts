/**
 * Building proof bundles (./bundle.ts) on the server side: from the files of a data
 * directory (`stele prove event|state`, library users) or from a running server's read
 * source (`GET /v1/proofs/...`). Read-only: files are opened 'r', no lock is taken, so it
 * works beside a running writer and on a read-only copy.
 *
 * - Event bundle of `seq`: the line, the newest checkpoint with seq < size c ≤ N (N: `size`,
 *   default the log's size) whose signature verifies under a known key, and the inclusion
 *   path of the event in the tree of size c. Known keys: the pinned ones when given, else the
 *   data directory's keyring (`<data>/keys/*.pub`). No such checkpoint: an unanchored bundle
 *   (the path into the log of size seq + 1, with its root), and `note` says why.
 * - State bundle of `key` at a position (a log size; default the log's size): the newest
 *   signed checkpoint with c ≤ that size; the state as of c is re-derived from the files
 *   (src/history/at.ts) and must have the checkpoint's signed stateRoot. Without a signed
 *   checkpoint: the state as of the position itself, unanchored.
 *
 * Every bundle is verified (node:crypto SHA-256 and Ed25519, the signer's key pinned) before
 * it is returned, so a builder never hands out a bundle that does not verify: a disagreement
 * between the log, its tree and a checkpoint is STELE_E_CHECKPOINT_MISMATCH (or
 * STELE_E_TREE_MISMATCH), naming the checkpoint. From a data directory, proofs come from the
 * derived tree file when it covers the sizes involved; if a bundle built from it does not
 * verify, the tree is rebuilt in memory from a verifying scan of the log and the bundle built
 * again, as `stele prove` does.
 */
import type { Logger } from 'pino';
import type { JsonValue } from '../canonical/json.js';
import { utf8ByteLength } from '../canonical/utf8.js';
import { checkpointSignatureChecker } from '../crypto/checkpoint-sig.js';
import type { PublicKey } from '../crypto/keys.js';
import { ed25519VerifyNode, loadKeyring } from '../crypto/keys.js';
import { isSteleError, steleError } from '../errors.js';
import { createRegistry } from '../events/builtin.js';
import { fromHex, toHex } from '../hash/hex.js';
import { sha256 } from '../hash/sha256.js';
import type { AtSpec } from '../history/at.js';
import { Derivation, resolveAt, stateAt } from '../history/at.js';
import type { FoundCheckpoint } from '../log/checkpoints.js';
import { latestCheckpoint } from '../log/checkpoints.js';
import { openTreeReadOnly, readStatus } from '../log/read.js';
import { scanLogFile } from '../log/scan.js';
import { LogSeeker } from '../log/seek.js';
import type { HashReader } from '../merkle/log-tree.js';
import { MemoryHashStore, proveInclusion, storedHashCount, treeHash } from '../merkle/log-tree.js';
import type { StateProof } from '../state/smt-hash.js';
import { checkDataDir } from '../store/data-dir.js';
import type { TreeFile } from '../store/tree-file.js';
import type { EventBundle, ProofBundle, SignedCheckpoint, StateBundle } from './bundle.js';
import { formatBundle, makeEventBundle, makeStateBundle, verifyBundle } from './bundle.js';
import type { InclusionProof } from './format.js';
import { formatInclusionProof } from './format.js';
import { formatStateProof, stateProofKeyBytesMax } from './state-proof.js';

/** The log a bundle is built from: a data directory's files, or a server's read source. */
export interface BundleLog {
  /** The log file: checkpoint lines are looked up in it (among the first `size` lines). */
  readonly logFile: string;
  /** Complete, verified events available. */
  readonly size: number;
  /** Line `seq` without `\n`. */
  line(seq: number): Uint8Array;
  proveInclusion(seq: number, size: number): InclusionProof;
}

/** The state as of some position: what a state bundle reads (a StateMachine is one). */
export interface BundleState {
  stateRoot(): string;
  readonly entries: { get(key: string): JsonValue | undefined; prove(key: string): StateProof };
}

/** A bundle and what a caller shows about it. */
export interface BuiltBundle<B extends ProofBundle = ProofBundle> {
  bundle: B;
  /** The file: canonical JSON and `\n` (`formatBundle`). */
  text: string;
  anchored: boolean;
  /** The signed checkpoint the bundle carries: its line's seq, its size and its signer. */
  checkpoint: { seq: number; size: number; keyId: string } | null;
  /** The log size the proven root is of: the checkpoint's size, else seq + 1 for an event or the position for a state. */
  size: number;
  /** Why the bundle is not anchored, when it is not. */
  note?: string;
}

/**
 * The newest checkpoint with lo < data.size ≤ hi whose signature verifies under one of
 * `keys`, among the log's first `logSize` lines, read backwards from the end (no replay).
 * `verified` remembers verdicts by line hash across calls. Undefined when none.
 */
export function findSignedCheckpoint(
  logFile: string,
  logSize: number,
  keys: readonly PublicKey[],
  range: { lo: number; hi: number },
  verified = new Map<string, boolean>(),
): { found: FoundCheckpoint; key: PublicKey } | undefined {
  if (keys.length === 0) return undefined;
  const check = checkpointSignatureChecker(ed25519VerifyNode, sha256, keys.map((k) => k.publicKey));
  // A checkpoint line at seq hi has size hi: it is among the first hi + 1 lines.
  let bound = Math.min(range.hi + 1, logSize);
  // The first look from the log's end needs no seek (the file may hold lines beyond logSize,
  // appended since: their checkpoints have sizes above hi and are passed over below).
  let fromEnd = bound === logSize;
  while (bound > 0) {
    const found = latestCheckpoint(logFile, fromEnd ? undefined : bound);
    fromEnd = false;
    if (found === undefined || found.data.size <= range.lo) return undefined;
    if (found.data.size <= range.hi && found.data.keyId !== undefined) {
      let ok = verified.get(found.hash);
      if (ok === undefined) {
        ok = check(found.data).status === 'valid';
        verified.set(found.hash, ok);
      }
      const key = keys.find((k) => k.keyId === found.data.keyId);
      if (ok && key !== undefined) return { found, key };
    }
    bound = Math.min(bound, found.seq);
  }
  return undefined;
}

function signedOf(found: FoundCheckpoint, key: PublicKey): SignedCheckpoint {
  const { size, logRoot, stateRoot, sig, keyId } = found.data;
  return { size, logRoot, stateRoot, sig: sig!, keyId: keyId!, publicKey: key.publicKey };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function lineText(line: Uint8Array, seq: number): string {
  try {
    return strictUtf8.decode(line);
  } catch {
    throw steleError('STELE_E_LINE_UNREADABLE', `line ${seq + 1} is not UTF-8`, { where: { file: 'events.ndjson', line: seq + 1, seq }, fix: 'run stele verify: the log is damaged' });
  }
}

function outOfRange(message: string, fix: string) {
  return steleError('STELE_E_SIZE_OUT_OF_RANGE', message, { fix });
}

/** Verifies a freshly built bundle under the signer's key; a failure is a disagreement in the data, named. */
function checked<B extends ProofBundle>(bundle: B, key: PublicKey | undefined, found: FoundCheckpoint | undefined): string {
  const text = formatBundle(bundle);
  const verdict = verifyBundle(text, { sha256, ed25519Verify: ed25519VerifyNode, ...(key === undefined ? {} : { publicKeys: [key.publicKey] }) });
  if (!verdict.valid) {
    const failed = verdict.checks.find((c) => !c.ok)!;
    const where = found === undefined ? {} : { where: { file: 'events.ndjson', line: found.seq + 1, seq: found.seq } };
    throw steleError(found === undefined ? 'STELE_E_TREE_MISMATCH' : 'STELE_E_CHECKPOINT_MISMATCH', `the bundle built from the data directory does not verify: ${failed.label} — ${failed.detail}`, {
      ...where,
      fix: 'the log, its tree file and its checkpoints disagree: run stele verify to find the fault',
      detail: { check: failed.id },
    });
  }
  return text;
}

/**
 * Builds bundles from a `BundleLog`, the keys a checkpoint must be signed by, and a way to
 * get the state as of a size. Synchronous; remembers checkpoint signature verdicts, so a
 * batch of bundles verifies each checkpoint signature once.
 */
export class BundleBuilder {
  readonly #verified = new Map<string, boolean>();

  constructor(
    readonly log: BundleLog,
    readonly keys: readonly PublicKey[],
    private readonly stateAtSize: (size: number) => BundleState,
  ) {}

  /**
   * The event bundle of `seq`, anchored to the newest checkpoint signed by a known key with
   * seq < size ≤ `options.size` (default: the log's size).
   */
  eventBundle(seq: number, options: { size?: number } = {}): BuiltBundle<EventBundle> {
    const log = this.log;
    const n = options.size ?? log.size;
    if (!Number.isSafeInteger(n) || n < 1 || n > log.size) throw outOfRange(`size ${n} is outside 1…${log.size}`, `ask for a size up to the log's ${log.size} events`);
    if (!Number.isSafeInteger(seq) || seq < 0 || seq >= n) throw outOfRange(`the log of size ${n} has no event ${seq}`, `ask for a seq below ${n} (stele status shows the size)`);
    const line = lineText(log.line(seq), seq);
    const anchor = findSignedCheckpoint(log.logFile, log.size, this.keys, { lo: seq, hi: n }, this.#verified);
    // The tree the path leads into: the checkpoint's, or (unanchored) the log of size seq + 1.
    const size = anchor?.found.data.size ?? seq + 1;
    const inclusion = log.proveInclusion(seq, size);
    const path = inclusion.path.map((h) => fromHex(h)!);
    const bundle = makeEventBundle(sha256, anchor === undefined ? { seq, line, path, logRoot: inclusion.logRoot } : { seq, line, path, checkpoint: signedOf(anchor.found, anchor.key) });
    const text = checked(bundle, anchor?.key, anchor?.found);
    return {
      bundle,
      text,
      anchored: anchor !== undefined,
      checkpoint: anchor === undefined ? null : { seq: anchor.found.seq, size, keyId: anchor.key.keyId },
      size,
      ...(anchor === undefined ? { note: this.#why(`event ${seq}`, `seq < size ≤ ${n}`) } : {}),
    };
  }

  /**
   * The state bundle of `key` as of the newest checkpoint signed by a known key with size ≤
   * `options.atSize` (default: the log's size); without one, as of `atSize` itself,
   * unanchored.
   */
  stateBundle(key: string, options: { atSize?: number } = {}): BuiltBundle<StateBundle> {
    if (!key.isWellFormed()) throw steleError('STELE_E_USAGE', 'the key is not well-formed Unicode', { fix: 'pass the state key as text (kv:<key>, account:<id>, …)' });
    if (utf8ByteLength(key) > stateProofKeyBytesMax) throw steleError('STELE_E_INPUT_TOO_LARGE', `the key is over ${stateProofKeyBytesMax} bytes, longer than any state key can be`, { fix: 'check the key' });
    const log = this.log;
    const at = options.atSize ?? log.size;
    if (!Number.isSafeInteger(at) || at < 0 || at > log.size) throw outOfRange(`position ${at} is outside 0…${log.size}`, `ask for a position inside the log's ${log.size} events`);
    const anchor = findSignedCheckpoint(log.logFile, log.size, this.keys, { lo: -1, hi: at }, this.#verified);
    const size = anchor?.found.data.size ?? at;
    const state = this.stateAtSize(size);
    const root = state.stateRoot();
    if (anchor !== undefined && root !== anchor.found.data.stateRoot) {
      throw steleError('STELE_E_CHECKPOINT_MISMATCH', `the state re-derived as of size ${size} has root ${root}, not the checkpoint's signed ${anchor.found.data.stateRoot}`, {
        where: { file: 'events.ndjson', line: anchor.found.seq + 1, seq: anchor.found.seq },
        expected: anchor.found.data.stateRoot,
        found: root,
        fix: 'run stele verify (or stele forensic) to find where the derivation diverges',
      });
    }
    const value = state.entries.get(key);
    const proof = formatStateProof(sha256, key, state.entries.prove(key), fromHex(root)!, value);
    const bundle = makeStateBundle(proof, anchor === undefined ? undefined : signedOf(anchor.found, anchor.key));
    const text = checked(bundle, anchor?.key, anchor?.found);
    return {
      bundle,
      text,
      anchored: anchor !== undefined,
      checkpoint: anchor === undefined ? null : { seq: anchor.found.seq, size, keyId: anchor.key.keyId },
      size,
      ...(anchor === undefined ? { note: this.#why(`the state as of size ${at}`, `size ≤ ${at}`) } : {}),
    };
  }

  #why(what: string, range: string): string {
    if (this.keys.length === 0) return `no signing key is known (none pinned, <data>/keys is empty): ${what} is proven against the stated root only`;
    return `no checkpoint with ${range} is signed by a known key: ${what} is proven against the stated root only (a signing writer checkpoints every checkpointEvery events and at shutdown)`;
  }
}

// ---- From a data directory ----

export interface DataDirBundleOptions {
  /** Keys a checkpoint must be signed by (default: the data directory's keyring). */
  publicKeys?: readonly PublicKey[];
  logger?: Logger;
  /** Start state derivations from snapshots (default true). */
  snapshot?: boolean;
}

/** Thrown by DataDirLog when a proof needs hashes the tree file does not hold yet. */
class TreeNeeded extends Error {}

/**
 * The log of a data directory, read-only: lines through a LogSeeker, proofs from the derived
 * tree file where it covers the sizes asked, else (or once `distrustTreeFile` was called)
 * from a tree rebuilt in memory by a verifying scan of the log. A writer buffers tree hashes
 * (src/store/tree-file.ts), so beside a running writer the newest sizes need the rebuild.
 */
class DataDirLog implements BundleLog {
  #memory: MemoryHashStore | undefined;
  #trustTree = true;

  private constructor(
    readonly logFile: string,
    readonly size: number,
    private readonly seeker: LogSeeker,
    private readonly tree: TreeFile | undefined,
  ) {}

  static async open(dir: string): Promise<DataDirLog> {
    const paths = checkDataDir(dir, false);
    const status = await readStatus(dir);
    const seeker = new LogSeeker(paths.log);
    return new DataDirLog(paths.log, status.size, seeker, openTreeReadOnly(paths));
  }

  /** Whether proofs came from the tree file (so a rebuilt tree might do better). */
  get usedTreeFile(): boolean {
    return this.#trustTree && this.tree !== undefined;
  }

  /** Rebuilds the tree in memory from a verifying scan; later proofs come from it. */
  async distrustTreeFile(): Promise<void> {
    this.#trustTree = false;
    if (this.#memory !== undefined) return;
    const memory = new MemoryHashStore();
    const scan = await scanLogFile(this.logFile, createRegistry(), { onLine: (checked) => memory.append(checked.treeHashes) });
    if (scan.fault !== undefined && scan.verifier.head.size < this.size) throw scan.fault;
    this.#memory = memory;
  }

  #reader(size: number): HashReader {
    if (this.#trustTree && this.tree !== undefined && this.tree.count >= storedHashCount(size)) return this.tree;
    if (this.#memory === undefined) throw new TreeNeeded();
    return this.#memory;
  }

  line(seq: number): Uint8Array {
    const line = this.seeker.lineAt(this.seeker.offsetOfSeq(seq));
    if (line === undefined) throw outOfRange(`the log has no complete line ${seq}`, 'stele status shows the size');
    return line;
  }

  proveInclusion(seq: number, size: number): InclusionProof {
    const reader = this.#reader(size);
    const eventHash = sha256(this.line(seq));
    return formatInclusionProof(seq, size, toHex(eventHash), toHex(treeHash(sha256, size, reader)), proveInclusion(sha256, seq, size, reader));
  }

  close(): void {
    this.seeker.close();
    this.tree?.close();
  }
}

/**
 * Bundles from the files of a data directory (what `stele prove event|state` uses). Open
 * once, build many, close.
 */
export class DataDirBundles {
  readonly #log: DataDirLog;
  readonly #builder: BundleBuilder;
  readonly #dir: string;

  private constructor(dir: string, log: DataDirLog, keys: readonly PublicKey[], options: DataDirBundleOptions) {
    this.#dir = dir;
    this.#log = log;
    const derive = { ...(options.logger === undefined ? {} : { logger: options.logger }), ...(options.snapshot === undefined ? {} : { snapshot: options.snapshot }) };
    this.#builder = new BundleBuilder(log, keys, (size) => stateAt(dir, { size }, derive).machine);
  }

  static async open(dir: string, options: DataDirBundleOptions = {}): Promise<DataDirBundles> {
    const keys = options.publicKeys ?? loadKeyring(checkDataDir(dir, false).dir);
    const log = await DataDirLog.open(dir);
    return new DataDirBundles(dir, log, keys, options);
  }

  /** Events in the log when opened. */
  get size(): number {
    return this.#log.size;
  }

  /** The event bundle of `seq` (see BundleBuilder.eventBundle). */
  async eventBundle(seq: number, options: { size?: number } = {}): Promise<BuiltBundle<EventBundle>> {
    try {
      return this.#builder.eventBundle(seq, options);
    } catch (err) {
      if (!(err instanceof TreeNeeded) && !this.#retryable(err)) throw err;
      await this.#log.distrustTreeFile();
      return this.#builder.eventBundle(seq, options);
    }
  }

  /** The state bundle of `key` as of `at` (a seq, time or size; default: the log's size). */
  stateBundle(key: string, options: { at?: AtSpec } = {}): BuiltBundle<StateBundle> {
    const atSize = options.at === undefined ? undefined : resolveAt(this.#dir, options.at);
    if (atSize !== undefined && atSize > this.#log.size) throw outOfRange(`position ${atSize} is beyond the log's ${this.#log.size} events`, 'pick a position inside the log');
    return this.#builder.stateBundle(key, atSize === undefined ? {} : { atSize });
  }

  #retryable(err: unknown): boolean {
    return isSteleError(err) && (err.code === 'STELE_E_CHECKPOINT_MISMATCH' || err.code === 'STELE_E_TREE_MISMATCH') && this.#log.usedTreeFile;
  }

  close(): void {
    this.#log.close();
  }
}

/** One event bundle from a data directory. */
export async function proveEventBundle(dir: string, seq: number, options: DataDirBundleOptions & { size?: number } = {}): Promise<BuiltBundle<EventBundle>> {
  const bundles = await DataDirBundles.open(dir, options);
  try {
    return await bundles.eventBundle(seq, options.size === undefined ? {} : { size: options.size });
  } finally {
    bundles.close();
  }
}

/** One state bundle from a data directory. */
export async function proveStateBundle(dir: string, key: string, options: DataDirBundleOptions & { at?: AtSpec } = {}): Promise<BuiltBundle<StateBundle>> {
  const bundles = await DataDirBundles.open(dir, options);
  try {
    return bundles.stateBundle(key, options.at === undefined ? {} : { at: options.at });
  } finally {
    bundles.close();
  }
}

// ---- The state as of a size, for a long-running reader ----

/**
 * The state as of a size for a server answering many state bundles: one derivation from the
 * files is kept and moved forward (a newer checkpoint costs the events since the last one);
 * an older size is derived afresh and not kept. Memory: one more copy of the state.
 */
export class StateAtCache {
  #derivation: Derivation | undefined;

  constructor(
    private readonly dir: string,
    private readonly options: { logger?: Logger } = {},
  ) {}

  at(size: number): BundleState {
    const d = this.#derivation;
    if (d !== undefined && d.size <= size) {
      try {
        d.advance(size);
        return d.machine;
      } catch (err) {
        this.#derivation = undefined;
        throw err;
      }
    }
    if (d === undefined) {
      const fresh = Derivation.open(this.dir, size, this.options);
      fresh.advance(size);
      this.#derivation = fresh;
      return fresh.machine;
    }
    return stateAt(this.dir, { size }, this.options).machine;
  }
}
