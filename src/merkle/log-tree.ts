/**
 * The log Merkle tree of stele: the RFC 6962 §2.1 / RFC 9162 §2.1 Merkle Tree Hash (MTH) over
 * the event hashes, its incremental right edge, its stored hashes, and inclusion and
 * consistency proofs (RFC 9162 §2.1.3 and §2.1.4) with their verifiers.
 *
 * Hashing (DESIGN.md §2): leaf = SHA-256(0x00 ‖ leafInput) with leafInput the 32-byte event
 * hash; node = SHA-256(0x01 ‖ left ‖ right); the empty tree's root = SHA-256("").
 *
 * Pure: no I/O, no clock. It imports only hashing, hex and the error type (which import
 * nothing), so the same code runs on the server with node:crypto and in the offline checker
 * and the browser with @noble/hashes; every function takes the SHA-256 implementation as a
 * parameter. Storage comes in through the synchronous `HashReader` interface, as in Go's
 * `sumdb/tlog`.
 *
 * Invariants:
 * - Stored hashes: the hash of every complete subtree (2^level leaves starting at a multiple
 *   of 2^level) lives at one index of an append-only array, in creation order. Appending leaf
 *   k (0-based) stores its leaf hash, then the hash of each subtree it completes, bottom up.
 *   So a tree of size n has exactly `storedHashCount(n)` = 2n − popcount(n) stored hashes, and
 *   those of a smaller tree are a prefix of those of a larger one.
 * - Every hash of a tree of size n (any root, any proof element) is composed of at most
 *   ⌊log2 n⌋ + 1 stored hashes per node of the RFC's recursion: a node of the RFC tree is
 *   either complete or on the right edge, and a right-edge node [lo, hi) is the right fold of
 *   the complete subtrees given by the bits of hi − lo (lo is a multiple of a power of two
 *   ≥ hi − lo).
 * - Sizes and indexes are JS numbers up to 2^53. No 32-bit bitwise operator touches them:
 *   halving is `Math.floor(x / 2)`, the low bit is `x % 2`. Stored-hash indexes must stay safe
 *   integers, so trees with stored hashes are capped at `storedSizeMax` = 2^52 leaves
 *   (storedHashCount(2^52) = 2^53 − 1); the verifiers need no storage and accept any size up
 *   to Number.MAX_SAFE_INTEGER.
 *
 * Memory: the frontier holds popcount(n) ≤ ⌊log2 n⌋ + 1 hashes (at most 52). The stored
 * hashes are (2n − popcount(n)) × 32 bytes, about 64 bytes per event, and live in whatever
 * backs the HashReader (`MemoryHashStore` here, the derived tree file on disk).
 */
import { steleError } from '../errors.js';
import { fromHex, isHash64, toHex } from '../hash/hex.js';
import type { Sha256 } from '../hash/sha256.js';

/** Bytes of one SHA-256 hash, the only hash size of the log tree. */
const hashBytes = 32;

/**
 * The largest tree size whose stored hashes this module addresses: storedHashCount(2^52)
 * = 2^53 − 1 is the largest count whose indexes are all safe integers. At a million events
 * per second it takes 142 years to reach, so it is a bound on arithmetic, not on use.
 */
export const storedSizeMax = 2 ** 52;

/**
 * Synchronous source of stored hashes, by stored-hash index (see `storedHashIndex`).
 * Returns one 32-byte hash per index, in the order asked. An index at or beyond what is
 * stored is an operating error of the reader (STELE_E_SIZE_OUT_OF_RANGE), never a wrong hash.
 */
export interface HashReader {
  readHashes(indexes: readonly number[]): Uint8Array[];
}

/** A broken invariant inside stele: crash, as CONVENTIONS.md asks (no node:assert here, for the browser). */
function bug(message: string): never {
  throw new Error(`stele bug in merkle/log-tree: ${message}`);
}

function outOfRange(message: string, fix: string): never {
  throw steleError('STELE_E_SIZE_OUT_OF_RANGE', message, { fix });
}

function isCount(n: number, max: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n <= max;
}

// ---- Arithmetic on sizes up to 2^53 (never 32-bit bitwise operators) ----

/** Number of one bits of a non-negative safe integer. */
function popcount(n: number): number {
  let count = 0;
  while (n > 0) {
    count += n % 2;
    n = Math.floor(n / 2);
  }
  return count;
}

