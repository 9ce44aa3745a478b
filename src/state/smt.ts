/**
 * The authenticated state of stele: the binary compact sparse Merkle tree over the keys'
 * hashes of DESIGN.md §3, kept incrementally with a lazy root, built in bulk, and proving
 * inclusion and non-inclusion. The hashing and the proof verifier live in ./smt-hash.ts
 * (pure, browser-safe) and are re-exported here.
 *
 * What "compact" collapses and what it does not: a subtree of ONE entry is its leaf at
 * whatever depth, but a subtree of two or more entries that all share bit d is still hashed
 * at level d, with the 32 zero bytes of the empty side as one child. So two keys sharing
 * their first 10 bits cost 10 node hashes above the node that splits them.
 *
 * Representation (why it is fast and small): the recursion's nodes with two non-empty sides
 * are the branch nodes of a PATRICIA trie, exactly n − 1 for n entries. Only those are
 * stored; the zero-sibling levels between a branch node and its parent are hashed on the way
 * up ("lifting"), so a stored hash is the subtree root *as its parent sees it*, at depth
 * parent.split + 1 (0 for the root). Leaves and branch nodes live in flat typed arrays of
 * 32-byte slots (struct of arrays), not objects: ~140 bytes per entry in all, no allocation
 * per node, and a hash input is assembled with eight Int32 moves per half.
 *
 * Invariants:
 * - A child reference is a number: ≥ 0 a branch node index, < 0 the leaf index `~ref`.
 * - A branch node's `split` is the first bit on which its two sides differ; splits strictly
 *   increase downwards; all keys under a node share every bit above its split.
 * - Laziness: set/delete hash nothing. They mark dirty the branch nodes on the changed path
 *   and a node whose parent changed (its lift changed); `root()` re-hashes dirty nodes only,
 *   children first, so the shared upper path of many updates is hashed once. A dirty node is
 *   always reachable from the root through dirty nodes. One changed key costs at most the
 *   depth of its path in hashes, zero-sibling levels included (≤ 257).
 * - Hashes handed to callers are copies, never views of the arenas.
 *
 * Pure: no I/O, no clock. Hashing comes in as a `Sha256Into` (default: node:crypto's, from
 * ./sha256-into.ts, the only node-specific import; pass `sha256IntoOf(sha256Portable)` to
 * run elsewhere).
 */
import { canonicalize } from '../canonical/json.js';
import { steleError } from '../errors.js';
import { sha256Into, sha256Utf8Into } from './sha256-into.js';
import type { Sha256Into, StateProof } from './smt-hash.js';
import { firstDifferingBit, keyBit, stateEmptyRoot, stateHashBytes, stateKeyBits } from './smt-hash.js';

export {
  checkStateProof,
  firstDifferingBit,
  hashStateKey,
  hashStateLeaf,
  hashStateNode,
  hashStateValue,
  keyBit,
  sha256IntoOf,
  stateEmptyRoot,
  stateHashBytes,
  stateKeyBits,
} from './smt-hash.js';
export type { Sha256Into, StateProof, StateProofEnd } from './smt-hash.js';

/**
 * Entries one tree holds. Each arena is one typed array of 32-byte slots, and Node 20 caps a
 * typed array at 2^32 bytes (buffer.constants.MAX_LENGTH), so 2^27 slots is the most an arena
 * can address: ~19 GB of tree, far beyond any state this service keeps in memory.
 */
export const stateEntriesMax = 2 ** 27;

/** DESIGN.md §3 keyHash = SHA-256(UTF-8 key), with node:crypto encoding the string natively. */
export function stateKeyHash(key: string): Uint8Array {
  const out = new Uint8Array(stateHashBytes);
  sha256Utf8Into(key, out, 0);
  return out;
}

/** DESIGN.md §3 valueHash = SHA-256(JCS(value)); a non-JSON value throws canonicalize's SteleError. */
export function stateValueHash(value: unknown): Uint8Array {
  const out = new Uint8Array(stateHashBytes);
  sha256Utf8Into(canonicalize(value), out, 0);
  return out;
}

/** A broken invariant or a misuse by stele's own code: crash (no node:assert, so the core stays portable). */
function bug(message: string): never {
  throw new Error(`stele bug in state/smt: ${message}`);
}

function checkHash(hash: Uint8Array, what: string): void {
  if (!(hash instanceof Uint8Array) || hash.length !== stateHashBytes) bug(`${what} must be ${stateHashBytes} bytes`);
}

// ---- The hash input, shared by every hot path ----

/**
 * One 65-byte hash input, reused for every leaf and node hash (safe: hashing is synchronous
 * and a Sha256Into must not keep its input). It sits at byte 3 of a 68-byte buffer so that
 * both 32-byte halves start on a 4-byte boundary: copying a hash in from an arena is eight
 * Int32 moves instead of a subarray allocation and a native call.
 */
