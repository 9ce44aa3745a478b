/**
 * Tests of the state tree (src/state/smt.ts, src/state/smt-hash.ts) and of the state proof
 * file (src/proof/state-proof.ts): hand-computed small trees, a known-answer root computed
 * independently (Python hashlib + json, straight from DESIGN.md §3), and seeded fast-check
 * properties against the naive reference model of ./reference.ts.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SteleError } from '../../src/errors.js';
import { fromHex, toHex } from '../../src/hash/hex.js';
import { sha256Portable } from '../../src/hash/portable.js';
import { sha256 } from '../../src/hash/sha256.js';
import type { StateProofJson } from '../../src/proof/state-proof.js';
import { checkStateProofJson, formatStateProof, parseStateProof, stateProofOf } from '../../src/proof/state-proof.js';
import { sha256Into } from '../../src/state/sha256-into.js';
import type { StateProof } from '../../src/state/smt.js';
import {
  checkStateProof,
  hashStateKey,
  hashStateValue,
  firstDifferingBit,
  sha256IntoOf,
  sortStateLeaves,
  stateEmptyRoot,
  stateKeyHash,
  stateValueHash,
  StateTree,
} from '../../src/state/smt.js';
import type { ReferenceEntry } from './reference.js';
import { bit, referenceProof, referenceRoot, ReferenceState } from './reference.js';

/** fast-check seed of every property here; replay a failure with STELE_FC_SEED=<seed>. */
const seed = Number(process.env.STELE_FC_SEED ?? 42);

/** SHA-256 by a third route (node:crypto's Hash object over concatenated bytes), for hand-computed cases. */
function h(...parts: (Uint8Array | number[])[]): Uint8Array {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p instanceof Uint8Array ? p : Uint8Array.from(p));
  return new Uint8Array(hash.digest());
}
const leaf = (k: Uint8Array, v: Uint8Array): Uint8Array => h([0x00], k, v);
const node = (l: Uint8Array, r: Uint8Array): Uint8Array => h([0x01], l, r);
const zero = new Uint8Array(32);

/** A 32-byte key with the given bits set (bit 0 = top bit of byte 0), all others 0. */
function keyWithBits(...bits: number[]): Uint8Array {
  const k = new Uint8Array(32);
  for (const b of bits) k[b >> 3]! |= 0x80 >> (b & 7);
  return k;
}
const valueOf = (n: number): Uint8Array => h([n & 255, n >> 8]);

function flipBit(bytes: Uint8Array, b: number): Uint8Array {
  const out = bytes.slice();
  out[b >> 3]! ^= 0x80 >> (b & 7);
  return out;
}

function expectProofFormat(fn: () => unknown, path?: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SteleError);
    expect((err as SteleError).code).toBe('STELE_E_PROOF_FORMAT');
    if (path !== undefined) expect((err as SteleError).where.path).toBe(path);
    return;
  }
  throw new Error('expected STELE_E_PROOF_FORMAT, nothing was thrown');
}

const hex = (b: Uint8Array): string => toHex(b);

