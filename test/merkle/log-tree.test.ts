import fs from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SteleError } from '../../src/errors.js';
import { fromHex, toHex } from '../../src/hash/hex.js';
import { sha256Portable } from '../../src/hash/portable.js';
import type { Sha256 } from '../../src/hash/sha256.js';
import { sha256 } from '../../src/hash/sha256.js';
import type { HashReader } from '../../src/merkle/log-tree.js';
import {
  checkConsistency,
  checkInclusion,
  emptyRoot,
  hashChildren,
  hashLeaf,
  LogTreeFrontier,
  MemoryHashStore,
  proveConsistency,
  proveInclusion,
  storedHashCount,
  storedHashIndex,
  storedSizeMax,
  treeHash,
} from '../../src/merkle/log-tree.js';
import { ConstantTree, consistencyAccepts, inclusionAccepts, mth, path, proof } from './reference.js';

/** fast-check seed of every property here; replay a failure with STELE_SEED=<seed>. */
const seed = Number(process.env.STELE_SEED ?? 6962);

interface Vectors {
  source: string;
  leaves_hex: string[];
  roots: Record<string, string>;
  node_hashes: Record<string, string[]>;
  inclusion: { index: number; size: number; proof: string[]; leaf_hash: string; root: string }[];
  consistency: { size1: number; size2: number; proof: string[]; root1: string; root2: string }[];
}

const vectors = JSON.parse(fs.readFileSync(new URL('../fixtures/rfc6962.json', import.meta.url), 'utf8')) as Vectors;
const unhex = (text: string): Uint8Array => {
  const bytes = fromHex(text);
  if (bytes === undefined) throw new Error(`bad hex in fixture: ${text}`);
  return bytes;
};
const hexes = (hashes: readonly Uint8Array[]): string[] => hashes.map(toHex);
const implementations: [string, Sha256][] = [
  ['node:crypto', sha256],
  ['@noble/hashes', sha256Portable],
];

/** A tree built the production way: a frontier appending into a MemoryHashStore. */
function build(sha: Sha256, leafInputs: readonly Uint8Array[]): { frontier: LogTreeFrontier; store: MemoryHashStore; roots: Uint8Array[] } {
  const frontier = new LogTreeFrontier(sha);
  const store = new MemoryHashStore();
  const roots = [frontier.root()];
  for (const leaf of leafInputs) {
    store.append(frontier.append(leaf));
    roots.push(frontier.root());
  }
  return { frontier, store, roots };
}

/** Distinct 32-byte leaf inputs, like event hashes, derived from a salt. */
function leavesOf(count: number, salt: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => sha256(new TextEncoder().encode(`${salt}:${i}`)));
}

function flipBit(hash: Uint8Array, bit: number): Uint8Array {
  const out = hash.slice();
  out[Math.floor(bit / 8)]! ^= 1 << bit % 8;
  return out;
}

function expectSteleError(fn: () => unknown, code: string): SteleError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SteleError);
    const e = err as SteleError;
    expect(e.code).toBe(code);
    expect(e.fix ?? '').not.toBe('');
    return e;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