const inputBuffer = new ArrayBuffer(68);
const input = new Uint8Array(inputBuffer, 3, 1 + 2 * stateHashBytes);
const input32 = new Int32Array(inputBuffer);
/** input32 word of the first (left, or keyHash) and second (right, or valueHash) half. */
const firstWord = 1;
const secondWord = 9;

/** Copies the 32-byte slot starting at Int32 word `from` of `src` into the input half at `word`. */
function load(src: Int32Array, from: number, word: number): void {
  input32[word] = src[from]!;
  input32[word + 1] = src[from + 1]!;
  input32[word + 2] = src[from + 2]!;
  input32[word + 3] = src[from + 3]!;
  input32[word + 4] = src[from + 4]!;
  input32[word + 5] = src[from + 5]!;
  input32[word + 6] = src[from + 6]!;
  input32[word + 7] = src[from + 7]!;
}

function loadZero(word: number): void {
  input32.fill(0, word, word + 8);
}

function int32View(bytes: Uint8Array): Int32Array {
  if (bytes.byteOffset % 4 !== 0 || bytes.length % stateHashBytes !== 0) bug('arena not aligned to 32-byte slots');
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
}

// ---- Arenas: the tree as flat arrays ----

/**
 * The arrays behind a tree, in 32-byte slots. Leaf i: `keys`, `values`, `leafHashes` at
 * bytes [32i, 32i + 32). Branch node j: `left[j]`, `right[j]` (child references), `split[j]`
 * (its split bit) and its hash, lifted to its parent's split + 1, at `hashes` [32j, 32j + 32).
 * Exposed so that a bulk builder on worker threads (./build-parallel.ts) can fill them in
 * shared memory with the same pure functions `StateTree.build` uses.
 */
export interface StateArenas {
  keys: Uint8Array;
  values: Uint8Array;
  leafHashes: Uint8Array;
  left: Int32Array;
  right: Int32Array;
  split: Uint8Array;
  hashes: Uint8Array;
}

/**
 * Arenas for `leaves` leaves and `leaves − 1` branch nodes, on `allocate(bytes)` (a plain
 * ArrayBuffer by default; a SharedArrayBuffer for worker threads). One buffer per array.
 */
export function allocateStateArenas(leaves: number, allocate: (bytes: number) => ArrayBufferLike = (bytes) => new ArrayBuffer(bytes)): StateArenas {
  if (!Number.isSafeInteger(leaves) || leaves < 0 || leaves > stateEntriesMax) tooMany(leaves);
  const inner = Math.max(leaves - 1, 0);
  return {
    keys: new Uint8Array(allocate(leaves * stateHashBytes)),
    values: new Uint8Array(allocate(leaves * stateHashBytes)),
    leafHashes: new Uint8Array(allocate(leaves * stateHashBytes)),
    left: new Int32Array(allocate(inner * 4)),
    right: new Int32Array(allocate(inner * 4)),
    split: new Uint8Array(allocate(inner)),
    hashes: new Uint8Array(allocate(inner * stateHashBytes)),
  };
}

function tooMany(count: number): never {
  throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `a state tree holds at most ${stateEntriesMax} entries, not ${count}`, {
    fix: 'split the state across modules or trees; each arena of 32-byte slots is one typed array capped at 4 GiB',
  });
}

/** Writes leaf(i) of DESIGN.md §3 into `leafHashes` for leaves [from, to). */
export function hashStateLeaves(into: Sha256Into, arenas: StateArenas, from: number, to: number): void {
  const keys32 = int32View(arenas.keys);
  const values32 = int32View(arenas.values);
  const out = arenas.leafHashes;
  input[0] = 0x00;
  for (let i = from; i < to; i++) {
    load(keys32, i * 8, firstWord);
    load(values32, i * 8, secondWord);
    into(input, out, i * stateHashBytes);
  }
}

/** Leaves sorted by `sortStateLeaves`. */
export interface SortedLeaves {
  /** Leaf indexes in keyHash order, one per distinct key. */
  order: Int32Array;
  /**
   * The first 32 bits of each key of `order`, as far as the sort knew them (it may know
   * fewer: the low bits are then 0). Two entries differing here differ in the key, at the
   * first bit they differ here; entries equal here must be compared in full.
   */
  prefixes: Uint32Array;
  /** Leaves dropped as duplicates: of equal keys only the last (highest index) is kept. */
  dropped: number[];
}

/**
 * Leaves ordered by keyHash (bytewise, i.e. by bits MSB first): the leaves [0, count) when
 * `leaves` is a count, else the leaf indexes listed. Of equal keys only the highest index is
 * kept (a later entry overrides an earlier one, as in a Map). Fast case: keyHashes are
 * uniform, so sorting a Float64Array of (leading key bits · 2^indexBits + leaf) natively
 * orders all but the rare leaves that share those bits; runs of equal leading bits (the only
 * place duplicates can be) are then sorted by full comparison and deduplicated. The leading
 * bits are returned as `prefixes`, in order, so that the build compares neighbours without
 * reading the key arena at random.
 */