describe('state tree: hand-computed roots (DESIGN.md §3)', () => {
  it('the empty state has the root of 32 zero bytes', () => {
    expect(new StateTree().root()).toEqual(zero);
    expect(StateTree.build([]).root()).toEqual(zero);
    expect(stateEmptyRoot()).toEqual(zero);
    const t = new StateTree();
    t.set(keyWithBits(3), valueOf(1));
    expect(t.delete(keyWithBits(3))).toBe(true);
    expect(t.root()).toEqual(zero);
    expect(t.size).toBe(0);
  });

  it('one entry: the root is its leaf, SHA-256(0x00 ‖ keyHash ‖ valueHash), whatever the key', () => {
    for (const k of [keyWithBits(), keyWithBits(0), keyWithBits(255), h([1, 2, 3])]) {
      const t = new StateTree();
      t.set(k, valueOf(7));
      expect(t.root()).toEqual(leaf(k, valueOf(7)));
      expect(StateTree.build([[k, valueOf(7)]]).root()).toEqual(leaf(k, valueOf(7)));
    }
  });

  it('two keys differing in bit 0: node(leaf of the 0 side, leaf of the 1 side), in either insertion order', () => {
    const a = keyWithBits(5); // bit 0 = 0
    const b = keyWithBits(0, 5); // bit 0 = 1
    const expected = node(leaf(a, valueOf(1)), leaf(b, valueOf(2)));
    const t1 = new StateTree();
    t1.set(a, valueOf(1));
    t1.set(b, valueOf(2));
    const t2 = new StateTree();
    t2.set(b, valueOf(2));
    t2.set(a, valueOf(1));
    expect(t1.root()).toEqual(expected);
    expect(t2.root()).toEqual(expected);
    expect(StateTree.build([[b, valueOf(2)], [a, valueOf(1)]]).root()).toEqual(expected);
  });

  it('keys sharing a long prefix: one node per shared bit, the empty side 32 zero bytes', () => {
    // Shared prefix: bits 0…249 with bits 1, 7 and 200 set; they differ at bit 250.
    const a = keyWithBits(1, 7, 200);
    const b = keyWithBits(1, 7, 200, 250);
    let expected = node(leaf(a, valueOf(1)), leaf(b, valueOf(2)));
    for (let d = 249; d >= 0; d--) expected = [1, 7, 200].includes(d) ? node(zero, expected) : node(expected, zero);
    const t = new StateTree();
    t.set(b, valueOf(2));
    t.set(a, valueOf(1));
    expect(t.root()).toEqual(expected);
    expect(StateTree.build([[a, valueOf(1)], [b, valueOf(2)]]).root()).toEqual(expected);

    // A third key leaving the prefix at bit 3 (the 1 side): splits the chain there.
    const c = keyWithBits(1, 3);
    let chain = node(leaf(a, valueOf(1)), leaf(b, valueOf(2)));
    for (let d = 249; d >= 4; d--) chain = [7, 200].includes(d) ? node(zero, chain) : node(chain, zero);
    let withC = node(chain, leaf(c, valueOf(3))); // bit 3: a, b have 0, c has 1
    withC = node(withC, zero); // bit 2: all 0
    withC = node(zero, withC); // bit 1: all 1
    withC = node(withC, zero); // bit 0: all 0
    t.set(c, valueOf(3));
    expect(t.root()).toEqual(withC);
    // Deleting it restores the chain: the subtree of a and b is lifted back to the top.
    expect(t.delete(c)).toBe(true);
    expect(t.root()).toEqual(expected);
  });

  it('keys differing only in the last bit: leaves at depth 256', () => {
    const a = keyWithBits(9);
    const b = keyWithBits(9, 255);
    let expected = node(leaf(a, valueOf(1)), leaf(b, valueOf(2)));
    for (let d = 254; d >= 0; d--) expected = d === 9 ? node(zero, expected) : node(expected, zero);
    const t = StateTree.build([[a, valueOf(1)], [b, valueOf(2)]]);
    expect(t.root()).toEqual(expected);
    const proof = t.prove(b);
    expect(proof.siblings).toHaveLength(256);
    expect(checkStateProof(sha256, proof, expected, b, valueOf(2))).toBe(true);
  });

  it('matches a root computed independently (Python hashlib + json.dumps, DESIGN.md §3)', () => {
    // tmp script: the recursion of §3 over SHA-256(UTF-8 key) and SHA-256(JCS(value)).
    const state: [string, unknown][] = [
      ['kv:a', 1],
      ['kv:b', { y: [1, 'two', null], x: true }],
      ['account:alice', { version: 3, balance: '12500' }],
      ['kv:ü', 'héllo'],
      ['bundle:0', null],
    ];
    const expected = '65e46cff10e31ef12936697bd3530be18af5a7b8d42b9581e5f7c3af657e847d';
    const entries = state.map(([k, v]) => [stateKeyHash(k), stateValueHash(v)] as const);
    expect(hex(StateTree.build(entries).root())).toBe(expected);
    const t = new StateTree();
    for (const [k, v] of [...entries].reverse()) t.set(k, v);
    expect(hex(t.root())).toBe(expected);
    // The portable helpers agree with the node:crypto ones.
    for (const [k, v] of state) {
      expect(hashStateKey(sha256Portable, k)).toEqual(stateKeyHash(k));
      expect(hashStateValue(sha256Portable, v)).toEqual(stateValueHash(v));
    }
    expect(hex(stateKeyHash('kv:a')).slice(0, 8)).toBe('fa6fddfe');
    expect(hex(StateTree.build(entries.slice(0, 1)).root())).toBe('7aa02dee8d32a90de0e7decdef4cc971da2d032368bfb747adad2f7a5fcebe1b');
  });

  it('stateValueHash rejects values outside JSON with the canonical codec\'s typed error', () => {
    expect(() => stateValueHash({ a: Number.NaN })).toThrow(SteleError);
    expect(() => stateValueHash(undefined)).toThrow(SteleError);
  });
});