describe(`RFC 6962 vectors (${vectors.source.slice(0, vectors.source.indexOf(':'))})`, () => {
  const leaves = vectors.leaves_hex.map(unhex);

  it('names where the vectors come from', () => {
    expect(vectors.source).toMatch(/^transparency-dev\/merkle @ [0-9a-f]{40}/);
    expect(leaves).toHaveLength(8);
  });

  for (const [name, sha] of implementations) {
    it(`gives every leaf, node and root hash of the vectors (${name})`, () => {
      const { frontier, store, roots } = build(sha, leaves);
      expect(toHex(emptyRoot(sha))).toBe(vectors.roots['0']);
      for (const [size, root] of Object.entries(vectors.roots)) {
        const n = Number(size);
        expect(toHex(roots[n]!), `frontier root of size ${n}`).toBe(root);
        expect(toHex(treeHash(sha, n, store)), `treeHash(${n})`).toBe(root);
        expect(toHex(mth(sha, leaves.slice(0, n))), `reference MTH(${n})`).toBe(root);
        expect(toHex(LogTreeFrontier.fromReader(sha, n, store).root()), `fromReader(${n})`).toBe(root);
      }
      for (const [levelName, hashes] of Object.entries(vectors.node_hashes)) {
        const level = Number(levelName.slice('level'.length));
        hashes.forEach((hash, index) => {
          expect(toHex(store.readHashes([storedHashIndex(level, index)])[0]!), `node ${level}/${index}`).toBe(hash);
          const width = 2 ** level;
          expect(toHex(mth(sha, leaves.slice(index * width, (index + 1) * width)))).toBe(hash);
        });
      }
      vectors.node_hashes.level0!.forEach((hash, i) => expect(toHex(hashLeaf(sha, leaves[i]!))).toBe(hash));
      const l1 = vectors.node_hashes.level1!;
      expect(toHex(hashChildren(sha, unhex(vectors.node_hashes.level0![0]!), unhex(vectors.node_hashes.level0![1]!)))).toBe(l1[0]);
      expect(frontier.size).toBe(8);
      expect(store.count).toBe(storedHashCount(8));
    });

    it(`generates and verifies every inclusion vector (${name})`, () => {
      const { store } = build(sha, leaves);
      for (const v of vectors.inclusion) {
        const label = `inclusion ${v.index}/${v.size}`;
        expect(toHex(hashLeaf(sha, leaves[v.index]!)), label).toBe(v.leaf_hash);
        expect(hexes(proveInclusion(sha, v.index, v.size, store)), label).toEqual(v.proof);
        expect(hexes(path(sha, v.index, leaves.slice(0, v.size))), label).toEqual(v.proof);
        expect(checkInclusion(sha, v.index, v.size, unhex(v.leaf_hash), v.proof.map(unhex), unhex(v.root)), label).toBe(true);
      }
    });

    it(`generates and verifies every consistency vector (${name})`, () => {
      const { store } = build(sha, leaves);
      for (const v of vectors.consistency) {
        const label = `consistency ${v.size1}→${v.size2}`;
        expect(hexes(proveConsistency(sha, v.size1, v.size2, store)), label).toEqual(v.proof);
        expect(hexes(proof(sha, v.size1, leaves.slice(0, v.size2))), label).toEqual(v.proof);
        expect(checkConsistency(sha, v.size1, v.size2, unhex(v.root1), unhex(v.root2), v.proof.map(unhex)), label).toBe(true);
      }
    });
  }

  it('rejects every inclusion vector with a bit flipped, a hash removed or added, or another index or size', () => {
    const sha = sha256;
    const root8 = unhex(vectors.roots['8']!);
    for (const v of vectors.inclusion) {
      const label = `inclusion ${v.index}/${v.size}`;
      const good = v.proof.map(unhex);
      const leaf = unhex(v.leaf_hash);
      const root = unhex(v.root);
      const check = (index: number, size: number, p: Uint8Array[], l = leaf, r = root): boolean => checkInclusion(sha, index, size, l, p, r);
      for (let i = 0; i < good.length; i++) {
        for (let bit = 0; bit < 256; bit++) {
          const bad = good.slice();
          bad[i] = flipBit(good[i]!, bit);
          expect(check(v.index, v.size, bad), `${label} proof[${i}] bit ${bit}`).toBe(false);
        }
        expect(check(v.index, v.size, good.filter((_, j) => j !== i)), `${label} without [${i}]`).toBe(false);
      }
      for (let bit = 0; bit < 256; bit++) {
        expect(check(v.index, v.size, good, flipBit(leaf, bit)), `${label} leaf bit ${bit}`).toBe(false);
        expect(check(v.index, v.size, good, leaf, flipBit(root, bit)), `${label} root bit ${bit}`).toBe(false);
      }
      for (let at = 0; at <= good.length; at++) {
        for (const extra of [root, leaf, new Uint8Array(32), good[0] ?? root8]) {
          expect(check(v.index, v.size, [...good.slice(0, at), extra, ...good.slice(at)]), `${label} + hash at ${at}`).toBe(false);
        }
      }
      // The probes of transparency-dev/merkle's verify_test.go, which must all fail here.
      for (const [index, size] of [
        [v.index - 1, v.size],
        [v.index + 1, v.size],
        [v.index ^ 2, v.size],
        [v.index, v.size * 2],
        [v.index, Math.floor(v.size / 2)],
      ] as const) {
        expect(check(index, size, good), `${label} as ${index}/${size}`).toBe(false);
      }
      // Every other (index, size): accepted exactly when the verifier's fold for that claim is
      // the same expression as the committed root (the reference oracle); see checkInclusion.
      for (let size = 0; size <= 2 * v.size + 1; size++) {
        for (let index = -1; index <= size; index++) {
          if (index === v.index && size === v.size) continue;
          expect(check(index, size, good), `${label} as ${index}/${size}`).toBe(inclusionAccepts(v.index, v.size, index, size));
        }
      }
      expect(check(v.index, v.size, good, leaf.subarray(0, 31))).toBe(false);
      expect(check(v.index, v.size, good, leaf, root.subarray(1))).toBe(false);
      if (good.length > 0) expect(check(v.index, v.size, [...good.slice(1), new Uint8Array(33)])).toBe(false);
    }
  });

  it('rejects every consistency vector with a bit flipped, a hash removed or added, or other sizes', () => {
    const sha = sha256;
    for (const v of vectors.consistency) {
      const label = `consistency ${v.size1}→${v.size2}`;
      const good = v.proof.map(unhex);
      const root1 = unhex(v.root1);
      const root2 = unhex(v.root2);
      const check = (size1: number, size2: number, p: Uint8Array[], r1 = root1, r2 = root2): boolean => checkConsistency(sha, size1, size2, r1, r2, p);
      for (let i = 0; i < good.length; i++) {
        for (let bit = 0; bit < 256; bit++) {
          const bad = good.slice();
          bad[i] = flipBit(good[i]!, bit);
          expect(check(v.size1, v.size2, bad), `${label} proof[${i}] bit ${bit}`).toBe(false);
        }
        expect(check(v.size1, v.size2, good.filter((_, j) => j !== i)), `${label} without [${i}]`).toBe(false);
      }
      for (let bit = 0; bit < 256; bit++) {
        expect(check(v.size1, v.size2, good, flipBit(root1, bit)), `${label} root1 bit ${bit}`).toBe(false);
        expect(check(v.size1, v.size2, good, root1, flipBit(root2, bit)), `${label} root2 bit ${bit}`).toBe(false);
      }
      for (let at = 0; at <= good.length; at++) {
        for (const extra of [root1, root2, new Uint8Array(32)]) {
          expect(check(v.size1, v.size2, [...good.slice(0, at), extra, ...good.slice(at)]), `${label} + hash at ${at}`).toBe(false);
        }
      }
      if (v.size1 !== v.size2) {
        expect(check(v.size1, v.size2, good, root2, root1), `${label} swapped roots`).toBe(false);
        expect(check(v.size1, v.size2, []), `${label} empty proof`).toBe(false);
        for (let size2 = 0; size2 <= 2 * v.size2 + 1; size2++) {
          for (let size1 = -1; size1 <= size2 + 1; size1++) {
            if (size1 === v.size1 && size2 === v.size2) continue;
            expect(check(size1, size2, good), `${label} as ${size1}→${size2}`).toBe(consistencyAccepts(v.size1, v.size2, size1, size2));
          }
        }
      } else {
        expect(check(v.size1 + 1, v.size2, good)).toBe(false);
        expect(check(v.size1, v.size2 + 1, good)).toBe(false);
      }
    }
  });
});