/** ⌊log2 n⌋ for a positive safe integer; Math.log2 can round up just below a power of two. */
function floorLog2(n: number): number {
  let level = Math.floor(Math.log2(n));
  if (2 ** level > n) level--;
  else if (2 ** (level + 1) <= n) level++;
  return level;
}

/**
 * Walks RFC 9162 §2.1.1's k down a path of the recursion: `next(width)` returns the largest
 * power of two strictly smaller than `width` (≥ 2), leaving its level in `level`, for widths that never grow
 * past the previous k (as along PATH and SUBPROOF). Halving from the previous k costs O(1)
 * amortised, where Math.log2 per level showed up in profiles of proof generation.
 */
class SplitWalk {
  leaves: number;
  level: number;
  constructor(width: number) {
    this.level = floorLog2(width);
    this.leaves = 2 ** this.level;
  }
  next(width: number): number {
    while (this.leaves >= width) {
      this.leaves /= 2;
      this.level--;
    }
    return this.leaves;
  }
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === hashBytes;
}

// ---- Hashing (RFC 6962 §2.1, RFC 9162 §2.1.1) ----

/** Leaf hash, RFC 9162 §2.1.1: SHA-256(0x00 ‖ leafInput). The log's leaf input is the event hash. */
export function hashLeaf(sha: Sha256, leafInput: Uint8Array): Uint8Array {
  const data = new Uint8Array(1 + leafInput.length);
  data[0] = 0x00;
  data.set(leafInput, 1);
  return sha(data);
}

/**
 * Input buffer of node hashes, reused: node hashing is most of the work of roots, appends and
 * verification, and a fresh 65-byte array per node costs ~10% of a node:crypto hash. Safe
 * because a `Sha256` is synchronous and returns a new array (it must not keep its input).
 */
const nodeInput = new Uint8Array(1 + 2 * hashBytes);
nodeInput[0] = 0x01;

/** Interior node hash, RFC 9162 §2.1.1: SHA-256(0x01 ‖ left ‖ right). */
export function hashChildren(sha: Sha256, left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length === hashBytes && right.length === hashBytes) {
    // Fast case: two SHA-256 hashes, as in every tree this module builds.
    nodeInput.set(left, 1);
    nodeInput.set(right, 1 + hashBytes);
    return sha(nodeInput);
  }
  const data = new Uint8Array(1 + left.length + right.length);
  data[0] = 0x01;
  data.set(left, 1);
  data.set(right, 1 + left.length);
  return sha(data);
}

/** Root of the empty tree, RFC 9162 §2.1.1: MTH({}) = SHA-256(""). */
export function emptyRoot(sha: Sha256): Uint8Array {
  return sha(new Uint8Array(0));
}

// ---- Stored hashes ----

/** storedHashCount without the range check, for sizes already checked. */
function countOf(size: number): number {
  return 2 * size - popcount(size);
}

/**
 * Number of stored hashes of a tree of `size` leaves: 2·size − popcount(size) (each leaf,
 * plus each complete subtree of two or more leaves). A size above `storedSizeMax` is
 * STELE_E_SIZE_OUT_OF_RANGE.
 */
export function storedHashCount(size: number): number {
  if (!isCount(size, storedSizeMax)) {
    outOfRange(`stored hash count of size ${size}: the size must be an integer in 0…${storedSizeMax}`, 'pass a tree size (a count of events), not a byte length or a stored-hash index');
  }
  return countOf(size);
}

/**
 * Index in the stored-hash array of the complete subtree at `level` (2^level leaves) and
 * position `index` (its leaves are index·2^level … (index+1)·2^level − 1; level 0 is the
 * leaves, RFC 9162 §2.1.1's leaf hashes). The subtree is created by appending its last leaf
 * k = (index+1)·2^level − 1, after the storedHashCount(k) hashes of the tree before k, as the
 * level-th hash of that append: so its index is storedHashCount(k) + level.
 */
export function storedHashIndex(level: number, index: number): number {
  if (!isCount(level, 52) || !isCount(index, storedSizeMax) || (index + 1) * 2 ** level > storedSizeMax) {
    outOfRange(
      `stored hash index of level ${level}, index ${index}: the subtree must end within the first ${storedSizeMax} leaves`,
      'pass a level in 0…52 and an index below size / 2^level',
    );
  }
  return countOf((index + 1) * 2 ** level - 1) + level;
}