describe('state tree: operations', () => {
  it('get, has, size, set of an unchanged value, delete of an absent key', () => {
    const t = new StateTree();
    const a = keyWithBits(1);
    expect(t.get(a)).toBeUndefined();
    expect(t.delete(a)).toBe(false);
    t.set(a, valueOf(1));
    const r1 = t.root();
    t.set(a, valueOf(1));
    expect(t.root()).toEqual(r1);
    expect(t.get(a)).toEqual(valueOf(1));
    expect(t.has(a)).toBe(true);
    expect(t.has(keyWithBits(2))).toBe(false);
    expect(t.delete(keyWithBits(2))).toBe(false);
    expect(t.size).toBe(1);
    // get returns a copy: mutating it changes nothing.
    t.get(a)![0] = 99;
    expect(t.get(a)).toEqual(valueOf(1));
    const root = t.root();
    root[0] = 99;
    expect(t.root()).toEqual(r1);
  });

  it('rejects hashes that are not 32 bytes (a programmer error)', () => {
    const t = new StateTree();
    expect(() => t.set(new Uint8Array(31), valueOf(1))).toThrow(/32 bytes/);
    expect(() => t.set(keyWithBits(1), new Uint8Array(33))).toThrow(/32 bytes/);
    expect(() => t.get(new Uint8Array(0))).toThrow(/32 bytes/);
  });

  it('build keeps the last of duplicate keys, as a Map does, and continues incrementally', () => {
    const a = keyWithBits(4);
    const b = keyWithBits(0);
    const t = StateTree.build([
      [a, valueOf(1)],
      [b, valueOf(2)],
      [a, valueOf(3)],
    ]);
    expect(t.size).toBe(2);
    expect(t.get(a)).toEqual(valueOf(3));
    expect(t.root()).toEqual(node(leaf(a, valueOf(3)), leaf(b, valueOf(2))));
    // The dropped duplicate's slot is reused without disturbing anything.
    const c = keyWithBits(0, 1);
    t.set(c, valueOf(4));
    expect(t.root()).toEqual(referenceRoot(sha256, [[a, valueOf(3)], [b, valueOf(2)], [c, valueOf(4)]]));
  });

  it('the tree hashes identically with node:crypto and with @noble/hashes', () => {
    const entries = Array.from({ length: 300 }, (_, i) => [h([i & 255, i >> 8, 1]), h([i & 255, i >> 8, 2])] as const);
    expect(StateTree.build(entries, sha256IntoOf(sha256Portable)).root()).toEqual(StateTree.build(entries, sha256Into).root());
    const t = new StateTree(sha256IntoOf(sha256Portable));
    for (const [k, v] of entries) t.set(k, v);
    expect(t.root()).toEqual(StateTree.build(entries).root());
    // A bulk-built tree is exactly sized: 97 bytes per leaf (3 hashes, a flag), 42 per branch node.
    expect(StateTree.build(entries).bytes).toBe(300 * 97 + 299 * 42);
  });
});

// ---- Properties against the reference model ----

/**
 * Keys that exercise the tree's corners: random ones (short shared prefixes), and keys with
 * a few bits set in a zero key (long shared prefixes, splits deep down, bit 255).
 */
const sparseKey = fc.uniqueArray(fc.nat(255), { minLength: 0, maxLength: 3 }).map((bits) => keyWithBits(...bits));
const randomKey = fc.uint8Array({ minLength: 32, maxLength: 32 });
const anyKey = fc.oneof(sparseKey, randomKey);
const valueHash = fc.nat(1000).map(valueOf);

type Op = { op: 'set'; key: number; value: Uint8Array } | { op: 'delete'; key: number } | { op: 'root' };