describe('consistency with the empty tree and equal sizes (the cases RFC 9162 §2.1.4.2 leaves out)', () => {
  const sha = sha256;
  const { store, roots } = build(sha, leavesOf(5, 1));
  const empty = emptyRoot(sha);

  it('proves nothing for size1 = 0 or size1 = size2', () => {
    for (let n = 0; n <= 5; n++) {
      expect(proveConsistency(sha, 0, n, store)).toEqual([]);
      expect(proveConsistency(sha, n, n, store)).toEqual([]);
    }
  });

  it('accepts from size 0 only with an empty proof and the empty root as root1; root2 is free', () => {
    for (let n = 1; n <= 5; n++) {
      expect(checkConsistency(sha, 0, n, empty, roots[n]!, [])).toBe(true);
      expect(checkConsistency(sha, 0, n, empty, new Uint8Array(32), [])).toBe(true);
      expect(checkConsistency(sha, 0, n, empty, roots[n]!, [roots[n]!])).toBe(false);
      expect(checkConsistency(sha, 0, n, roots[1]!, roots[n]!, [])).toBe(false);
    }
  });

  it('accepts equal sizes only with an empty proof and equal roots', () => {
    expect(checkConsistency(sha, 0, 0, empty, empty, [])).toBe(true);
    expect(checkConsistency(sha, 0, 0, roots[1]!, roots[1]!, [])).toBe(false);
    for (let n = 1; n <= 5; n++) {
      expect(checkConsistency(sha, n, n, roots[n]!, roots[n]!, [])).toBe(true);
      expect(checkConsistency(sha, n, n, roots[n]!, roots[n]!, [roots[n]!])).toBe(false);
      expect(checkConsistency(sha, n, n, roots[n]!, roots[n - 1]!, [])).toBe(false);
    }
  });

  it('never throws on out-of-range or non-integer sizes, and says false', () => {
    const odd = [-1, 0.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 60, Number.MAX_VALUE];
    for (const x of odd) {
      expect(checkConsistency(sha, x, 5, roots[1]!, roots[5]!, [])).toBe(false);
      expect(checkConsistency(sha, 1, x, roots[1]!, roots[5]!, [])).toBe(false);
      expect(checkInclusion(sha, x, 5, roots[1]!, [], roots[5]!)).toBe(false);
      expect(checkInclusion(sha, 0, x, roots[1]!, [], roots[5]!)).toBe(false);
    }
    expect(checkConsistency(sha, 3, 2, roots[3]!, roots[2]!, [])).toBe(false);
    expect(checkInclusion(sha, 0, 0, empty, [], empty)).toBe(false);
  });
});