export function sortStateLeaves(keys: Uint8Array, leaves: number | Int32Array): SortedLeaves {
  const count = typeof leaves === 'number' ? leaves : leaves.length;
  const slots = keys.length / stateHashBytes;
  const indexBits = Math.max(1, Math.ceil(Math.log2(Math.max(slots, 2))));
  // Leading key bits packed above the leaf index: 53 bits of double mantissa in all.
  const prefixBits = Math.min(32, 53 - indexBits);
  const prefixDivisor = 2 ** (32 - prefixBits);
  const scale = 2 ** indexBits;
  const packed = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const leaf = typeof leaves === 'number' ? i : leaves[i]!;
    const o = leaf * stateHashBytes;
    const top = keys[o]! * 0x1000000 + ((keys[o + 1]! << 16) | (keys[o + 2]! << 8) | keys[o + 3]!);
    packed[i] = Math.floor(top / prefixDivisor) * scale + leaf;
  }
  packed.sort();
  let order = new Int32Array(count);
  let prefixes = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const leaf = packed[i]! % scale;
    order[i] = leaf;
    prefixes[i] = ((packed[i]! - leaf) / scale) * prefixDivisor;
  }
  const compare = (a: number, b: number): number => {
    for (let k = 0; k < stateHashBytes; k++) {
      const d = keys[a * stateHashBytes + k]! - keys[b * stateHashBytes + k]!;
      if (d !== 0) return d;
    }
    return a - b;
  };
  const dropped: number[] = [];
  let w = 0;
  for (let start = 0; start < count; ) {
    const prefix = prefixes[start]!;
    let end = start + 1;
    while (end < count && prefixes[end] === prefix) end++;
    if (end - start === 1) {
      prefixes[w] = prefix;
      order[w++] = order[start]!;
    } else {
      const run = Array.from(order.subarray(start, end)).sort(compare);
      for (let j = 0; j < run.length; j++) {
        const leaf = run[j]!;
        const next = run[j + 1];
        if (next !== undefined && firstDifferingBit(keys, leaf * stateHashBytes, keys, next * stateHashBytes) === stateKeyBits) {
          dropped.push(leaf);
          continue;
        }
        prefixes[w] = prefix;
        order[w++] = leaf;
      }
    }
    start = end;
  }
  if (w < count) {
    order = order.slice(0, w);
    prefixes = prefixes.slice(0, w);
  }
  return { order, prefixes, dropped };
}

/**
 * Lifts the subtree root in `hashes` slot `node`, which is the root at depth `from`, to depth
 * `top` ≤ `from`: one node hash per level, the empty side 32 zero bytes, the side given by the
 * bits of any key under it (the key at byte `keyOff` of `keys`).
 */
function lift(into: Sha256Into, hashes: Uint8Array, hashes32: Int32Array, node: number, keys: Uint8Array, keyOff: number, from: number, top: number): void {
  input[0] = 0x01;
  for (let d = from - 1; d >= top; d--) {
    if (keyBit(keys, keyOff, d) === 0) {
      load(hashes32, node * 8, firstWord);
      loadZero(secondWord);
    } else {
      loadZero(firstWord);
      load(hashes32, node * 8, secondWord);
    }
    into(input, hashes, node * stateHashBytes);
  }
}

/** The arenas with their Int32 views, made once per bulk operation (a view per hash would allocate). */
interface ArenaViews {
  keys: Uint8Array;
  left: Int32Array;
  right: Int32Array;
  split: Uint8Array;
  hashes: Uint8Array;
  hashes32: Int32Array;
  leafHashes32: Int32Array;
}

function viewsOf(arenas: StateArenas): ArenaViews {
  return { ...arenas, hashes32: int32View(arenas.hashes), leafHashes32: int32View(arenas.leafHashes) };
}

/**
 * Hashes branch node `node` from its children's clean hashes and lifts it to depth `top`;
 * `keyOff` is the byte offset in `keys` of any key under the node (for the lifted bits).
 */
function hashBranch(into: Sha256Into, v: ArenaViews, node: number, keyOff: number, top: number): void {
  input[0] = 0x01;
  const l = v.left[node]!;
  const r = v.right[node]!;
  if (l >= 0) load(v.hashes32, l * 8, firstWord);
  else load(v.leafHashes32, ~l * 8, firstWord);
  if (r >= 0) load(v.hashes32, r * 8, secondWord);
  else load(v.leafHashes32, ~r * 8, secondWord);
  into(input, v.hashes, node * stateHashBytes);
  const s = v.split[node]!;
  if (s > top) lift(into, v.hashes, v.hashes32, node, v.keys, keyOff, s, top);
}