/** A pool of keys and a sequence of operations on indexes into it (so keys repeat). */
const scenario = fc
  .uniqueArray(anyKey, { minLength: 1, maxLength: 40, selector: (k) => hex(k) })
  .chain((pool) =>
    fc.record({
      pool: fc.constant(pool),
      ops: fc.array(
        fc.oneof(
          { weight: 5, arbitrary: fc.record({ op: fc.constant('set' as const), key: fc.nat(pool.length - 1), value: valueHash }) },
          { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), key: fc.nat(pool.length - 1) }) },
          { weight: 1, arbitrary: fc.constant({ op: 'root' as const }) },
        ),
        { maxLength: 120 },
      ),
    }),
  );

function run(pool: Uint8Array[], ops: readonly Op[]): { tree: StateTree; model: ReferenceState } {
  const tree = new StateTree();
  const model = new ReferenceState();
  for (const o of ops) {
    if (o.op === 'set') {
      tree.set(pool[o.key]!, o.value);
      model.set(pool[o.key]!, o.value);
    } else if (o.op === 'delete') {
      expect(tree.delete(pool[o.key]!)).toBe(model.delete(pool[o.key]!));
    } else {
      // Intermediate roots, so laziness is exercised across several root() calls.
      expect(tree.root()).toEqual(model.root(sha256));
    }
  }
  return { tree, model };
}

/** Deterministic Fisher-Yates shuffle from a fast-check-provided seed. */
function shuffled<T>(items: readonly T[], s: number): T[] {
  const out = [...items];
  let x = s >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('state tree: properties against the reference model (fast-check, seeded)', () => {
  it('any sequence of set/delete gives the reference root, size and values', () => {
    fc.assert(
      fc.property(scenario, ({ pool, ops }) => {
        const { tree, model } = run(pool, ops);
        expect(tree.size).toBe(model.size);
        expect(tree.root()).toEqual(model.root(sha256));
        for (const k of pool) expect(tree.get(k)).toEqual(model.get(k));
      }),
      { seed, numRuns: 300 },
    );
  });

  it('the root does not depend on insertion order, and build() equals incremental', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(anyKey, valueHash), { maxLength: 80, selector: ([k]) => hex(k) }), fc.integer(), (entries, s) => {
        const expected = referenceRoot(sha256, entries);
        const incremental = new StateTree();
        for (const [k, v] of shuffled(entries, s)) incremental.set(k, v);
        expect(incremental.root()).toEqual(expected);
        expect(StateTree.build(shuffled(entries, s + 1)).root()).toEqual(expected);
        // A generator is an Iterable too.
        expect(StateTree.build((function* () { yield* entries; })()).root()).toEqual(expected);
      }),
      { seed, numRuns: 300 },
    );
  });

  it('a built tree keeps working incrementally (set, delete, root) like the reference', () => {
    fc.assert(
      fc.property(scenario, fc.nat(40), ({ pool, ops }, initial) => {
        const start: ReferenceEntry[] = pool.slice(0, initial).map((k, i) => [k, valueOf(i + 5000)]);
        const tree = StateTree.build(start);
        const model = new ReferenceState();
        for (const [k, v] of start) model.set(k, v);
        for (const o of ops) {
          if (o.op === 'set') {
            tree.set(pool[o.key]!, o.value);
            model.set(pool[o.key]!, o.value);
          } else if (o.op === 'delete') {
            expect(tree.delete(pool[o.key]!)).toBe(model.delete(pool[o.key]!));
          } else {
            expect(tree.root()).toEqual(model.root(sha256));
          }
        }
        expect(tree.root()).toEqual(model.root(sha256));
      }),
      { seed, numRuns: 200 },
    );
  });

  it('proofs equal the reference recursion; inclusion verifies for present keys, non-inclusion for absent ones', () => {
    fc.assert(
      fc.property(scenario, fc.array(anyKey, { maxLength: 5 }), ({ pool, ops }, extra) => {
        const { tree, model } = run(pool, ops);
        const root = tree.root();
        for (const k of [...pool, ...extra]) {
          const proof = tree.prove(k);
          expect(proof).toEqual(referenceProof(sha256, model.entries(), k));
          const v = model.get(k);
          for (const sha of [sha256, sha256Portable]) {
            if (v !== undefined) {
              expect(checkStateProof(sha, proof, root, k, v)).toBe(true);
              expect(checkStateProof(sha, proof, root, k, undefined)).toBe(false);
              expect(checkStateProof(sha, proof, root, k, flipBit(v, 3))).toBe(false);
            } else {
              expect(checkStateProof(sha, proof, root, k, undefined)).toBe(true);
              expect(checkStateProof(sha, proof, root, k, valueOf(1))).toBe(false);
            }
          }
        }
      }),
      { seed, numRuns: 200 },
    );
  });

  it('any altered sibling, end, key, value or root fails the check', () => {
    fc.assert(
      fc.property(scenario, fc.nat(), fc.nat(255), ({ pool, ops }, pick, b) => {
        const { tree, model } = run(pool, ops);
        const root = tree.root();
        const k = pool[pick % pool.length]!;
        const v = model.get(k);
        const proof = tree.prove(k);
        expect(checkStateProof(sha256, proof, root, k, v)).toBe(true);
        const bad: StateProof[] = [];
        proof.siblings.forEach((_, i) => bad.push({ ...proof, siblings: proof.siblings.map((s, j) => (j === i ? flipBit(s, b) : s)) }));
        bad.push({ ...proof, siblings: [...proof.siblings, new Uint8Array(32).fill(1)] });
        if (proof.siblings.length > 0) bad.push({ ...proof, siblings: proof.siblings.slice(0, -1) });
        if (proof.siblings.length > 0) bad.push({ ...proof, siblings: proof.siblings.slice(1) });
        if (proof.end.type === 'leaf') {
          bad.push({ ...proof, end: { ...proof.end, valueHash: flipBit(proof.end.valueHash, b) } });
          bad.push({ ...proof, end: { ...proof.end, keyHash: flipBit(proof.end.keyHash, b) } });
          bad.push({ ...proof, end: { type: 'empty' } });
        } else {
          bad.push({ ...proof, end: { type: 'leaf', keyHash: flipBit(k, 255), valueHash: valueOf(1) } });
        }
        for (const p of bad) expect(checkStateProof(sha256, p, root, k, v)).toBe(false);
        expect(checkStateProof(sha256, proof, flipBit(root, b), k, v)).toBe(false);
        // The same proof for another key (one bit off) does not verify that key, unless it is a
        // non-inclusion proof ending above that bit: then it proves the other key absent too.
        const other = flipBit(k, b);
        if (v !== undefined || b < proof.siblings.length) expect(checkStateProof(sha256, proof, root, other, v)).toBe(false);
      }),
      { seed, numRuns: 300 },
    );
  });
});