describe('stored-hash layout', () => {
  /** The layout by definition: simulate appends, record which (level, index) each stored hash is. */
  function naiveLayout(size: number): string[] {
    const order: string[] = [];
    for (let k = 0; k < size; k++) {
      order.push(`0/${k}`);
      for (let level = 1; (k + 1) % 2 ** level === 0; level++) order.push(`${level}/${(k + 1) / 2 ** level - 1}`);
    }
    return order;
  }

  it('matches the definition for every tree up to 1024 leaves', () => {
    const order = naiveLayout(1024);
    order.forEach((node, i) => {
      const [level, index] = node.split('/').map(Number) as [number, number];
      expect(storedHashIndex(level, index), node).toBe(i);
    });
    for (let n = 0; n <= 1024; n++) {
      expect(storedHashCount(n)).toBe(naiveLayout(n).length);
    }
  });

  it('stays exact at the edge of safe integers', () => {
    expect(storedSizeMax).toBe(2 ** 52);
    expect(storedHashCount(2 ** 52)).toBe(2 ** 53 - 1);
    expect(storedHashCount(2 ** 52 - 1)).toBe(2 ** 53 - 2 - 52);
    expect(storedHashIndex(52, 0)).toBe(2 ** 53 - 2);
    expect(storedHashIndex(0, 2 ** 52 - 1)).toBe(2 ** 53 - 2 - 52);
    expect(storedHashIndex(1, 2 ** 51 - 1)).toBe(2 ** 53 - 2 - 51);
    expect(storedHashIndex(0, 2 ** 32)).toBe(2 ** 33 - 1);
    expect(storedHashCount(2 ** 32 + 3)).toBe(2 * (2 ** 32 + 3) - 3);
    expectSteleError(() => storedHashCount(2 ** 52 + 1), 'STELE_E_SIZE_OUT_OF_RANGE');
    expectSteleError(() => storedHashCount(-1), 'STELE_E_SIZE_OUT_OF_RANGE');
    expectSteleError(() => storedHashCount(1.5), 'STELE_E_SIZE_OUT_OF_RANGE');
    expectSteleError(() => storedHashIndex(53, 0), 'STELE_E_SIZE_OUT_OF_RANGE');
    expectSteleError(() => storedHashIndex(0, 2 ** 52), 'STELE_E_SIZE_OUT_OF_RANGE');
    expectSteleError(() => storedHashIndex(52, 1), 'STELE_E_SIZE_OUT_OF_RANGE');
  });
});

describe('proofs presented for another index or size', () => {
  // RFC 9162 verifiers bind the claimed size only through the shape of the fold, so a proof can
  // be accepted for another claim whose fold is the same expression (e.g. leaf 0 of 8 also
  // verifies as leaf 0 of 5 against the root of 8). The reference oracle says exactly when;
  // the checkers must agree with it on every claim, accepting no other.
  const sha = sha256;
  const leaves = leavesOf(16, 9);
  const { store, roots } = build(sha, leaves);

  it('inclusion: every proof of a 16-leaf tree against every claim up to 33 leaves', () => {
    let accepted = 0;
    for (let n = 1; n <= 16; n++) {
      for (let index = 0; index < n; index++) {
        const p = proveInclusion(sha, index, n, store);
        const leafHash = hashLeaf(sha, leaves[index]!);
        for (let n2 = 0; n2 <= 33; n2++) {
          for (let index2 = -1; index2 <= n2; index2++) {
            if (index2 === index && n2 === n) continue;
            const ok = checkInclusion(sha, index2, n2, leafHash, p, roots[n]!);
            expect(ok, `${index}/${n} as ${index2}/${n2}`).toBe(inclusionAccepts(index, n, index2, n2));
            if (ok) accepted++;
          }
        }
      }
    }
    expect(accepted).toBeGreaterThan(0); // the oracle's "yes" cases are exercised too
  });

  it('consistency: every proof of a 16-leaf tree against every claim up to 33 leaves', () => {
    let accepted = 0;
    for (let n = 2; n <= 16; n++) {
      for (let m = 1; m < n; m++) {
        const p = proveConsistency(sha, m, n, store);
        for (let n2 = 0; n2 <= 33; n2++) {
          for (let m2 = -1; m2 <= n2 + 1; m2++) {
            if (m2 === m && n2 === n) continue;
            const ok = checkConsistency(sha, m2, n2, roots[m]!, roots[n]!, p);
            expect(ok, `${m}→${n} as ${m2}→${n2}`).toBe(consistencyAccepts(m, n, m2, n2));
            if (ok) accepted++;
          }
        }
      }
    }
    expect(accepted).toBeGreaterThan(0);
  });
});

