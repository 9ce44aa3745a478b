import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SteleError } from '../../src/errors.js';
import { toHex } from '../../src/hash/hex.js';
import { sha256 } from '../../src/hash/sha256.js';
import { LogTreeFrontier, MemoryHashStore, proveConsistency, proveInclusion, storedHashCount, treeHash } from '../../src/merkle/log-tree.js';
import { pendingHashesMax, TreeFile } from '../../src/store/tree-file.js';
import { tempDir } from '../helpers.js';

const hashOf = (i: number): Uint8Array => sha256(new TextEncoder().encode(`hash ${i}`));
const hexes = (hashes: readonly Uint8Array[]): string[] => hashes.map(toHex);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

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

describe('TreeFile', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = tempDir('stele-tree-');
    file = path.join(dir, 'tree.hashes');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates, appends, reads any indexes, and keeps them across a reopen', () => {
    const tree = TreeFile.open(file, { readOnly: false });
    expect(tree.count).toBe(0);
    tree.append([]);
    tree.append([hashOf(0)]);
    tree.append(range(1, 100).map(hashOf));
    expect(tree.count).toBe(100);
    // Appends are buffered (one write per ~256 KiB) and readable before they are written.
    expect(fs.statSync(file).size).toBe(0);
    const indexes = [99, 0, 1, 2, 3, 50, 51, 7, 7, 98, 99];
    expect(hexes(tree.readHashes(indexes))).toEqual(indexes.map((i) => toHex(hashOf(i))));
    tree.flush();
    expect(fs.statSync(file).size).toBe(100 * 32);
    tree.append([hashOf(100)]);
    // Mixed reads: from the file and from the buffer in one call.
    expect(hexes(tree.readHashes([99, 100, 98]))).toEqual([99, 100, 98].map((i) => toHex(hashOf(i))));
    tree.truncate(100);
    expect(tree.readHashes([])).toEqual([]);
    tree.close();
    tree.close(); // closing twice is harmless

    const again = TreeFile.open(file, { readOnly: true });
    expect(again.count).toBe(100);
    expect(hexes(again.readHashes(range(0, 100)))).toEqual(range(0, 100).map((i) => toHex(hashOf(i))));
    again.close();
  });

  it('truncates, then appends after the cut', () => {
    const tree = TreeFile.open(file, { readOnly: false });
    tree.append(range(0, 10).map(hashOf));
    tree.flush();
    tree.truncate(4);
    expect(tree.count).toBe(4);
    expect(fs.statSync(file).size).toBe(4 * 32);
    expectSteleError(() => tree.readHashes([4]), 'STELE_E_SIZE_OUT_OF_RANGE');
    tree.append([hashOf(100)]);
    expect(hexes(tree.readHashes([3, 4]))).toEqual([toHex(hashOf(3)), toHex(hashOf(100))]);
    expectSteleError(() => tree.truncate(6), 'STELE_E_SIZE_OUT_OF_RANGE');
    tree.truncate(0);
    expect(tree.count).toBe(0);
    tree.close();
  });

  it('writes buffered hashes once enough are waiting, and on close', () => {
    const tree = TreeFile.open(file, { readOnly: false });
    tree.append(range(0, pendingHashesMax - 1).map(hashOf));
    expect(fs.statSync(file).size).toBe(0);
    tree.append([hashOf(pendingHashesMax - 1)]);
    expect(fs.statSync(file).size).toBe(pendingHashesMax * 32);
    tree.append([hashOf(1), hashOf(2)]);
    tree.truncate(pendingHashesMax + 1);
    tree.close();
    expect(fs.statSync(file).size).toBe((pendingHashesMax + 1) * 32);
  });

  it('ignores a trailing partial hash read-only, and cuts it when opened writable', () => {
    const tree = TreeFile.open(file, { readOnly: false });
    tree.append(range(0, 3).map(hashOf));
    tree.close();
    fs.appendFileSync(file, Buffer.alloc(17, 0xaa)); // a torn append
    const reader = TreeFile.open(file, { readOnly: true });
    expect(reader.count).toBe(3);
    expectSteleError(() => reader.readHashes([3]), 'STELE_E_SIZE_OUT_OF_RANGE');
    reader.close();
    expect(fs.statSync(file).size).toBe(3 * 32 + 17); // read-only never writes
    const writer = TreeFile.open(file, { readOnly: false });
    expect(writer.count).toBe(3);
    expect(fs.statSync(file).size).toBe(3 * 32);
    writer.append([hashOf(3)]);
    expect(hexes(writer.readHashes([2, 3]))).toEqual([toHex(hashOf(2)), toHex(hashOf(3))]);
    writer.close();
  });

  it('refuses to change a read-only file, with a typed error', () => {
    TreeFile.open(file, { readOnly: false }).close();
    const tree = TreeFile.open(file, { readOnly: true });
    const e = expectSteleError(() => tree.append([hashOf(0)]), 'STELE_E_DATA_DIR_UNWRITABLE');
    expect(e.where.file).toBe(file);
    expectSteleError(() => tree.truncate(0), 'STELE_E_DATA_DIR_UNWRITABLE');
    expect(fs.statSync(file).size).toBe(0);
    tree.close();
  });

  it('wraps fs errors in STELE_E_IO with the file and a fix, and refuses use after close', () => {
    const missing = path.join(dir, 'missing.hashes');
    const e = expectSteleError(() => TreeFile.open(missing, { readOnly: true }), 'STELE_E_IO');
    expect(e.where.file).toBe(missing);
    expect(fs.existsSync(missing)).toBe(false); // a read-only open creates nothing
    expectSteleError(() => TreeFile.open(path.join(dir, 'no', 'such', 'dir'), { readOnly: false }), 'STELE_E_IO');
    const tree = TreeFile.open(file, { readOnly: false });
    tree.close();
    expectSteleError(() => tree.readHashes([0]), 'STELE_E_CLOSED');
    expectSteleError(() => tree.append([hashOf(0)]), 'STELE_E_CLOSED');
  });

  it('serves the same roots and proofs as a MemoryHashStore', () => {
    const size = 1000;
    const frontier = new LogTreeFrontier(sha256);
    const memory = new MemoryHashStore();
    const tree = TreeFile.open(file, { readOnly: false });
    for (let i = 0; i < size; i++) {
      const stored = frontier.append(hashOf(i));
      memory.append(stored);
      // Batches of uneven length, as the writer's group commits write them.
      if (i % 7 === 6 || i === size - 1) tree.append(memory.readHashes(range(tree.count, memory.count)));
    }
    expect(tree.count).toBe(storedHashCount(size));
    tree.close();
    const reader = TreeFile.open(file, { readOnly: true });
    for (const n of [1, 2, 3, 7, 8, 9, 255, 256, 257, 511, 640, 999, 1000]) {
      expect(toHex(treeHash(sha256, n, reader)), `root ${n}`).toBe(toHex(treeHash(sha256, n, memory)));
      for (const index of new Set([0, 1, Math.floor(n / 2), n - 2, n - 1].filter((i) => i >= 0 && i < n))) {
        expect(hexes(proveInclusion(sha256, index, n, reader)), `inclusion ${index}/${n}`).toEqual(hexes(proveInclusion(sha256, index, n, memory)));
      }
      for (const m of new Set([0, 1, Math.floor(n / 2), n - 1, n])) {
        expect(hexes(proveConsistency(sha256, m, n, reader)), `consistency ${m}→${n}`).toEqual(hexes(proveConsistency(sha256, m, n, memory)));
      }
      expect(LogTreeFrontier.fromReader(sha256, n, reader).toJSON()).toEqual(LogTreeFrontier.fromReader(sha256, n, memory).toJSON());
    }
    expect(toHex(treeHash(sha256, size, reader))).toBe(toHex(frontier.root()));
    expectSteleError(() => treeHash(sha256, size + 1, reader), 'STELE_E_SIZE_OUT_OF_RANGE');
    reader.close();
  });
});