describe('sortStateLeaves', () => {
  it('orders leaves by key, keeps the last of equal keys, and its prefixes locate first differing bits', () => {
    // 2^21 + 1 slots: more index bits than fit beside 32 key bits, so fewer leading bits are packed.
    for (const slots of [3000, 2 ** 21 + 1]) {
      const keys = new Uint8Array(slots * 32);
      const leaves: number[] = [];
      for (let i = 0; i < 2000; i++) {
        const leaf = (i * 7919) % slots;
        leaves.push(leaf);
        // Keys sharing long prefixes, with duplicates (i % 97 repeats).
        keys.set(i % 5 === 0 ? keyWithBits(40 + (i % 97)) : h([i % 97, i % 3]), leaf * 32);
      }
      const sorted = sortStateLeaves(keys, Int32Array.from(leaves));
      const hexOf = (leaf: number): string => hex(keys.subarray(leaf * 32, leaf * 32 + 32));
      const expected = new Map<string, number>();
      for (const leaf of leaves) expected.set(hexOf(leaf), Math.max(expected.get(hexOf(leaf)) ?? -1, leaf));
      expect([...sorted.order].map(hexOf)).toEqual([...expected.keys()].sort());
      expect([...sorted.order].sort((a, b) => a - b)).toEqual([...expected.values()].sort((a, b) => a - b));
      expect(sorted.dropped.length).toBe(leaves.length - expected.size);
      for (let i = 0; i + 1 < sorted.order.length; i++) {
        const x = (sorted.prefixes[i]! ^ sorted.prefixes[i + 1]!) >>> 0;
        if (x !== 0) expect(Math.clz32(x)).toBe(firstDifferingBit(keys, sorted.order[i]! * 32, keys, sorted.order[i + 1]! * 32));
      }
    }
  });
});