describe(`against the reference model (fast-check seed ${seed})`, () => {
  const sha = sha256;

  it('has the reference MTH as root after every append, from arbitrary leaf inputs', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 130 }), (leaves) => {
        const frontier = new LogTreeFrontier(sha);
        const store = new MemoryHashStore();
        expect(toHex(frontier.root())).toBe(toHex(mth(sha, [])));
        leaves.forEach((leaf, i) => {
          const stored = frontier.append(leaf);
          expect(store.count + stored.length).toBe(storedHashCount(i + 1));
          store.append(stored);
          expect(toHex(frontier.root()), `size ${i + 1}`).toBe(toHex(mth(sha, leaves.slice(0, i + 1))));
          expect(frontier.root()).toBe(frontier.root()); // cached
        });
        expect(frontier.toJSON().hashes.length).toBeLessThanOrEqual(Math.floor(Math.log2(Math.max(1, leaves.length))) + 1);
      }),
      { seed, numRuns: 60 },
    );
  });

  /** A tree of 1…400 distinct leaves and a few (a, b) pairs to pick sizes and indexes from. */
  const treeAndPicks = fc.record({
    size: fc.integer({ min: 1, max: 400 }),
    salt: fc.nat(),
    picks: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: -3, max: 3 }), fc.integer({ min: -3, max: 3 })), { minLength: 1, maxLength: 6 }),
  });

  it('restores the frontier from stored hashes or JSON at any size and goes on identically', () => {
    fc.assert(
      fc.property(treeAndPicks, ({ size, salt, picks }) => {
        const leaves = leavesOf(size, salt);
        const { store, roots } = build(sha, leaves);
        for (const [a] of picks) {
          const at = a % (size + 1);
          expect(toHex(treeHash(sha, at, store)), `treeHash(${at})`).toBe(toHex(mth(sha, leaves.slice(0, at))));
          const fromReader = LogTreeFrontier.fromReader(sha, at, store);
          const fromJson = LogTreeFrontier.fromJSON(sha, JSON.parse(JSON.stringify(fromReader.toJSON())));
          expect(fromJson.toJSON()).toEqual(fromReader.toJSON());
          const rest = new MemoryHashStore();
          for (let k = at; k < size; k++) {
            const stored = fromReader.append(leaves[k]!);
            expect(hexes(fromJson.append(leaves[k]!))).toEqual(hexes(stored));
            rest.append(stored);
          }
          expect(toHex(fromReader.root())).toBe(toHex(roots[size]!));
          expect(toHex(fromJson.root())).toBe(toHex(roots[size]!));
          // The hashes appended after a restore are exactly the tail of the stored ones.
          const from = storedHashCount(at);
          const tail = store.readHashes(Array.from({ length: store.count - from }, (_, i) => from + i));
          expect(hexes(rest.readHashes(Array.from({ length: rest.count }, (_, i) => i)))).toEqual(hexes(tail));
        }
      }),
      { seed, numRuns: 40 },
    );
  });

  it('proves inclusion as RFC 9162 PATH does; proofs verify, and fail against any other root', () => {
    fc.assert(
      fc.property(treeAndPicks, ({ size, salt, picks }) => {
        const leaves = leavesOf(size, salt);
        const { store, roots } = build(sha, leaves);
        for (const [a, b, di, dn] of picks) {
          const n = 1 + (a % size);
          const index = b % n;
          const leafHash = hashLeaf(sha, leaves[index]!);
          const got = proveInclusion(sha, index, n, store);
          expect(hexes(got), `${index}/${n}`).toEqual(hexes(path(sha, index, leaves.slice(0, n))));
          expect(checkInclusion(sha, index, n, leafHash, got, roots[n]!)).toBe(true);
          for (const other of [roots[n - 1]!, roots[Math.min(size, n + 1)]!, sha256(roots[n]!)]) {
            if (toHex(other) !== toHex(roots[n]!)) expect(checkInclusion(sha, index, n, leafHash, got, other)).toBe(false);
          }
          // Another claim of (index, size): accepted only where the reference oracle says the
          // verifier folds the same expression, i.e. never for a different path shape.
          for (const [index2, n2] of [
            [index + di, n + dn],
            [index, 2 * n],
            [index, Math.floor(n / 2)],
            [index + di, n],
          ] as const) {
            if (index2 === index && n2 === n) continue;
            expect(checkInclusion(sha, index2, n2, leafHash, got, roots[n]!), `${index}/${n} as ${index2}/${n2}`).toBe(inclusionAccepts(index, n, index2, n2));
          }
        }
      }),
      { seed, numRuns: 100 },
    );
  });

  it('proves consistency as RFC 9162 SUBPROOF does; proofs verify, and fail against any other root', () => {
    fc.assert(
      fc.property(treeAndPicks, ({ size, salt, picks }) => {
        const leaves = leavesOf(size, salt);
        const { store, roots } = build(sha, leaves);
        for (const [a, b, d1, d2] of picks) {
          const n = a % (size + 1);
          const m = b % (n + 1);
          const got = proveConsistency(sha, m, n, store);
          expect(hexes(got), `${m}→${n}`).toEqual(m === 0 ? [] : hexes(proof(sha, m, leaves.slice(0, n))));
          expect(checkConsistency(sha, m, n, roots[m]!, roots[n]!, got), `${m}→${n}`).toBe(true);
          if (m > 0 && m < n) {
            for (const other of [roots[m - 1]!, roots[m + 1]!, sha256(roots[m]!)]) {
              if (toHex(other) !== toHex(roots[m]!)) expect(checkConsistency(sha, m, n, other, roots[n]!, got)).toBe(false);
            }
            for (const other of [roots[n - 1]!, roots[Math.min(size, n + 1)]!, sha256(roots[n]!)]) {
              if (toHex(other) !== toHex(roots[n]!)) expect(checkConsistency(sha, m, n, roots[m]!, other, got)).toBe(false);
            }
            for (const [m2, n2] of [
              [m + d1, n + d2],
              [m, 2 * n],
              [m, Math.floor(n / 2)],
              [m + d1, n],
            ] as const) {
              if (m2 === m && n2 === n) continue;
              expect(checkConsistency(sha, m2, n2, roots[m]!, roots[n]!, got), `${m}→${n} as ${m2}→${n2}`).toBe(consistencyAccepts(m, n, m2, n2));
            }
          }
        }
      }),
      { seed, numRuns: 100 },
    );
  });
});

