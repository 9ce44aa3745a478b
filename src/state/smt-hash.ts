/**
 * The hashing of the state tree (DESIGN.md §3) and the verifier of its proofs: everything a
 * third party needs to check a state proof, with no node-only import, so it runs in the
 * browser and the offline checker with @noble/hashes (src/hash/portable.ts). The tree itself
 * (./smt.ts) builds on these definitions and re-exports them.
 *
 * DESIGN.md §3, to the byte:
 * - keyHash = SHA-256(UTF-8 key); valueHash = SHA-256(JCS(value)) (RFC 8785, `canonicalize`);
 * - leaf(k) = SHA-256(0x00 ‖ keyHash ‖ valueHash);
 * - root(S, d) for the entries S whose keyHashes share their first d bits (MSB first: bit 0
 *   is the top bit of byte 0): empty S → 32 zero bytes; one entry → its leaf, at any depth;
 *   otherwise SHA-256(0x01 ‖ root(S₀, d+1) ‖ root(S₁, d+1)), S₀/S₁ split on bit d.
 *
 * Invariants:
 * - Every function here takes the SHA-256 implementation as a parameter (as
 *   src/merkle/log-tree.ts does) and is pure: no I/O, no clock, no state.
 * - `checkStateProof` is total: malformed input gives false, never an exception.
 */
import { canonicalize } from '../canonical/json.js';
import type { Sha256 } from '../hash/sha256.js';

/** Bytes of a keyHash, a valueHash and every node hash. */
export const stateHashBytes = 32;

/** Bits of a keyHash: a path is at most this deep, so a proof has at most this many siblings. */
export const stateKeyBits = 256;

/**
 * SHA-256 that writes its 32-byte digest into `out` at byte `offset`: the allocation-free
 * form the tree's hot paths use (on node:crypto, a fresh 32-byte Buffer per hash costs about
 * a third of the hash). Must be synchronous and must not keep `data`, which the caller reuses.
 */
export type Sha256Into = (data: Uint8Array, out: Uint8Array, offset: number) => void;

/** Adapts any `Sha256` (e.g. @noble/hashes in the browser) to `Sha256Into`. */
export function sha256IntoOf(sha: Sha256): Sha256Into {
  return (data, out, offset) => {
    const digest = sha(data);
    if (digest.length !== stateHashBytes) throw new Error(`stele bug in state/smt-hash: SHA-256 returned ${digest.length} bytes`);
    out.set(digest, offset);
  };
}

const utf8 = new TextEncoder();

/** DESIGN.md §3 keyHash = SHA-256(UTF-8 key). */
export function hashStateKey(sha: Sha256, key: string): Uint8Array {
  return sha(utf8.encode(key));
}

/**
 * DESIGN.md §3 valueHash = SHA-256(JCS(value)), JCS being RFC 8785 (`canonicalize`). A value
 * outside the JSON data model throws canonicalize's typed SteleError.
 */
export function hashStateValue(sha: Sha256, value: unknown): Uint8Array {
  return sha(utf8.encode(canonicalize(value)));
}

function hashPair(sha: Sha256, prefix: number, a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length !== stateHashBytes || b.length !== stateHashBytes) throw new Error(`stele bug in state/smt-hash: hash inputs must be ${stateHashBytes} bytes`);
  const data = new Uint8Array(1 + 2 * stateHashBytes);
  data[0] = prefix;
  data.set(a, 1);
  data.set(b, 1 + stateHashBytes);
  return sha(data);
}

/** DESIGN.md §3 leaf(k) = SHA-256(0x00 ‖ keyHash ‖ valueHash). */
export function hashStateLeaf(sha: Sha256, keyHash: Uint8Array, valueHash: Uint8Array): Uint8Array {
  return hashPair(sha, 0x00, keyHash, valueHash);
}

/** DESIGN.md §3 node = SHA-256(0x01 ‖ root(S₀, d+1) ‖ root(S₁, d+1)). */
export function hashStateNode(sha: Sha256, left: Uint8Array, right: Uint8Array): Uint8Array {
  return hashPair(sha, 0x01, left, right);
}

/** The root of the empty state and of every empty subtree: 32 zero bytes (a fresh copy). */
export function stateEmptyRoot(): Uint8Array {
  return new Uint8Array(stateHashBytes);
}

/** Bit `d` (0 = most significant bit of byte 0) of the 32-byte key at `offset` of `bytes`. */
export function keyBit(bytes: Uint8Array, offset: number, d: number): number {
  return (bytes[offset + (d >>> 3)]! >>> (7 - (d & 7))) & 1;
}