describe('state tree: proof shapes', () => {
  it('proves inclusion, non-inclusion at an empty side, and non-inclusion at another leaf', () => {
    const a = keyWithBits(1, 7, 200);
    const b = keyWithBits(1, 7, 200, 250);
    const c = keyWithBits(0);
    const t = StateTree.build([
      [a, valueOf(1)],
      [b, valueOf(2)],
      [c, valueOf(3)],
    ]);
    const root = t.root();
    // Inclusion of c: the sibling at bit 0 is the whole a/b subtree, lifted to depth 1.
    const pc = t.prove(c);
    expect(pc.siblings).toHaveLength(1);
    expect(pc.end).toEqual({ type: 'leaf', keyHash: c, valueHash: valueOf(3) });
    expect(checkStateProof(sha256, pc, root, c, valueOf(3))).toBe(true);
    // An absent key leaving the a/b prefix at bit 100: ends at an empty side, depth 101.
    const x = keyWithBits(1, 7, 100);
    const px = t.prove(x);
    expect(px.end).toEqual({ type: 'empty' });
    expect(px.siblings).toHaveLength(101);
    expect(checkStateProof(sha256, px, root, x, undefined)).toBe(true);
    // An absent key under c's leaf: ends at c's leaf.
    const y = keyWithBits(0, 100);
    const py = t.prove(y);
    expect(py.end).toEqual({ type: 'leaf', keyHash: c, valueHash: valueOf(3) });
    expect(checkStateProof(sha256, py, root, y, undefined)).toBe(true);
    // Strictness: a zero bottom sibling beside the end is never produced, and is rejected.
    const padded: StateProof = { siblings: [...pc.siblings, zero], end: pc.end };
    expect(checkStateProof(sha256, padded, root, c, valueOf(3))).toBe(false);
    // Malformed inputs give false, never an exception.
    expect(checkStateProof(sha256, { siblings: [new Uint8Array(31)], end: pc.end }, root, c, valueOf(3))).toBe(false);
    expect(checkStateProof(sha256, pc, root.subarray(1), c, valueOf(3))).toBe(false);
    expect(checkStateProof(sha256, { siblings: Array.from({ length: 257 }, () => root), end: { type: 'empty' } }, root, x, undefined)).toBe(false);
    expect(checkStateProof(sha256, null as unknown as StateProof, root, c, valueOf(3))).toBe(false);
  });

  it('strictness beyond the hash chain: shapes no compact tree has are rejected even when they fold to the root', () => {
    // These roots are forged (no compact tree has them), so only the shape checks can refuse.
    const k = keyWithBits(9); // bit 0 = 0
    const l = leaf(k, valueOf(1));
    // A leaf beside an empty sibling: its parent holds one entry and would be that leaf.
    const zeroBeside: StateProof = { siblings: [zero], end: { type: 'leaf', keyHash: k, valueHash: valueOf(1) } };
    expect(checkStateProof(sha256, zeroBeside, node(l, zero), k, valueOf(1))).toBe(false);
    // Two equal sides fold to the same hash in either direction; a key on the other side of
    // bit 0 does not share the end leaf's first bit, so the leaf is not on its path.
    const q = keyWithBits(0, 9);
    const mirrored: StateProof = { siblings: [l], end: { type: 'leaf', keyHash: k, valueHash: valueOf(1) } };
    expect(checkStateProof(sha256, mirrored, node(l, l), k, valueOf(1))).toBe(true);
    expect(checkStateProof(sha256, mirrored, node(l, l), q, undefined)).toBe(false);
    // An empty end at depth 256 cannot exist: its other side would need two keys sharing all 256 bits.
    const deep: StateProof = { siblings: Array.from({ length: 256 }, () => l), end: { type: 'empty' } };
    let r = zero as Uint8Array;
    for (let d = 255; d >= 0; d--) r = bit(k, d) === 0 ? node(r, l) : node(l, r);
    expect(checkStateProof(sha256, deep, r, k, undefined)).toBe(false);
  });

  it('proofs of the empty and the one-entry state have no siblings', () => {
    const empty = new StateTree();
    const k = keyWithBits(3);
    expect(empty.prove(k)).toEqual({ siblings: [], end: { type: 'empty' } });
    expect(checkStateProof(sha256, empty.prove(k), zero, k, undefined)).toBe(true);
    const one = StateTree.build([[k, valueOf(1)]]);
    expect(checkStateProof(sha256, one.prove(k), one.root(), k, valueOf(1))).toBe(true);
    expect(checkStateProof(sha256, one.prove(keyWithBits(4)), one.root(), keyWithBits(4), undefined)).toBe(true);
  });

  it('the reference model agrees with itself on bit order (bit 0 is the top bit of byte 0)', () => {
    expect(bit(keyWithBits(0), 0)).toBe(1);
    expect(bit(Uint8Array.from([0x80, ...zero.subarray(1)]), 0)).toBe(1);
    expect(bit(Uint8Array.from([0x01, ...zero.subarray(1)]), 7)).toBe(1);
  });
});