describe(`node:crypto and @noble/hashes agree (fast-check seed ${seed})`, () => {
  it('on stored hashes, roots and proofs, and each verifies the other’s proofs', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 64 }), { minLength: 1, maxLength: 80 }), fc.nat(), fc.nat(), (leaves, a, b) => {
        const node = build(sha256, leaves);
        const noble = build(sha256Portable, leaves);
        expect(hexes(noble.roots)).toEqual(hexes(node.roots));
        const all = Array.from({ length: node.store.count }, (_, i) => i);
        expect(hexes(noble.store.readHashes(all))).toEqual(hexes(node.store.readHashes(all)));
        const n = 1 + (a % leaves.length);
        const index = b % n;
        const m = b % (n + 1);
        const inclusion = proveInclusion(sha256, index, n, node.store);
        expect(hexes(proveInclusion(sha256Portable, index, n, noble.store))).toEqual(hexes(inclusion));
        expect(checkInclusion(sha256Portable, index, n, hashLeaf(sha256, leaves[index]!), inclusion, node.roots[n]!)).toBe(true);
        const consistency = proveConsistency(sha256Portable, m, n, noble.store);
        expect(hexes(proveConsistency(sha256, m, n, node.store))).toEqual(hexes(consistency));
        expect(checkConsistency(sha256, m, n, node.roots[m]!, node.roots[n]!, consistency)).toBe(true);
        expect(toHex(emptyRoot(sha256Portable))).toBe(toHex(emptyRoot(sha256)));
      }),
      { seed, numRuns: 80 },
    );
  });
});

