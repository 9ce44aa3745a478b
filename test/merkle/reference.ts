/**
 * Reference model of the log tree, written straight from the RFC text with no cleverness, so
 * that the incremental code of src/merkle/log-tree.ts can be checked against it:
 * - MTH(D[n]) (RFC 6962 §2.1 / RFC 9162 §2.1.1) by recursion over array slices;
 * - PATH(m, D[n]) (RFC 9162 §2.1.3.1) and PROOF/SUBPROOF(m, D[n], b) (§2.1.4.1) likewise;
 * - the same recursions over leaf ranges, to name which node each proof element is;
 * - a symbolic oracle that predicts whether a proof made for one (index, size) or (size1, size2)
 *   is accepted for another one: a verifier folds the proof elements into the RFC tree of the
 *   claimed size, so with a collision-free hash it accepts exactly when that fold is the same
 *   expression over leaves as the committed root;
 * - a "constant tree" (every leaf the same), whose hashes depend only on subtree width, to
 *   build genuine proofs for sizes up to 2^53 without storing anything.
 * Deliberately slow (O(n) per root, O(n log n) per proof): it is only for tests.
 */
import type { Sha256 } from '../../src/hash/sha256.js';

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** "The largest power of two smaller than n", n > 1, as the RFC says it (no bit tricks). */
export function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) of RFC 9162 §2.1.1, over the leaf inputs D. */
export function mth(sha: Sha256, d: readonly Uint8Array[]): Uint8Array {
  const n = d.length;
  if (n === 0) return sha(new Uint8Array(0));
  if (n === 1) return sha(cat(Uint8Array.of(0x00), d[0]!));
  const k = largestPowerOfTwoBelow(n);
  return sha(cat(Uint8Array.of(0x01), mth(sha, d.slice(0, k)), mth(sha, d.slice(k))));
}

/** PATH(m, D[n]) of RFC 9162 §2.1.3.1: the inclusion proof of leaf m, for 0 ≤ m < n. */
export function path(sha: Sha256, m: number, d: readonly Uint8Array[]): Uint8Array[] {
  const n = d.length;
  if (n === 1 && m === 0) return [];
  const k = largestPowerOfTwoBelow(n);
  if (m < k) return [...path(sha, m, d.slice(0, k)), mth(sha, d.slice(k))];
  return [...path(sha, m - k, d.slice(k)), mth(sha, d.slice(0, k))];
}

/** PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1, for 0 < m ≤ n (empty when m = n). */
export function proof(sha: Sha256, m: number, d: readonly Uint8Array[]): Uint8Array[] {
  return subproof(sha, m, d, true);
}

function subproof(sha: Sha256, m: number, d: readonly Uint8Array[], b: boolean): Uint8Array[] {
  const n = d.length;
  if (m === n) return b ? [] : [mth(sha, d)];
  const k = largestPowerOfTwoBelow(n);
  if (m <= k) return [...subproof(sha, m, d.slice(0, k), b), mth(sha, d.slice(k))];
  return [...subproof(sha, m - k, d.slice(k), false), mth(sha, d.slice(0, k))];
}

// ---- Which node each proof element is ----

export type Range = readonly [lo: number, hi: number];

/** The leaf ranges whose MTH form PATH(m, D[n]), in proof order. */
export function pathRanges(m: number, n: number, lo = 0): Range[] {
  if (n === 1) return [];
  const k = largestPowerOfTwoBelow(n);
  if (m < k) return [...pathRanges(m, k, lo), [lo + k, lo + n]];
  return [...pathRanges(m - k, n - k, lo + k), [lo, lo + k]];
}

/** The leaf ranges whose MTH form PROOF(m, D[n]), in proof order, for 0 < m ≤ n. */
export function proofRanges(m: number, n: number): Range[] {
  const sub = (m: number, lo: number, n: number, b: boolean): Range[] => {
    if (m === n) return b ? [] : [[lo, lo + n]];
    const k = largestPowerOfTwoBelow(n);
    if (m <= k) return [...sub(m, lo, k, b), [lo + k, lo + n]];
    return [...sub(m - k, lo + k, n - k, false), [lo, lo + k]];
  };
  return sub(m, 0, n, true);
}

