/**
 * Tests of src/state/build-parallel.ts: the one-thread bulk build from key strings and values
 * (from the TypeScript sources), and the two-thread build, which spawns its worker from the
 * compiled file and so is loaded from dist/ (run `npm run build` first; `npm test` does).
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SteleError } from '../../src/errors.js';
import { sha256 } from '../../src/hash/sha256.js';
import { buildStateTreeSync, parallelEntriesMin } from '../../src/state/build-parallel.js';
import type { StateTree } from '../../src/state/smt.js';
import { StateTree as SourceStateTree, stateKeyHash, stateValueHash } from '../../src/state/smt.js';
import { repoRoot } from '../helpers.js';
import { referenceRoot } from './reference.js';

function makeEntries(count: number, salt = ''): [string, unknown][] {
  return Array.from({ length: count }, (_, i) => (i % 3 === 0 ? [`kv:${salt}${i}`, { v: i, s: `x${i}` }] : [`account:${salt}${i}`, { balance: String(i * 7), version: 1 }]));
}

const hashed = (entries: readonly (readonly [string, unknown])[]): [Uint8Array, Uint8Array][] => entries.map(([k, v]) => [stateKeyHash(k), stateValueHash(v)]);

describe('buildStateTreeSync', () => {
  it('equals StateTree.build of the hashes and the reference recursion', () => {
    for (const n of [0, 1, 2, 3, 50, 700]) {
      const entries = makeEntries(n);
      const root = buildStateTreeSync(entries).root();
      expect(root).toEqual(SourceStateTree.build(hashed(entries)).root());
      expect(root).toEqual(referenceRoot(sha256, hashed(entries)));
    }
  });

  it('keeps the last value of a repeated key, and the tree goes on incrementally', () => {
    const entries: [string, unknown][] = [...makeEntries(100), ['kv:0', 'first'], ['kv:0', 'second']];
    const tree = buildStateTreeSync(entries);
    expect(tree.size).toBe(100);
    expect(tree.get(stateKeyHash('kv:0'))).toEqual(stateValueHash('second'));
    tree.set(stateKeyHash('kv:new'), stateValueHash(1));
    tree.delete(stateKeyHash('kv:3'));
    const model = new Map(entries);
    model.set('kv:new', 1);
    model.delete('kv:3');
    expect(tree.root()).toEqual(referenceRoot(sha256, hashed([...model])));
  });

  it('rejects a value outside JSON with the canonical codec\'s typed error', () => {
    expect(() => buildStateTreeSync([['kv:a', { x: Number.NaN }]])).toThrow(SteleError);
  });
});

describe('buildStateTree on two threads (from dist/)', () => {
  const built = path.join(repoRoot, 'dist', 'src', 'state', 'build-parallel.js');

  async function load(): Promise<typeof import('../../src/state/build-parallel.js')> {
    if (!fs.existsSync(built)) throw new Error(`${built} is missing: run npm run build first`);
    return (await import(pathToFileURL(built).href)) as typeof import('../../src/state/build-parallel.js');
  }

  it('gives the same tree as the one-thread build, duplicates included, and it keeps working', async () => {
    const { buildStateTree } = await load();
    const entries = makeEntries(parallelEntriesMin + 5000);
    // Repeated keys on both sides of bit 0: each thread drops its own duplicates.
    for (let i = 0; i < 40; i++) entries.push([`account:${3 * i + 1}`, { balance: String(i), version: 2 }]);
    entries.push(['kv:0', 'override']);
    expect(new Set(entries.slice(-41).map(([k]) => stateKeyHash(k)[0]! >> 7))).toEqual(new Set([0, 1]));
    const parallel: StateTree = await buildStateTree(entries);
    const single = buildStateTreeSync(entries);
    expect(parallel.size).toBe(single.size);
    expect(parallel.root()).toEqual(single.root());
    expect(parallel.get(stateKeyHash('kv:0'))).toEqual(stateValueHash('override'));
    // Incremental work on the adopted shared arenas, growth included.
    for (const [k, v] of makeEntries(3000, 'more-')) {
      parallel.set(stateKeyHash(k), stateValueHash(v));
      single.set(stateKeyHash(k), stateValueHash(v));
    }
    for (let i = 0; i < 2000; i += 7) {
      expect(parallel.delete(stateKeyHash(`account:${i + 1}`))).toBe(single.delete(stateKeyHash(`account:${i + 1}`)));
    }
    expect(parallel.root()).toEqual(single.root());
    const key = stateKeyHash('kv:3');
    expect(parallel.prove(key)).toEqual(single.prove(key));
  });

  it('builds a state whose keys all share bit 0 (one side only) on the main thread, correctly', async () => {
    const { buildStateTree } = await load();
    const entries: [string, unknown][] = [];
    for (let i = 0; entries.length < parallelEntriesMin + 100; i++) {
      const key = `kv:one-side-${i}`;
      if (stateKeyHash(key)[0]! < 0x80) entries.push([key, i]);
    }
    expect((await buildStateTree(entries)).root()).toEqual(buildStateTreeSync(entries).root());
  });

  it('rejects a bad value with the typed error and does not hang on its worker', async () => {
    const { buildStateTree } = await load();
    const entries = makeEntries(parallelEntriesMin + 10);
    entries[parallelEntriesMin] = ['kv:bad', { x: Number.POSITIVE_INFINITY }];
    await expect(buildStateTree(entries)).rejects.toMatchObject({ code: 'STELE_E_JSON_NUMBER' });
    // A small input or threads: 1 never starts a worker.
    expect((await buildStateTree(makeEntries(10))).root()).toEqual(buildStateTreeSync(makeEntries(10)).root());
    expect((await buildStateTree(makeEntries(10), { threads: 1 })).size).toBe(10);
  });
});