describe('sizes up to 2^53 (a tree whose leaves are all equal)', () => {
  const sha = sha256;
  const tree = new ConstantTree(sha, new Uint8Array(32).fill(7));

  /** Stored hashes of the constant tree, as a reader: a stored index names a level, whose hash is that of any subtree of that width. */
  const reader: HashReader & { reads: number } = {
    reads: 0,
    readHashes(indexes) {
      this.reads += indexes.length;
      return indexes.map((i) => {
        // The last leaf k with storedHashCount(k) ≤ i appended this hash, as its level-th.
        let lo = 0;
        let hi = storedSizeMax;
        while (lo < hi) {
          const mid = Math.ceil((lo + hi) / 2);
          if (storedHashCount(mid) <= i) lo = mid;
          else hi = mid - 1;
        }
        return tree.mth(2 ** (i - storedHashCount(lo)));
      });
    },
  };

  it('verifies genuine proofs at the largest safe sizes and rejects wrong sizes', () => {
    const max = Number.MAX_SAFE_INTEGER;
    for (const [index, size] of [
      [max - 1, max],
      [0, max],
      [2 ** 52, max],
      [2 ** 53 - 2, 2 ** 53 - 1],
      [2 ** 32 + 5, 2 ** 33 + 3],
    ] as const) {
      const p = tree.path(index, size);
      expect(checkInclusion(sha, index, size, tree.leafHash, p, tree.mth(size)), `${index}/${size}`).toBe(true);
      // In a constant tree a sibling equals its mirror, so only shape-changing faults can show.
      expect(checkInclusion(sha, index, size, tree.leafHash, p.slice(1), tree.mth(size)), `${index}/${size} short`).toBe(false);
      expect(checkInclusion(sha, size, size, tree.leafHash, p, tree.mth(size)), `${size}/${size}`).toBe(false);
      expect(checkInclusion(sha, index, size, tree.leafHash, p, tree.mth(size - 1)), `${index}/${size} other root`).toBe(false);
    }
    for (const [size1, size2] of [
      [max - 1, max],
      [2 ** 52, max],
      [2 ** 52 + 1, max],
      [3, max],
      [2 ** 40 - 1, 2 ** 41 + 1],
    ] as const) {
      const p = tree.proof(size1, size2);
      expect(checkConsistency(sha, size1, size2, tree.mth(size1), tree.mth(size2), p), `${size1}→${size2}`).toBe(true);
      expect(checkConsistency(sha, size1, size2, tree.mth(size1), tree.mth(size2), p.slice(1)), `${size1}→${size2} short`).toBe(false);
    }
  });

  it('proves, hashes and restores at 2^52 leaves from O(log n) stored hashes', () => {
    for (const size of [storedSizeMax, storedSizeMax - 1, 2 ** 33 + 2 ** 32 + 5]) {
      reader.reads = 0;
      expect(toHex(treeHash(sha, size, reader))).toBe(toHex(tree.mth(size)));
      expect(hexes(proveInclusion(sha, size - 3, size, reader))).toEqual(hexes(tree.path(size - 3, size)));
      expect(hexes(proveInclusion(sha, 2 ** 31 + 1, size, reader))).toEqual(hexes(tree.path(2 ** 31 + 1, size)));
      expect(hexes(proveConsistency(sha, 2 ** 32 + 1, size, reader))).toEqual(hexes(tree.proof(2 ** 32 + 1, size)));
      expect(reader.reads).toBeLessThan(4 * 53 * 2);
    }
    const frontier = LogTreeFrontier.fromReader(sha, storedSizeMax - 1, reader);
    expect(frontier.toJSON().hashes).toHaveLength(52);
    expect(toHex(frontier.root())).toBe(toHex(tree.mth(storedSizeMax - 1)));
    const stored = frontier.append(tree.leafInput);
    expect(stored).toHaveLength(53);
    expect(toHex(frontier.root())).toBe(toHex(tree.mth(storedSizeMax)));
    expect(toHex(stored[52]!)).toBe(toHex(tree.mth(storedSizeMax)));
    expectSteleError(() => frontier.append(tree.leafInput), 'STELE_E_SIZE_OUT_OF_RANGE');
  });
});