// ---- The proof file ----

function stateFixture(): { tree: StateTree; values: Map<string, unknown> } {
  const values = new Map<string, unknown>([
    ['kv:a', 1],
    ['kv:b', { y: [1, 'two', null], x: true }],
    ['account:alice', { balance: '12500', version: 3 }],
    ['kv:ü', 'héllo'],
    ['bundle:0', null],
  ]);
  for (let i = 0; i < 200; i++) values.set(`kv:key-${i}`, { n: i });
  const tree = StateTree.build([...values].map(([k, v]) => [stateKeyHash(k), stateValueHash(v)] as const));
  return { tree, values };
}

function proofFile(tree: StateTree, key: string, value?: unknown): StateProofJson {
  return formatStateProof(sha256, key, tree.prove(stateKeyHash(key)), tree.root(), value);
}

describe('state proof file (src/proof/state-proof.ts)', () => {
  const { tree, values } = stateFixture();

  it('round-trips inclusion and non-inclusion proofs through JSON text and verifies them', () => {
    const cases: StateProofJson[] = [
      proofFile(tree, 'kv:a', 1),
      proofFile(tree, 'kv:b', values.get('kv:b')),
      proofFile(tree, 'bundle:0', null),
      proofFile(tree, 'kv:ü'),
      proofFile(tree, 'kv:absent'),
      proofFile(tree, 'account:nobody'),
    ];
    for (const p of cases) {
      const text = JSON.stringify(p);
      const parsed = parseStateProof(JSON.parse(text));
      expect(parsed).toEqual(p);
      expect(checkStateProofJson(sha256, parsed)).toBe(true);
      expect(checkStateProofJson(sha256Portable, parsed)).toBe(true);
    }
    expect(cases[0]!.value).toBe(1);
    expect(cases[2]).toHaveProperty('value', null);
    expect(cases[3]).not.toHaveProperty('value');
    expect(cases[4]!.end).toBeDefined();
    expect(cases[4]).not.toHaveProperty('valueHash');
    // Both kinds of non-inclusion end occur over enough absent keys.
    const ends = new Set(Array.from({ length: 64 }, (_, i) => proofFile(tree, `kv:absent-${i}`).end?.type));
    expect(ends).toEqual(new Set(['empty', 'leaf']));
    // keyHash is the plain SHA-256 of the key's UTF-8 bytes, as `printf %s KEY | sha256sum` prints it.
    expect(cases[0]!.keyHash).toBe(createHash('sha256').update('kv:a', 'utf8').digest('hex'));
    expect(stateProofOf(cases[0]!).end).toEqual({ type: 'leaf', keyHash: stateKeyHash('kv:a'), valueHash: stateValueHash(1) });
  });

  it('fails the check when the key, value, hashes or root were altered', () => {
    const incl = proofFile(tree, 'kv:b', values.get('kv:b'));
    const absent = proofFile(tree, 'kv:absent');
    const flipHex = (text: string): string => (text[0] === '0' ? '1' : '0') + text.slice(1);
    const bad: StateProofJson[] = [
      { ...incl, key: 'kv:c' },
      { ...incl, value: { y: [1, 'two', null], x: false } },
      { ...incl, valueHash: flipHex(incl.valueHash!) },
      { ...incl, stateRoot: flipHex(incl.stateRoot) },
      { ...incl, siblings: incl.siblings.map((s, i) => (i === 0 ? flipHex(s) : s)) },
      { ...absent, key: 'kv:a', keyHash: toHex(stateKeyHash('kv:a')) },
      { ...absent, siblings: absent.siblings.slice(1) },
      { ...absent, stateRoot: flipHex(absent.stateRoot) },
      { ...incl, keyHash: flipHex(incl.keyHash) },
    ];
    for (const p of bad) expect(checkStateProofJson(sha256, p)).toBe(false);
  });

  it('the strict parser rejects what formatStateProof never writes', () => {
    const incl = proofFile(tree, 'kv:a', 1);
    const absent = proofFile(tree, 'kv:absent');
    const upper = incl.keyHash.toUpperCase();
    expectProofFormat(() => parseStateProof([incl]));
    expectProofFormat(() => parseStateProof(null));
    expectProofFormat(() => parseStateProof({ ...incl, type: 'inclusion' }), 'type');
    expectProofFormat(() => parseStateProof({ ...incl, v: 2 }), 'v');
    expectProofFormat(() => parseStateProof({ ...incl, extra: 1 }), 'extra');
    expectProofFormat(() => parseStateProof({ ...incl, keyHash: upper }), 'keyHash');
    expectProofFormat(() => parseStateProof({ ...incl, keyHash: incl.keyHash.slice(2) }), 'keyHash');
    expectProofFormat(() => parseStateProof({ ...incl, stateRoot: 7 }), 'stateRoot');
    expectProofFormat(() => parseStateProof({ ...incl, siblings: [...incl.siblings, 'zz'] }), `siblings[${incl.siblings.length}]`);
    expectProofFormat(() => parseStateProof({ ...incl, siblings: Array.from({ length: 257 }, () => incl.stateRoot) }), 'siblings');
    expectProofFormat(() => parseStateProof({ ...incl, siblings: 'abc' }), 'siblings');
    expectProofFormat(() => parseStateProof({ ...incl, key: '\ud800' }), 'key');
    expectProofFormat(() => parseStateProof({ ...incl, key: 5 }), 'key');
    expectProofFormat(() => parseStateProof({ ...incl, key: 'k'.repeat(70_000) }), 'key');
    expectProofFormat(() => parseStateProof({ ...incl, value: { bad: Number.NaN } }), 'value.bad');
    expectProofFormat(() => parseStateProof({ ...incl, end: { type: 'empty' } }), 'end');
    const { keyHash: _k, ...noKeyHash } = incl;
    expectProofFormat(() => parseStateProof(noKeyHash), 'keyHash');
    const { end: _e, ...noEnd } = absent;
    expectProofFormat(() => parseStateProof(noEnd), 'end');
    expectProofFormat(() => parseStateProof({ ...absent, value: 1 }), 'value');
    expectProofFormat(() => parseStateProof({ ...absent, end: { type: 'nothing' } }), 'end.type');
    expectProofFormat(() => parseStateProof({ ...absent, end: { type: 'empty', keyHash: incl.keyHash } }), 'end.keyHash');
    expectProofFormat(() => parseStateProof({ ...absent, end: { type: 'leaf', keyHash: incl.keyHash } }), 'end.valueHash');
    expectProofFormat(() => parseStateProof({ ...absent, end: { type: 'leaf', keyHash: absent.keyHash, valueHash: absent.keyHash } }), 'end.keyHash');
    expectProofFormat(() => parseStateProof({ ...absent, end: [] }), 'end');
    // What it accepts, it accepts exactly (a parse of a parse is the same).
    expect(parseStateProof(parseStateProof(incl))).toEqual(incl);
  });

  it('formatStateProof refuses a value that contradicts the proof (a caller bug)', () => {
    expect(() => proofFile(tree, 'kv:a', 2)).toThrow(/does not hash/);
    expect(() => proofFile(tree, 'kv:absent', 2)).toThrow(/shows absent/);
  });

  it('a proof file verifies only against its own root: a proof from before an update fails after it', () => {
    const t = StateTree.build([...values].map(([k, v]) => [stateKeyHash(k), stateValueHash(v)] as const));
    const before = formatStateProof(sha256, 'kv:a', t.prove(stateKeyHash('kv:a')), t.root(), 1);
    t.set(stateKeyHash('kv:a'), stateValueHash(2));
    const stale = { ...before, stateRoot: toHex(t.root()) };
    expect(checkStateProofJson(sha256, stale)).toBe(false);
    const fresh = formatStateProof(sha256, 'kv:a', t.prove(stateKeyHash('kv:a')), t.root(), 2);
    expect(checkStateProofJson(sha256, fresh)).toBe(true);
    expect(fromHex(fresh.stateRoot)).toEqual(t.root());
  });
});