/** First bit on which the 32-byte keys at `aOff` of `a` and `bOff` of `b` differ; 256 if equal. */
export function firstDifferingBit(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): number {
  for (let i = 0; i < stateHashBytes; i++) {
    const x = a[aOff + i]! ^ b[bOff + i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return stateKeyBits;
}

// ---- Proofs ----

/**
 * Where a proof's path ends: an empty subtree (non-inclusion only), or a leaf — the key's own
 * (inclusion; `valueHash` is its value's hash) or another key's sharing every bit of the path
 * (non-inclusion: that key is the only entry under the path's prefix).
 */
export type StateProofEnd = { readonly type: 'empty' } | { readonly type: 'leaf'; readonly keyHash: Uint8Array; readonly valueHash: Uint8Array };

/**
 * A proof about one keyHash. `siblings[d]` is the root, at depth d + 1, of the subtree on the
 * other side of bit d of the keyHash (32 zero bytes where that side is empty), from the root
 * down; the path ends at depth `siblings.length` in `end`. In a compact tree a subtree of one
 * entry is its leaf at whatever depth, so the proof's depth is its number of siblings: 0 for a
 * state of at most one entry, about log2(size) + 1.44 for random keys, at most 256.
 */
export interface StateProof {
  readonly siblings: readonly Uint8Array[];
  readonly end: StateProofEnd;
}

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === stateHashBytes;
}

/** Array.isArray without its `any[]` narrowing, for input typed as an array but unchecked. */
function isList(value: unknown): boolean {
  return Array.isArray(value);
}

function isZero(hash: Uint8Array): boolean {
  for (let i = 0; i < hash.length; i++) if (hash[i] !== 0) return false;
  return true;
}

/**
 * Verifies a state proof (DESIGN.md §3): with `valueHash`, that `keyHash` maps to it in the
 * state whose root is `root` (inclusion); with `undefined`, that `keyHash` is absent from it
 * (non-inclusion). Total: malformed or mismatched input gives false, never an exception.
 *
 * Strict: it also rejects what `StateTree.prove` never produces — more than 256 siblings; an
 * empty end at depth 256 (an empty side needs ≥ 2 keys on the other, which cannot share 256
 * bits); an end leaf that does not share the path's bits with `keyHash`; a zero sibling at
 * the bottom beside the end (its parent would hold one entry, which compacts to a leaf).
 *
 * Soundness rests on SHA-256 and the domain separation of leaves (0x00) and nodes (0x01):
 * the fold of the siblings must retrace the committed tree's own nodes down to depth
 * `siblings.length`, so the node there is that leaf or that empty subtree.
 */
export function checkStateProof(sha: Sha256, proof: StateProof, root: Uint8Array, keyHash: Uint8Array, valueHash: Uint8Array | undefined): boolean {
  if (!isHash(root) || !isHash(keyHash) || (valueHash !== undefined && !isHash(valueHash))) return false;
  if (typeof proof !== 'object' || proof === null) return false;
  const { siblings, end } = proof;
  if (!isList(siblings) || siblings.length > stateKeyBits) return false;
  if (typeof end !== 'object' || end === null) return false;
  const depth = siblings.length;
  for (const sibling of siblings) if (!isHash(sibling)) return false;
  let hash: Uint8Array;
  if (end.type === 'empty') {
    if (valueHash !== undefined || depth >= stateKeyBits) return false;
    hash = stateEmptyRoot();
  } else if (end.type === 'leaf') {
    if (!isHash(end.keyHash) || !isHash(end.valueHash)) return false;
    const diff = firstDifferingBit(end.keyHash, 0, keyHash, 0);
    if (valueHash !== undefined) {
      if (diff !== stateKeyBits || firstDifferingBit(end.valueHash, 0, valueHash, 0) !== stateKeyBits) return false;
    } else if (diff === stateKeyBits || diff < depth) {
      return false;
    }
    hash = hashStateLeaf(sha, end.keyHash, end.valueHash);
  } else {
    return false;
  }
  if (depth > 0 && isZero(siblings[depth - 1]!)) return false;
  for (let d = depth - 1; d >= 0; d--) {
    hash = keyBit(keyHash, 0, d) === 0 ? hashStateNode(sha, hash, siblings[d]!) : hashStateNode(sha, siblings[d]!, hash);
  }
  return firstDifferingBit(hash, 0, root, 0) === stateKeyBits;
}