/**
 * Pushes the stored indexes of the complete subtrees that cover [lo, hi), left to right:
 * one per bit of hi − lo, largest first. `level` is that of the largest, or above (each level
 * too many costs one idle turn). Requires lo to be a multiple of 2^level, which holds for
 * every node of the RFC tree and for [0, size).
 */
function pushCover(lo: number, hi: number, level: number, out: number[]): void {
  let width = hi - lo;
  let leaves = 2 ** level;
  let start = lo;
  if (start % leaves !== 0 || width > 2 * leaves - 1) bug(`range [${lo}, ${hi}) does not fit level ${level}`);
  while (width > 0) {
    if (width >= leaves) {
      out.push(countOf(start + leaves - 1) + level);
      start += leaves;
      width -= leaves;
    }
    leaves /= 2;
    level--;
  }
}

/** Right fold of hashes[from … to−1]: the MTH of a right-edge node from its complete subtrees. */
function foldRight(sha: Sha256, hashes: readonly Uint8Array[], from: number, to: number): Uint8Array {
  let root = hashes[to - 1] ?? bug('empty fold');
  for (let i = to - 2; i >= from; i--) root = hashChildren(sha, hashes[i]!, root);
  return root;
}

/**
 * MTH of each range [bounds[3i], bounds[3i+1]) whose largest complete subtree is at most at
 * level bounds[3i+2], from one `readHashes` call (so a file-backed reader serves a whole proof
 * with one batch of preads).
 */
function hashRanges(sha: Sha256, bounds: readonly number[], reader: HashReader): Uint8Array[] {
  const indexes: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < bounds.length; i += 3) {
    pushCover(bounds[i]!, bounds[i + 1]!, bounds[i + 2]!, indexes);
    ends.push(indexes.length);
  }
  if (indexes.length === 0) return [];
  const hashes = reader.readHashes(indexes);
  if (hashes.length !== indexes.length) bug(`reader returned ${hashes.length} hashes for ${indexes.length} indexes`);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const end of ends) {
    out.push(foldRight(sha, hashes, from, end));
    from = end;
  }
  return out;
}

/**
 * RFC 6962 §2.1 MTH(D[size]) of any size ≤ the reader's stored size, from ⌊log2 size⌋ + 1
 * stored hashes at most: the complete subtrees of [0, size), folded from the right.
 * The empty tree gives SHA-256(""). Size outside 0…storedSizeMax: STELE_E_SIZE_OUT_OF_RANGE.
 */
export function treeHash(sha: Sha256, size: number, reader: HashReader): Uint8Array {
  if (!isCount(size, storedSizeMax)) {
    outOfRange(`tree hash of size ${size}: the size must be an integer in 0…${storedSizeMax}`, 'ask for a size up to the current log size');
  }
  if (size === 0) return emptyRoot(sha);
  return hashRanges(sha, [0, size, floorLog2(size)], reader)[0]!;
}

// ---- The right edge, kept incrementally ----

/** The JSON form of a `LogTreeFrontier`: its size and its hashes as lowercase hex, largest subtree first. */
export interface LogTreeFrontierJson {
  size: number;
  hashes: string[];
}

/**
 * The right edge of the log tree (a compact range [0, size)): the hash of one complete subtree
 * per one bit of `size`, largest (leftmost) first, popcount(size) ≤ ⌊log2 size⌋ + 1 hashes.
 * Enough to append (RFC 9162 §2.1.1's MTH grows only at the right edge) and to compute the
 * root, without the stored hashes.
 */
export class LogTreeFrontier {
  readonly #sha: Sha256;
  #size: number;
  #hashes: Uint8Array[];
  /** MTH of the current size; computed on demand, dropped by append. */
  #root: Uint8Array | undefined;

  /** The empty tree, hashing with `sha`. */
  constructor(sha: Sha256) {
    this.#sha = sha;
    this.#size = 0;
    this.#hashes = [];
    this.#root = undefined;
  }