// ---- Symbolic oracle for proofs presented with the wrong index or sizes ----

const key = (r: Range): string => `${r[0]},${r[1]}`;

/**
 * MTH(D[lo:hi]) as an expression over leaf names `L<i>` (distinct leaves), where a node whose
 * range is in `cuts` is replaced by the given expression (what the verifier was handed there).
 */
export function shape(lo: number, hi: number, cuts: ReadonlyMap<string, string> = new Map()): string {
  const cut = cuts.get(key([lo, hi]));
  if (cut !== undefined) return cut;
  if (hi - lo === 1) return `L${lo}`;
  const k = largestPowerOfTwoBelow(hi - lo);
  return `H(${shape(lo, lo + k, cuts)},${shape(lo + k, hi, cuts)})`;
}

/**
 * Whether the inclusion proof of leaf `index` in the tree of `size` distinct leaves, presented
 * with that leaf's hash and the root of `size`, is accepted as a proof for (index2, size2).
 */
export function inclusionAccepts(index: number, size: number, index2: number, size2: number): boolean {
  if (!(index2 >= 0 && index2 < size2)) return false;
  const actual = pathRanges(index, size);
  const claimed = pathRanges(index2, size2);
  if (claimed.length !== actual.length) return false;
  const cuts = new Map<string, string>(claimed.map((r, j) => [key(r), shape(...actual[j]!)]));
  cuts.set(key([index2, index2 + 1]), `L${index}`);
  return shape(0, size2, cuts) === shape(0, size);
}

/**
 * Whether the consistency proof from `size1` to `size2` (0 < size1 < size2, distinct leaves),
 * presented with the roots of size1 and size2, is accepted for (size1b, size2b).
 */
export function consistencyAccepts(size1: number, size2: number, size1b: number, size2b: number): boolean {
  // The roots handed over are of non-empty, different trees, so the special cases all fail.
  if (!(size1b > 0 && size1b < size2b)) return false;
  const actual = proofRanges(size1, size2);
  const claimed = proofRanges(size1b, size2b);
  if (claimed.length !== actual.length) return false;
  const cuts = new Map<string, string>(claimed.map((r, j) => [key(r), shape(...actual[j]!)]));
  // RFC 9162 §2.1.4.2 step 2: for a power-of-two first size the verifier starts from root1.
  if (largestPowerOfTwoBelow(size1b + 1) === size1b) cuts.set(key([0, size1b]), shape(0, size1));
  return shape(0, size1b, cuts) === shape(0, size1) && shape(0, size2b, cuts) === shape(0, size2);
}

// ---- A tree whose leaves are all equal, of any size up to 2^53 ----

/** Hashes of a tree whose every leaf input is the same: a subtree's hash depends only on its width. */
export class ConstantTree {
  readonly #byWidth = new Map<number, Uint8Array>();
  constructor(
    private readonly sha: Sha256,
    readonly leafInput: Uint8Array,
  ) {}

  get leafHash(): Uint8Array {
    return this.mth(1);
  }

  /** MTH of any `width` leaves of the tree. */
  mth(width: number): Uint8Array {
    const known = this.#byWidth.get(width);
    if (known !== undefined) return known;
    const k = largestPowerOfTwoBelow(width);
    const hash =
      width === 1 ? this.sha(cat(Uint8Array.of(0x00), this.leafInput)) : this.sha(cat(Uint8Array.of(0x01), this.mth(k), this.mth(width - k)));
    this.#byWidth.set(width, hash);
    return hash;
  }

  /** PATH(m, D[n]). */
  path(m: number, n: number): Uint8Array[] {
    return pathRanges(m, n).map(([lo, hi]) => this.mth(hi - lo));
  }

  /** PROOF(m, D[n]). */
  proof(m: number, n: number): Uint8Array[] {
    return proofRanges(m, n).map(([lo, hi]) => this.mth(hi - lo));
  }
}