/**
 * Builds the branch nodes of the sorted, duplicate-free leaves `order[lo … hi)` and returns
 * the reference of their subtree root, hashed as seen at depth `top` (its parent's split + 1,
 * or 0 for the whole tree). The leaves' hashes must be in `leafHashes` already.
 *
 * Branch node ids are boundary positions: the node splitting sorted leaves i and i + 1 is
 * node i (each boundary of adjacent sorted keys is the split of exactly one branch node, at
 * their first differing bit). So disjoint ranges write disjoint slots, and two threads can
 * build two sides of a tree in place and `joinStateRanges` them. The trie is
 * the Cartesian tree of those first differing bits, built in one pass with a stack; a node
 * is hashed when popped, because by then both its children are final and its parent, hence
 * its lift, is known. No recursion, no allocation per node. `prefixes` (optional) are the
 * `SortedLeaves.prefixes` of order[lo … hi), indexed from lo.
 */
export function buildStateRange(into: Sha256Into, arenas: StateArenas, order: Int32Array, lo: number, hi: number, top: number, prefixes?: Uint32Array): number {
  const count = hi - lo;
  if (count <= 0) bug('empty range');
  if (count === 1) return ~order[lo]!;
  const v = viewsOf(arenas);
  const { keys, left, right, split } = v;
  // Leaf `node` (the last one left of the boundary) is under node `node`: its key has the lifted bits.
  const hashNode = (node: number, nodeTop: number): void => hashBranch(into, v, node, order[node]! * stateHashBytes, nodeTop);
  // Splits strictly increase up the stack, so it never holds more than 256 nodes.
  const stack = new Int32Array(stateKeyBits + 1);
  let sp = 0;
  for (let i = lo; i < hi - 1; i++) {
    const a = order[i]!;
    const b = order[i + 1]!;
    // Fast case: the sort's leading bits already tell neighbours apart (sequential reads).
    const x = prefixes === undefined ? 0 : prefixes[i - lo]! ^ prefixes[i + 1 - lo]!;
    const d = x !== 0 ? Math.clz32(x) : firstDifferingBit(keys, a * stateHashBytes, keys, b * stateHashBytes);
    if (d >= stateKeyBits) bug('duplicate key in a sorted range');
    split[i] = d;
    left[i] = ~a;
    right[i] = ~b;
    let last = -1;
    while (sp > 0 && split[stack[sp - 1]!]! > d) {
      const p = stack[--sp]!;
      const below = sp > 0 ? split[stack[sp - 1]!]! : -1;
      hashNode(p, (below > d ? below : d) + 1);
      last = p;
    }
    if (last >= 0) left[i] = last;
    if (sp > 0) right[stack[sp - 1]!] = i;
    stack[sp++] = i;
  }
  while (sp > 1) {
    const p = stack[--sp]!;
    hashNode(p, split[stack[sp - 1]!]! + 1);
  }
  const root = stack[0]!;
  hashNode(root, top);
  return root;
}

/**
 * Completes branch node `at.node`, splitting on bit `at.split`, from the roots of its two
 * sides (as returned by `buildStateRange` with top = split + 1), hashed as seen at depth
 * `top`; `order[at.node]` must be a leaf under it when it is lifted (split > top). Returns its
 * id. ./build-parallel.ts joins the two sides of bit 0 with it.
 */
export function joinStateRanges(into: Sha256Into, arenas: StateArenas, order: Int32Array, at: { node: number; split: number }, leftRoot: number, rightRoot: number, top: number): number {
  arenas.left[at.node] = leftRoot;
  arenas.right[at.node] = rightRoot;
  arenas.split[at.node] = at.split;
  hashBranch(into, viewsOf(arenas), at.node, order[at.node]! * stateHashBytes, top);
  return at.node;
}

// ---- The tree ----

/** What a bulk build filled in the arenas it hands to `StateTree.fromArenas`. */
export interface StateBuilt {
  /** Leaf slots 0 … leafCount − 1 are used… */
  leafCount: number;
  /** …except these, which hold no entry (dropped duplicates). */
  freeLeaves: readonly number[];
  /** Branch node slots 0 … nodeCount − 1 are used (default: entries − 1)… */
  nodeCount?: number;
  /** …except these (default: none). */
  freeNodes?: readonly number[];
  /** The root reference; ignored when there is no entry. */
  root: number;
}

/**
 * The branch nodes of the last walk down a path (splits strictly increase down a path, so
 * at most 256) and the leaf reference it ended at. Shared by all trees: every method using
 * them runs to completion synchronously before another can start.
 */
const path = new Int32Array(stateKeyBits);
let walkEnd = 0;

/** `#root` of the empty tree: no branch node index or leaf reference takes this value. */
const emptyRef = 0x7fffffff;