describe('errors', () => {
  const sha = sha256;
  const { store, frontier } = build(sha, leavesOf(10, 3));

  it('refuses bad ranges with STELE_E_SIZE_OUT_OF_RANGE, naming the range and the fix', () => {
    const e = expectSteleError(() => proveInclusion(sha, 10, 10, store), 'STELE_E_SIZE_OUT_OF_RANGE');
    expect(e.message).toContain('index 10');
    expect(e.message).toContain('size 10');
    expectSteleError(() => proveInclusion(sha, 0, 0, store), 'STELE_E_SIZE_OUT_OF_RANGE');
    expectSteleError(() => proveInclusion(sha, -1, 5, store), 'STELE_E_SIZE_OUT_OF_RANGE');
    expectSteleError(() => proveInclusion(sha, 0.5, 5, store), 'STELE_E_SIZE_OUT_OF_RANGE');
    expect(expectSteleError(() => proveConsistency(sha, 6, 5, store), 'STELE_E_SIZE_OUT_OF_RANGE').message).toContain('from size 6 to size 5');
    expectSteleError(() => proveConsistency(sha, -1, 5, store), 'STELE_E_SIZE_OUT_OF_RANGE');
    expectSteleError(() => treeHash(sha, -1, store), 'STELE_E_SIZE_OUT_OF_RANGE');
    expectSteleError(() => treeHash(sha, storedSizeMax + 1, store), 'STELE_E_SIZE_OUT_OF_RANGE');
    expectSteleError(() => LogTreeFrontier.fromReader(sha, NaN, store), 'STELE_E_SIZE_OUT_OF_RANGE');
  });

  it('refuses a size beyond what the reader stores', () => {
    expectSteleError(() => treeHash(sha, 11, store), 'STELE_E_SIZE_OUT_OF_RANGE');
    expectSteleError(() => proveInclusion(sha, 3, 12, store), 'STELE_E_SIZE_OUT_OF_RANGE');
    expectSteleError(() => proveConsistency(sha, 3, 11, store), 'STELE_E_SIZE_OUT_OF_RANGE');
  });

  it('parses a frontier strictly', () => {
    const good = frontier.toJSON();
    expect(good.size).toBe(10);
    expect(good.hashes).toHaveLength(2);
    expect(toHex(LogTreeFrontier.fromJSON(sha, good).root())).toBe(toHex(frontier.root()));
    const bad: unknown[] = [
      null,
      [],
      'x',
      { size: 10 },
      { ...good, extra: 1 },
      { ...good, size: 11 },
      { ...good, size: -1 },
      { ...good, size: 10.5 },
      { ...good, size: '10' },
      { ...good, hashes: good.hashes.slice(1) },
      { ...good, hashes: [good.hashes[0], good.hashes[1]!.toUpperCase()] },
      { ...good, hashes: [good.hashes[0], good.hashes[1]!.slice(2)] },
      { ...good, hashes: [good.hashes[0], 7] },
      { size: 2 ** 52 + 2, hashes: [good.hashes[0], good.hashes[1]] },
    ];
    for (const json of bad) expectSteleError(() => LogTreeFrontier.fromJSON(sha, json), 'STELE_E_TREE_MISMATCH');
    expect(toHex(LogTreeFrontier.fromJSON(sha, { size: 0, hashes: [] }).root())).toBe(toHex(emptyRoot(sha)));
  });
});

describe('MemoryHashStore', () => {
  it('appends, reads copies, and truncates across chunk boundaries', () => {
    const store = new MemoryHashStore();
    const total = 70_000; // more than two 1 MiB chunks of 32,768 hashes
    const hashOf = (i: number): Uint8Array => sha256(Uint8Array.of(i % 256, Math.floor(i / 256) % 256, Math.floor(i / 65536)));
    const batch: Uint8Array[] = [];
    for (let i = 0; i < total; i++) batch.push(hashOf(i));
    store.append(batch.slice(0, 1));
    store.append(batch.slice(1));
    expect(store.count).toBe(total);
    const probe = [0, 1, 32_767, 32_768, 65_535, 65_536, 69_999, 5];
    expect(hexes(store.readHashes(probe))).toEqual(probe.map((i) => toHex(hashOf(i))));
    const held = store.readHashes([32_768])[0]!;
    store.truncate(32_768);
    expect(store.count).toBe(32_768);
    expectSteleError(() => store.readHashes([32_768]), 'STELE_E_SIZE_OUT_OF_RANGE');
    store.append([new Uint8Array(32)]);
    expect(toHex(held)).toBe(toHex(hashOf(32_768)));
    expect(toHex(store.readHashes([32_768])[0]!)).toBe('00'.repeat(32));
    expectSteleError(() => store.truncate(40_000), 'STELE_E_SIZE_OUT_OF_RANGE');
    store.truncate(0);
    expect(store.count).toBe(0);
    expectSteleError(() => store.readHashes([0]), 'STELE_E_SIZE_OUT_OF_RANGE');
    expect(() => store.append([new Uint8Array(31)])).toThrow(/bug/);
  });
});
