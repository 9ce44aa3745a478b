/**
 * Reference model of the state tree, written straight from the recursion of DESIGN.md §3 with
 * no cleverness, so that the incremental tree of src/state/smt.ts can be checked against it:
 *
 *   root(S, d): empty S → 32 zero bytes; one entry → SHA-256(0x00 ‖ keyHash ‖ valueHash);
 *   otherwise SHA-256(0x01 ‖ root(S₀, d+1) ‖ root(S₁, d+1)), S₀/S₁ split on bit d of keyHash
 *   (MSB first).
 *
 * Independent code: it imports nothing from src/state, only a SHA-256. It recomputes
 * everything from the full entry list every time (O(n · depth) per root, a fresh array per
 * level), and proves by the same recursion. Entries are given as a list of distinct keys.
 * Used by the tests and, as the baseline, by bench/state.ts.
 */
import type { Sha256 } from '../../src/hash/sha256.js';

export type ReferenceEntry = readonly [keyHash: Uint8Array, valueHash: Uint8Array];

export interface ReferenceProof {
  siblings: Uint8Array[];
  end: { type: 'empty' } | { type: 'leaf'; keyHash: Uint8Array; valueHash: Uint8Array };
}

const zero = new Uint8Array(32);

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Bit d of a hash, most significant bit of byte 0 first, computed the long way. */
export function bit(hash: Uint8Array, d: number): 0 | 1 {
  const byte = hash[Math.floor(d / 8)]!;
  return Math.floor(byte / 2 ** (7 - (d % 8))) % 2 === 0 ? 0 : 1;
}

/** Hashes return plain Uint8Arrays (node:crypto's are Buffers), so results compare with toEqual. */
export function referenceLeaf(sha: Sha256, keyHash: Uint8Array, valueHash: Uint8Array): Uint8Array {
  return Uint8Array.from(sha(cat(Uint8Array.of(0x00), keyHash, valueHash)));
}

export function referenceNode(sha: Sha256, left: Uint8Array, right: Uint8Array): Uint8Array {
  return Uint8Array.from(sha(cat(Uint8Array.of(0x01), left, right)));
}

/** root(S, d) of DESIGN.md §3. */
export function referenceRoot(sha: Sha256, entries: readonly ReferenceEntry[], depth = 0): Uint8Array {
  if (entries.length === 0) return zero.slice();
  if (entries.length === 1) return referenceLeaf(sha, entries[0]![0], entries[0]![1]);
  if (depth >= 256) throw new Error('reference: two entries share all 256 bits (duplicate key)');
  const s0 = entries.filter(([k]) => bit(k, depth) === 0);
  const s1 = entries.filter(([k]) => bit(k, depth) === 1);
  return referenceNode(sha, referenceRoot(sha, s0, depth + 1), referenceRoot(sha, s1, depth + 1));
}

/**
 * The proof of `keyHash` by the same recursion: at each depth with two or more entries on the
 * key's prefix, the sibling is root(other side, d + 1); the path ends where at most one entry
 * is left (that entry's leaf, or the empty subtree).
 */
export function referenceProof(sha: Sha256, entries: readonly ReferenceEntry[], keyHash: Uint8Array): ReferenceProof {
  const siblings: Uint8Array[] = [];
  let set = entries;
  for (let depth = 0; ; depth++) {
    if (set.length === 0) return { siblings, end: { type: 'empty' } };
    if (set.length === 1) return { siblings, end: { type: 'leaf', keyHash: Uint8Array.from(set[0]![0]), valueHash: Uint8Array.from(set[0]![1]) } };
    const side = bit(keyHash, depth);
    siblings.push(referenceRoot(sha, set.filter(([k]) => bit(k, depth) !== side), depth + 1));
    set = set.filter(([k]) => bit(k, depth) === side);
  }
}

/**
 * A plain map model of the state, keyed by the hex of the keyHash: set, delete, entries. The
 * order of `entries()` is insertion order, which the root must not depend on.
 */
export class ReferenceState {
  readonly #map = new Map<string, ReferenceEntry>();

  set(keyHash: Uint8Array, valueHash: Uint8Array): void {
    this.#map.set(Buffer.from(keyHash).toString('hex'), [Uint8Array.from(keyHash), Uint8Array.from(valueHash)]);
  }

  delete(keyHash: Uint8Array): boolean {
    return this.#map.delete(Buffer.from(keyHash).toString('hex'));
  }

  get(keyHash: Uint8Array): Uint8Array | undefined {
    return this.#map.get(Buffer.from(keyHash).toString('hex'))?.[1];
  }

  get size(): number {
    return this.#map.size;
  }

  entries(): ReferenceEntry[] {
    return [...this.#map.values()];
  }

  root(sha: Sha256): Uint8Array {
    return referenceRoot(sha, this.entries());
  }
}