/**
 * The state tree (DESIGN.md §3), mutable, with a lazily recomputed root. Keys and values are
 * given by their 32-byte hashes (`stateKeyHash`, `stateValueHash`); the tree never sees the
 * keys or values themselves.
 */
export class StateTree {
  readonly #into: Sha256Into;
  #size = 0;
  #root = emptyRef;

  // Leaves: arenas of 32-byte slots, a dirty flag (leaf hash stale), a high-water mark and freed slots.
  #keys: Uint8Array;
  #values: Uint8Array;
  #leafHashes: Uint8Array;
  #keys32: Int32Array;
  #values32: Int32Array;
  #leafHashes32: Int32Array;
  #leafDirty: Uint8Array;
  #leafCount = 0;
  #leafFree: number[] = [];

  // Branch nodes: children, split bit, lifted hash, dirty flag, high-water mark, freed slots.
  #left: Int32Array;
  #right: Int32Array;
  #split: Uint8Array;
  #hashes: Uint8Array;
  #hashes32: Int32Array;
  #dirty: Uint8Array;
  #innerCount = 0;
  #innerFree: number[] = [];

  /** The empty state (root = 32 zero bytes), hashing with `into` (node:crypto by default). */
  constructor(into: Sha256Into = sha256Into) {
    this.#into = into;
    const arenas = allocateStateArenas(0);
    this.#keys = arenas.keys;
    this.#values = arenas.values;
    this.#leafHashes = arenas.leafHashes;
    this.#keys32 = int32View(this.#keys);
    this.#values32 = int32View(this.#values);
    this.#leafHashes32 = int32View(this.#leafHashes);
    this.#leafDirty = new Uint8Array(0);
    this.#left = arenas.left;
    this.#right = arenas.right;
    this.#split = arenas.split;
    this.#hashes = arenas.hashes;
    this.#hashes32 = int32View(this.#hashes);
    this.#dirty = new Uint8Array(0);
  }

  /**
   * Builds a tree from scratch: copies the entries into arenas, hashes every leaf, sorts by
   * keyHash and builds the branch nodes bottom-up in one pass (`buildStateRange`). A later
   * entry for the same keyHash overrides an earlier one. The root is then clean: n leaf
   * hashes plus one hash per branch node and per zero-sibling level, nothing else.
   */
  static build(entries: Iterable<readonly [Uint8Array, Uint8Array]>, into: Sha256Into = sha256Into): StateTree {
    const list = Array.isArray(entries) ? (entries as readonly (readonly [Uint8Array, Uint8Array])[]) : [...entries];
    const arenas = allocateStateArenas(list.length);
    for (let i = 0; i < list.length; i++) {
      const [keyHash, valueHash] = list[i]!;
      checkHash(keyHash, 'keyHash');
      checkHash(valueHash, 'valueHash');
      arenas.keys.set(keyHash, i * stateHashBytes);
      arenas.values.set(valueHash, i * stateHashBytes);
    }
    hashStateLeaves(into, arenas, 0, list.length);
    const sorted = sortStateLeaves(arenas.keys, list.length);
    const root = sorted.order.length === 0 ? emptyRef : buildStateRange(into, arenas, sorted.order, 0, sorted.order.length, 0, sorted.prefixes);
    return StateTree.fromArenas(arenas, { leafCount: list.length, freeLeaves: sorted.dropped, root }, into);
  }