  /** Number of leaves appended. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends one leaf (RFC 9162 §2.1.1 leaf input: the 32-byte event hash) and returns the new
   * stored hashes in order: the leaf hash, then each complete subtree this leaf completes,
   * bottom up. The caller appends them to its HashReader's store so that stored index
   * storedHashCount(size before) is the first of them. Two hashes per append amortised
   * (one per trailing one bit of the old size, plus the leaf).
   */
  append(leafInput: Uint8Array): Uint8Array[] {
    if (this.#size >= storedSizeMax) {
      outOfRange(`the log tree is full at ${storedSizeMax} leaves`, 'start a new log; stored-hash indexes beyond this are not safe integers');
    }
    const sha = this.#sha;
    let hash = hashLeaf(sha, leafInput);
    const stored = [hash];
    // Each one bit at the bottom of the old size is a complete subtree of the same size as
    // the one being built: merge with it and carry, as in binary addition.
    let carry = this.#size;
    while (carry % 2 === 1) {
      hash = hashChildren(sha, this.#hashes.pop() ?? bug('frontier shorter than popcount(size)'), hash);
      stored.push(hash);
      carry = (carry - 1) / 2;
    }
    this.#hashes.push(hash);
    this.#size++;
    this.#root = undefined;
    return stored;
  }

  /**
   * RFC 6962 §2.1 MTH of the current size: the frontier folded from the right,
   * popcount(size) − 1 node hashes, cached until the next append. Do not mutate the result.
   */
  root(): Uint8Array {
    if (this.#root === undefined) {
      this.#root = this.#size === 0 ? emptyRoot(this.#sha) : foldRight(this.#sha, this.#hashes, 0, this.#hashes.length);
    }
    return this.#root;
  }

  /** Size and frontier hashes as hex, for a snapshot: restoring needs no replay. */
  toJSON(): LogTreeFrontierJson {
    return { size: this.#size, hashes: this.#hashes.map(toHex) };
  }

  /**
   * Parses `toJSON`'s output strictly: size an integer in 0…storedSizeMax, exactly
   * popcount(size) hashes of 64 lowercase hex, no other keys. Anything else is
   * STELE_E_TREE_MISMATCH, since a frontier comes from a stele-written snapshot.
   */
  static fromJSON(sha: Sha256, json: unknown): LogTreeFrontier {
    const malformed = (why: string): never => {
      throw steleError('STELE_E_TREE_MISMATCH', `log tree frontier is malformed: ${why}`, {
        fix: 'the frontier comes from a snapshot: delete that snapshot so the log is replayed from the start',
      });
    };
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return malformed('not an object');
    const keys = Object.keys(json).sort().join(',');
    if (keys !== 'hashes,size') return malformed(`keys are {${keys}}, expected {hashes,size}`);
    const { size, hashes } = json as { size: unknown; hashes: unknown };
    if (typeof size !== 'number' || !isCount(size, storedSizeMax)) return malformed(`size ${String(size)} is not an integer in 0…${storedSizeMax}`);
    if (!Array.isArray(hashes) || hashes.length !== popcount(size)) {
      return malformed(`a tree of size ${size} has ${popcount(size)} frontier hashes`);
    }
    const frontier = new LogTreeFrontier(sha);
    for (const hex of hashes as unknown[]) {
      if (typeof hex !== 'string' || !isHash64(hex)) return malformed('a hash is not 64 lowercase hex characters');
      frontier.#hashes.push(fromHex(hex) ?? bug('isHash64 accepted non-hex'));
    }
    frontier.#size = size;
    return frontier;
  }

  /**
   * Rebuilds the frontier of `size` from the stored hashes in one `readHashes` of
   * popcount(size) indexes (the complete subtrees of [0, size)). Size outside
   * 0…storedSizeMax: STELE_E_SIZE_OUT_OF_RANGE.
   */
  static fromReader(sha: Sha256, size: number, reader: HashReader): LogTreeFrontier {
    if (!isCount(size, storedSizeMax)) {
      outOfRange(`frontier of size ${size}: the size must be an integer in 0…${storedSizeMax}`, 'pass the number of leaves the stored hashes hold');
    }
    const frontier = new LogTreeFrontier(sha);
    if (size === 0) return frontier;
    const indexes: number[] = [];
    pushCover(0, size, floorLog2(size), indexes);
    const hashes = reader.readHashes(indexes);
    if (hashes.length !== indexes.length) bug(`reader returned ${hashes.length} hashes for ${indexes.length} indexes`);
    frontier.#hashes = [...hashes];
    frontier.#size = size;
    return frontier;
  }
}

// ---- Proofs (RFC 9162 §2.1.3.1, §2.1.4.1) ----

/**
 * Inclusion proof of leaf `index` in the tree of `size` leaves: RFC 9162 §2.1.3.1
 * PATH(index, D[size]), innermost sibling first. Needs 0 ≤ index < size ≤ the reader's stored
 * size (and ≤ storedSizeMax); otherwise STELE_E_SIZE_OUT_OF_RANGE. One `readHashes` call.
 */
export function proveInclusion(sha: Sha256, index: number, size: number, reader: HashReader): Uint8Array[] {
  if (!isCount(size, storedSizeMax) || !Number.isSafeInteger(index) || index < 0 || index >= size) {
    outOfRange(
      `inclusion proof of index ${index} in a tree of size ${size}: need 0 ≤ index < size ≤ ${storedSizeMax}`,
      'ask for an index (seq) below the tree size; a just-appended event is in every size above its seq',
    );
  }
  // The recursion of PATH, unrolled: each step keeps the half holding `index` and records
  // the other half, outermost first; PATH lists them innermost first.
  const bounds: number[] = [];
  let lo = 0;
  let hi = size;
  const split = new SplitWalk(size);
  while (hi - lo > 1) {
    const k = split.next(hi - lo);
    if (index < lo + k) {
      bounds.push(lo + k, hi, split.level);
      hi = lo + k;
    } else {
      bounds.push(lo, lo + k, split.level);
      lo += k;
    }
  }
  return hashRanges(sha, bounds, reader).reverse();
}

/**
 * Consistency proof between the trees of `size1` and `size2` leaves: RFC 9162 §2.1.4.1
 * PROOF(size1, D[size2]) = SUBPROOF(size1, D[size2], true), innermost first. Empty when
 * size1 = 0 or size1 = size2 (nothing to prove; see `checkConsistency`). Needs
 * 0 ≤ size1 ≤ size2 ≤ the reader's stored size (and ≤ storedSizeMax); otherwise
 * STELE_E_SIZE_OUT_OF_RANGE. One `readHashes` call.
 */
export function proveConsistency(sha: Sha256, size1: number, size2: number, reader: HashReader): Uint8Array[] {
  if (!isCount(size2, storedSizeMax) || !Number.isSafeInteger(size1) || size1 < 0 || size1 > size2) {
    outOfRange(
      `consistency proof from size ${size1} to size ${size2}: need 0 ≤ size1 ≤ size2 ≤ ${storedSizeMax}`,
      'pass the older (smaller) size first; neither may exceed the current log size',
    );
  }
  if (size1 === 0 || size1 === size2) return [];
  // SUBPROOF unrolled: `m` leaves of the old tree inside the node [lo, hi); `whole` is the
  // RFC's b, true while the node is a left-edge node whose old part the verifier already has.
  const bounds: number[] = [];
  let lo = 0;
  let hi = size2;
  let m = size1;
  let whole = true;
  const split = new SplitWalk(size2);
  while (m !== hi - lo) {
    const k = split.next(hi - lo);
    if (m <= k) {
      bounds.push(lo + k, hi, split.level);
      hi = lo + k;
    } else {
      bounds.push(lo, lo + k, split.level);
      lo += k;
      m -= k;
      whole = false;
    }
  }
  // The innermost node is at most as wide as the last k, so that k's level covers it.
  if (!whole) bounds.push(lo, hi, split.level);
  return hashRanges(sha, bounds, reader).reverse();
}

// ---- Verification (RFC 9162 §2.1.3.2, §2.1.4.2) ----

/**
 * Verifies an inclusion proof, RFC 9162 §2.1.3.2: true iff `proof` proves that the leaf hash
 * `leafHash` (hashLeaf of the leaf input, not the input) is at `index` in the tree of `size`
 * leaves whose root is `root`. Strict: index ≥ size, a proof too long or too short, a hash
 * that is not 32 bytes, or a size that is not a safe integer give false; it never throws.
 * Note that the RFC algorithm, like every verifier of it, binds the size only through the
 * shape of the path: `root` must be a root the log committed to for `size`.
 */
export function checkInclusion(sha: Sha256, index: number, size: number, leafHash: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (!isHash(leafHash) || !isHash(root)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (!isHash(p) || sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = hashChildren(sha, p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = hashChildren(sha, r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && sameHash(r, root);
}

/**
 * Verifies a consistency proof, RFC 9162 §2.1.4.2: true iff `proof` proves that the tree of
 * `size2` leaves with root `root2` extends the tree of `size1` leaves with root `root1`.
 * Strict, never throws: size1 > size2, a proof too long or too short, or a hash that is not
 * 32 bytes give false. The cases the RFC algorithm leaves out (it assumes 0 < size1 < size2):
 * - size1 = size2: true iff the proof is empty and root1 = root2 (and, for size 0, both are
 *   the empty root);
 * - size1 = 0 < size2: true iff the proof is empty and root1 is the empty root SHA-256("");
 *   every tree extends the empty tree, so root2 is not constrained. This is the behaviour of
 *   transparency-dev/merkle's verifier, which also requires the empty proof, except that we
 *   also reject a root1 that is not the empty tree's root, since no tree of size 0 has any
 *   other root.
 */
export function checkConsistency(sha: Sha256, size1: number, size2: number, root1: Uint8Array, root2: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size1 > size2) return false;
  if (!isHash(root1) || !isHash(root2)) return false;
  if (size1 === size2) {
    return proof.length === 0 && sameHash(root1, root2) && (size1 > 0 || sameHash(root1, emptyRoot(sha)));
  }
  if (size1 === 0) return proof.length === 0 && sameHash(root1, emptyRoot(sha));
  if (proof.length === 0) return false;
  // Step 2: when size1 is a power of two the old tree is a node of the new one and its root
  // is not in the proof; the verifier starts from root1 itself.
  const path = size1 === 2 ** floorLog2(size1) ? [root1, ...proof] : proof;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = fr;
  if (!isHash(fr)) return false;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (!isHash(c) || sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = hashChildren(sha, c, fr);
      sr = hashChildren(sha, c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = hashChildren(sha, sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && sameHash(fr, root1) && sameHash(sr, root2);
}

// ---- In-memory stored hashes ----

/** Hashes per chunk of `MemoryHashStore`: 1 MiB, so growth never copies and no single allocation is huge. */
const chunkHashes = 32 * 1024;

/**
 * Stored hashes in memory (32 bytes each), for tests, benchmarks and read-only commands that
 * rebuild the tree from the log. Growth appends 1 MiB chunks instead of reallocating one
 * buffer, so appending never copies what is stored and the store is not capped by the largest
 * typed array. `readHashes` returns copies, so a later `truncate` + `append` cannot change a
 * hash already handed out.
 */
export class MemoryHashStore implements HashReader {
  #chunks: Uint8Array[] = [];
  #count = 0;

  /** Number of stored hashes. */
  get count(): number {
    return this.#count;
  }

  /** Appends 32-byte hashes at the end (as returned by `LogTreeFrontier.append`). */
  append(hashes: readonly Uint8Array[]): void {
    for (const hash of hashes) {
      if (hash.length !== hashBytes) bug(`stored hash of ${hash.length} bytes`);
      const chunk = Math.floor(this.#count / chunkHashes);
      if (chunk === this.#chunks.length) this.#chunks.push(new Uint8Array(chunkHashes * hashBytes));
      this.#chunks[chunk]!.set(hash, (this.#count % chunkHashes) * hashBytes);
      this.#count++;
    }
  }

  /** Keeps the first `count` hashes; a count above the current one is STELE_E_SIZE_OUT_OF_RANGE. */
  truncate(count: number): void {
    if (!isCount(count, this.#count)) {
      outOfRange(`cannot truncate ${this.#count} stored hashes to ${count}`, `pass a count in 0…${this.#count}: truncate only shortens`);
    }
    this.#count = count;
    this.#chunks.length = Math.ceil(count / chunkHashes);
  }

  /** The hash at each stored index, as copies; an index ≥ count is STELE_E_SIZE_OUT_OF_RANGE. */
  readHashes(indexes: readonly number[]): Uint8Array[] {
    const out: Uint8Array[] = new Array<Uint8Array>(indexes.length);
    for (let i = 0; i < indexes.length; i++) {
      const index = indexes[i]!;
      if (!Number.isSafeInteger(index) || index < 0 || index >= this.#count) {
        outOfRange(
          `stored hash ${index} does not exist: the store holds ${this.#count}`,
          'ask for a tree size no larger than the number of events whose hashes were appended',
        );
      }
      const at = (index % chunkHashes) * hashBytes;
      out[i] = this.#chunks[Math.floor(index / chunkHashes)]!.slice(at, at + hashBytes);
    }
    return out;
  }
}