  /**
   * Adopts arenas filled by a bulk builder (`StateTree.build`, ./build-parallel.ts), every
   * hash clean (see `StateBuilt`). The arenas may live in shared memory; the tree copies them
   * into buffers of its own only when it grows.
   */
  static fromArenas(arenas: StateArenas, built: StateBuilt, into: Sha256Into = sha256Into): StateTree {
    const { leafCount, freeLeaves, root } = built;
    const size = leafCount - freeLeaves.length;
    const nodeCount = built.nodeCount ?? Math.max(size - 1, 0);
    const freeNodes = built.freeNodes ?? [];
    if (size < 0 || leafCount * stateHashBytes > arenas.keys.length || nodeCount > arenas.split.length || nodeCount - freeNodes.length !== Math.max(size - 1, 0)) {
      bug('arena counts do not add up');
    }
    const tree = new StateTree(into);
    tree.#keys = arenas.keys;
    tree.#values = arenas.values;
    tree.#leafHashes = arenas.leafHashes;
    tree.#keys32 = int32View(arenas.keys);
    tree.#values32 = int32View(arenas.values);
    tree.#leafHashes32 = int32View(arenas.leafHashes);
    tree.#leafDirty = new Uint8Array(arenas.keys.length / stateHashBytes);
    tree.#leafCount = leafCount;
    tree.#leafFree = [...freeLeaves];
    tree.#left = arenas.left;
    tree.#right = arenas.right;
    tree.#split = arenas.split;
    tree.#hashes = arenas.hashes;
    tree.#hashes32 = int32View(arenas.hashes);
    tree.#dirty = new Uint8Array(arenas.split.length);
    tree.#innerCount = nodeCount;
    tree.#innerFree = [...freeNodes];
    tree.#size = size;
    tree.#root = size === 0 ? emptyRef : root;
    return tree;
  }

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /**
   * Bytes held by the tree's arrays, capacity included: ~139 per entry when built in bulk
   * (3 × 32 leaf, 32 + 2 × 4 + 1 branch node, 2 dirty flags), up to 1.5× that after growth.
   * Free slots count 8 bytes each (a JS array element).
   */
  get bytes(): number {
    const arrays = [this.#keys, this.#values, this.#leafHashes, this.#leafDirty, this.#left, this.#right, this.#split, this.#hashes, this.#dirty];
    return arrays.reduce((sum, a) => sum + a.byteLength, 0) + 8 * (this.#leafFree.length + this.#innerFree.length);
  }

  /** The valueHash stored for `keyHash` (a copy), or undefined if the key is absent. */
  get(keyHash: Uint8Array): Uint8Array | undefined {
    checkHash(keyHash, 'keyHash');
    const leaf = this.#findLeaf(keyHash);
    if (leaf < 0) return undefined;
    const o = leaf * stateHashBytes;
    return this.#values.slice(o, o + stateHashBytes);
  }

  /** True iff `keyHash` is present. */
  has(keyHash: Uint8Array): boolean {
    checkHash(keyHash, 'keyHash');
    return this.#findLeaf(keyHash) >= 0;
  }

  /**
   * Sets the valueHash of `keyHash`, inserting the key if absent. Hashes nothing: it marks
   * the path dirty for the next `root()`. Setting the value a key already has changes nothing.
   */
  set(keyHash: Uint8Array, valueHash: Uint8Array): void {
    checkHash(keyHash, 'keyHash');
    checkHash(valueHash, 'valueHash');
    if (this.#root === emptyRef) {
      this.#root = ~this.#newLeaf(keyHash, valueHash);
      this.#size = 1;
      return;
    }
    // One walk down by the key's bits to the leaf its path reaches, remembering the path.
    const depth = this.#walk(keyHash);
    const leaf = ~walkEnd;
    const diff = firstDifferingBit(keyHash, 0, this.#keys, leaf * stateHashBytes);
    if (diff === stateKeyBits) {
      // Fast case of a running service: a new value for an existing key.
      const o = leaf * stateHashBytes;
      if (firstDifferingBit(valueHash, 0, this.#values, o) === stateKeyBits) return;
      this.#values.set(valueHash, o);
      this.#leafDirty[leaf] = 1;
      const dirty = this.#dirty;
      for (let i = 0; i < depth; i++) dirty[path[i]!] = 1;
      return;
    }
    // A new key leaves the existing paths at bit `diff`: a new branch node goes above the
    // first node of the path that splits below `diff` (splits grow down the path, and none
    // equals `diff`, since the key followed the reached leaf's bits at every split).
    let at = 0;
    while (at < depth && this.#split[path[at]!]! < diff) at++;
    const displaced = at < depth ? path[at]! : walkEnd;
    const fresh = this.#newLeaf(keyHash, valueHash);
    const node = this.#newNode(); // may grow the arrays: read them after
    const dirty = this.#dirty;
    for (let i = 0; i < at; i++) dirty[path[i]!] = 1;
    this.#split[node] = diff;
    if (keyBit(keyHash, 0, diff) === 0) {
      this.#left[node] = ~fresh;
      this.#right[node] = displaced;
    } else {
      this.#left[node] = displaced;
      this.#right[node] = ~fresh;
    }
    dirty[node] = 1;
    // The displaced subtree has a new parent, so its lift (hence its stored hash) changes.
    if (displaced >= 0) dirty[displaced] = 1;
    this.#replaceChild(at === 0 ? -1 : path[at - 1]!, keyHash, node);
    this.#size++;
  }

  /** Removes `keyHash`; true if it was present. Hashes nothing (see `set`). */
  delete(keyHash: Uint8Array): boolean {
    checkHash(keyHash, 'keyHash');
    if (this.#root === emptyRef) return false;
    const depth = this.#walk(keyHash);
    const leaf = ~walkEnd;
    if (firstDifferingBit(keyHash, 0, this.#keys, leaf * stateHashBytes) !== stateKeyBits) return false;
    this.#leafFree.push(leaf);
    this.#leafDirty[leaf] = 0;
    this.#size--;
    if (depth === 0) {
      this.#root = emptyRef;
      return true;
    }
    // The parent disappears: the sibling takes its place under the grandparent.
    const parent = path[depth - 1]!;
    const sibling = keyBit(keyHash, 0, this.#split[parent]!) === 0 ? this.#right[parent]! : this.#left[parent]!;
    const dirty = this.#dirty;
    this.#innerFree.push(parent);
    dirty[parent] = 0;
    // The sibling's parent changes, so does its lift; the nodes above lost an entry.
    if (sibling >= 0) dirty[sibling] = 1;
    for (let i = 0; i < depth - 1; i++) dirty[path[i]!] = 1;
    this.#replaceChild(depth === 1 ? -1 : path[depth - 2]!, keyHash, sibling);
    return true;
  }

  /**
   * The state root, root(all, 0) of DESIGN.md §3, as a fresh copy. Re-hashes only what
   * changed since the last call: each dirty node once, after its dirty children.
   */
  root(): Uint8Array {
    const root = this.#root;
    if (root === emptyRef) return stateEmptyRoot();
    this.#refreshRoot();
    const o = (root >= 0 ? root : ~root) * stateHashBytes;
    return (root >= 0 ? this.#hashes : this.#leafHashes).slice(o, o + stateHashBytes);
  }

  /**
   * The proof for `keyHash` against the current root (computed first if stale): inclusion
   * if the key is present (end = its own leaf), non-inclusion otherwise. See `StateProof`.
   */
  prove(keyHash: Uint8Array): StateProof {
    checkHash(keyHash, 'keyHash');
    const siblings: Uint8Array[] = [];
    if (this.#root === emptyRef) return { siblings, end: { type: 'empty' } };
    this.#refreshRoot();
    let ref = this.#root;
    let depth = 0;
    while (ref >= 0) {
      const s = this.#split[ref]!;
      // Zero-sibling levels above this node: the key either follows the node's prefix, or
      // leaves it, and then its path ends in the empty side at that level.
      const keyOff = this.#anyKeyUnder(ref) * stateHashBytes;
      const diff = firstDifferingBit(keyHash, 0, this.#keys, keyOff);
      if (diff < s) {
        for (; depth < diff; depth++) siblings.push(stateEmptyRoot());
        siblings.push(this.#hashAt(ref, s, diff + 1));
        return { siblings, end: { type: 'empty' } };
      }
      for (; depth < s; depth++) siblings.push(stateEmptyRoot());
      const bit = keyBit(keyHash, 0, s);
      const other = bit === 0 ? this.#right[ref]! : this.#left[ref]!;
      siblings.push(this.#storedHash(other));
      depth = s + 1;
      ref = bit === 0 ? this.#left[ref]! : this.#right[ref]!;
    }
    const o = ~ref * stateHashBytes;
    return {
      siblings,
      end: { type: 'leaf', keyHash: this.#keys.slice(o, o + stateHashBytes), valueHash: this.#values.slice(o, o + stateHashBytes) },
    };
  }

  // ---- Internals ----

  /**
   * Walks down from the (non-empty) root by `keyHash`'s bits to the leaf its path reaches:
   * leaves the branch nodes passed in `path[0 … depth)` and the leaf reference in `walkEnd`,
   * and returns the depth. Module-level scratch, safe because the tree is synchronous.
   */
  #walk(keyHash: Uint8Array): number {
    const split = this.#split;
    const left = this.#left;
    const right = this.#right;
    let depth = 0;
    let ref = this.#root;
    while (ref >= 0) {
      path[depth++] = ref;
      ref = keyBit(keyHash, 0, split[ref]!) === 0 ? left[ref]! : right[ref]!;
    }
    walkEnd = ref;
    return depth;
  }

  /** The leaf holding `keyHash`, or −1. */
  #findLeaf(keyHash: Uint8Array): number {
    if (this.#root === emptyRef) return -1;
    this.#walk(keyHash);
    const leaf = ~walkEnd;
    return firstDifferingBit(keyHash, 0, this.#keys, leaf * stateHashBytes) === stateKeyBits ? leaf : -1;
  }

  /** Makes `ref` the child of `parent` on `keyHash`'s side, or the root if parent < 0. */
  #replaceChild(parent: number, keyHash: Uint8Array, ref: number): void {
    if (parent < 0) this.#root = ref;
    else if (keyBit(keyHash, 0, this.#split[parent]!) === 0) this.#left[parent] = ref;
    else this.#right[parent] = ref;
  }

  /** Any leaf under `ref` (its leftmost): all keys under a node share the bits above its split. */
  #anyKeyUnder(ref: number): number {
    while (ref >= 0) ref = this.#left[ref]!;
    return ~ref;
  }

  /** The clean hash of a child reference, as its parent sees it (a copy). */
  #storedHash(ref: number): Uint8Array {
    const o = (ref >= 0 ? ref : ~ref) * stateHashBytes;
    return (ref >= 0 ? this.#hashes : this.#leafHashes).slice(o, o + stateHashBytes);
  }

  /** Branch node `node`'s subtree root at depth `depth` (between its parent's split + 1 and its split). */
  #hashAt(node: number, s: number, depth: number): Uint8Array {
    const out = new Uint8Array(stateHashBytes);
    input[0] = 0x01;
    this.#loadChild(this.#left[node]!, firstWord);
    this.#loadChild(this.#right[node]!, secondWord);
    this.#into(input, out, 0);
    lift(this.#into, out, int32View(out), 0, this.#keys, this.#anyKeyUnder(node) * stateHashBytes, s, depth);
    return out;
  }

  #loadChild(ref: number, word: number): void {
    if (ref >= 0) load(this.#hashes32, ref * 8, word);
    else load(this.#leafHashes32, ~ref * 8, word);
  }

  /** Re-hashes the leaf `leaf` if its value changed. */
  #refreshLeaf(leaf: number): void {
    if (this.#leafDirty[leaf] !== 1) return;
    input[0] = 0x00;
    load(this.#keys32, leaf * 8, firstWord);
    load(this.#values32, leaf * 8, secondWord);
    this.#into(input, this.#leafHashes, leaf * stateHashBytes);
    this.#leafDirty[leaf] = 0;
  }

  /** Re-hashes the dirty branch node `node` (seen at depth `top`), its dirty descendants first. */
  #refresh(node: number, top: number): void {
    const dirty = this.#dirty;
    const s = this.#split[node]!;
    const l = this.#left[node]!;
    const r = this.#right[node]!;
    // Clean children are skipped here, without a call: most of a wide tree is clean.
    if (l >= 0) {
      if (dirty[l] === 1) this.#refresh(l, s + 1);
    } else this.#refreshLeaf(~l);
    if (r >= 0) {
      if (dirty[r] === 1) this.#refresh(r, s + 1);
    } else this.#refreshLeaf(~r);
    input[0] = 0x01;
    this.#loadChild(l, firstWord);
    this.#loadChild(r, secondWord);
    this.#into(input, this.#hashes, node * stateHashBytes);
    if (s > top) lift(this.#into, this.#hashes, this.#hashes32, node, this.#keys, this.#anyKeyUnder(node) * stateHashBytes, s, top);
    dirty[node] = 0;
  }

  /** Brings every hash up to date (see `root`). */
  #refreshRoot(): void {
    const root = this.#root;
    if (root === emptyRef) return;
    if (root < 0) this.#refreshLeaf(~root);
    else if (this.#dirty[root] === 1) this.#refresh(root, 0);
  }

  #newLeaf(keyHash: Uint8Array, valueHash: Uint8Array): number {
    let leaf = this.#leafFree.pop();
    if (leaf === undefined) {
      if (this.#leafCount * stateHashBytes === this.#keys.length) this.#growLeaves();
      leaf = this.#leafCount++;
    }
    const o = leaf * stateHashBytes;
    this.#keys.set(keyHash, o);
    this.#values.set(valueHash, o);
    this.#leafDirty[leaf] = 1;
    return leaf;
  }

  #newNode(): number {
    const free = this.#innerFree.pop();
    if (free !== undefined) return free;
    if (this.#innerCount === this.#split.length) this.#growNodes();
    return this.#innerCount++;
  }

  /** Grows the leaf arenas by half (amortised O(1) per insert), up to stateEntriesMax. */
  #growLeaves(): void {
    const capacity = this.#keys.length / stateHashBytes;
    if (capacity >= stateEntriesMax) tooMany(capacity + 1);
    const next = Math.min(stateEntriesMax, Math.max(16, Math.ceil(capacity * 1.5)));
    const grow = (old: Uint8Array): Uint8Array => {
      const bigger = new Uint8Array(next * stateHashBytes);
      bigger.set(old);
      return bigger;
    };
    this.#keys = grow(this.#keys);
    this.#values = grow(this.#values);
    this.#leafHashes = grow(this.#leafHashes);
    this.#keys32 = int32View(this.#keys);
    this.#values32 = int32View(this.#values);
    this.#leafHashes32 = int32View(this.#leafHashes);
    const dirty = new Uint8Array(next);
    dirty.set(this.#leafDirty);
    this.#leafDirty = dirty;
  }

  #growNodes(): void {
    const capacity = this.#split.length;
    const next = Math.min(stateEntriesMax, Math.max(16, Math.ceil(capacity * 1.5)));
    const left = new Int32Array(next);
    left.set(this.#left);
    const right = new Int32Array(next);
    right.set(this.#right);
    const split = new Uint8Array(next);
    split.set(this.#split);
    const dirty = new Uint8Array(next);
    dirty.set(this.#dirty);
    const hashes = new Uint8Array(next * stateHashBytes);
    hashes.set(this.#hashes);
    this.#left = left;
    this.#right = right;
    this.#split = split;
    this.#dirty = dirty;
    this.#hashes = hashes;
    this.#hashes32 = int32View(hashes);
  }
}
