/**
 * Benchmark: the authenticated state tree (src/state/smt.ts, DESIGN.md §3).
 *
 * - `state/root-1M`: the state root from scratch of 1,000,000 keys (100,000 in quick mode),
 *   timed from the key strings and JSON values (so keyHash = SHA-256(key) and valueHash =
 *   SHA-256(JCS(value)) are included) to the root: `buildStateTree` on two threads, the same
 *   on one thread (`buildStateTreeSync`), and the library path a caller with its own hashes
 *   takes (`stateKeyHash` / `stateValueHash` per entry, then `StateTree.build`). Keys look like
 *   the modules' (`kv:key-0000001`, `account:acct-…`), values are small JSON objects. The
 *   baseline is the naive reference recursion of test/state/reference.ts (root(S, d) by array
 *   filtering, straight from DESIGN.md §3), on fewer keys because it is slow; its note says
 *   how many. All roots of the same keys must agree, or the run fails.
 * - `state/updates-100k`: random updates (a new valueHash for an existing key) to a 100,000-key
 *   tree, with `root()` every 1,000 updates (a checkpoint interval) and after every update,
 *   valueHashes precomputed (tree cost only). Baselines: rebuilding the whole tree at each
 *   checkpoint (`StateTree.build`, what a non-incremental state would pay), and, for a root
 *   per update, the bare hashing of one path (SHA-256 of 65 B × the average proof depth + 1).
 * - `state/memory-1M`: bytes per key of the tree (its arrays, `StateTree.bytes`, and the heap
 *   growth measured around a one-thread build with forced GCs; keys and values excluded), and
 *   the peak RSS of fresh child processes (this file with `--child-memory 1|2`) each holding
 *   the 1M entries as JS objects and one tree built from them on 1 or 2 threads.
 *
 * Targets: root of 1M keys ≤ 1.5 s on this 2-core machine; peak RSS of a 1M-key state with its
 * values ≤ 1 GB (10^9 bytes); tree bytes per key well under 200.
 *
 * Run standalone: `npx tsc -p tsconfig.build.json && node dist/bench/state.js`.
 */
import { fork } from 'node:child_process';
import { hash } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { sha256 } from '../src/hash/sha256.js';
import { buildStateTree, buildStateTreeSync, parallelEntriesMin } from '../src/state/build-parallel.js';
import { StateTree, stateKeyHash, stateValueHash } from '../src/state/smt.js';
import { referenceRoot } from '../test/state/reference.js';
import { isQuick, yieldToLoop } from './environment.js';
import { printResults } from './report.js';
import type { BenchResult, BenchTarget } from './result.js';
import { findResult } from './result.js';
import { median } from './stats.js';
import { rng } from '../src/workload/rng.js';

const quick = isQuick();
const rootScenario = 'state/root-1M';
const updateScenario = 'state/updates-100k';
const memoryScenario = 'state/memory-1M';
const rootKeys = quick ? 100_000 : 1_000_000;
const referenceKeys = quick ? 20_000 : 100_000;
const updateTreeKeys = 100_000;
const checkpointUpdates = 1000;
const rounds = quick ? 1 : 3;
const updateRoundMs = quick ? 300 : 1000;
const targetRootS = 1.5;
const targetRssBytes = 1e9;
const targetBytesPerKey = 200;

export const about =
  `The state tree of DESIGN.md §3: the root of ${rootKeys.toLocaleString('en-US')} keys from scratch (key strings and JSON values in, keyHash and valueHash included; median of ${rounds}) beside the naive reference recursion on ${referenceKeys.toLocaleString('en-US')} keys; ` +
  `random updates/s to a ${updateTreeKeys.toLocaleString('en-US')}-key tree with a root every ${checkpointUpdates.toLocaleString('en-US')} updates and after every update; bytes per key and peak RSS.`;

const names = {
  parallel: 'stele buildStateTree, 2 threads',
  sync: 'stele buildStateTreeSync, 1 thread',
  library: 'stateKeyHash/stateValueHash + StateTree.build',
  reference: 'naive reference recursion (test/state/reference.ts)',
  lazy: 'stele set, root() every 1,000',
  eager: 'stele set, root() after each',
  rebuild: 'StateTree.build of all keys per checkpoint',
  barePath: 'SHA-256 (65 B) × (average depth + 1)',
  treeArrays: 'stele StateTree arrays',
  treeHeap: 'stele StateTree, measured heap growth',
  rssSingle: `${rootKeys.toLocaleString('en-US')}-key state with values, built on 1 thread`,
  rssParallel: `${rootKeys.toLocaleString('en-US')}-key state with values, built on 2 threads`,
} as const;

/** A state like the modules write: kv entries and ledger accounts, small JSON values. */
function makeEntries(count: number): [string, unknown][] {
  const out: [string, unknown][] = new Array<[string, unknown]>(count);
  for (let i = 0; i < count; i++) {
    out[i] =
      i % 2 === 0
        ? [`kv:key-${String(i).padStart(7, '0')}`, { v: `value-${i}`, n: i }]
        : [`account:acct-${String(i).padStart(7, '0')}`, { balance: String(i * 37), version: 1 + (i % 5) }];
  }
  return out;
}


/** The V8 collector, exposed at run time (bench/run.ts forks scenarios without --expose-gc). */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

function heapBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

async function measureRoot(entries: [string, unknown][]): Promise<{ results: BenchResult[]; root: string }> {
  const timings: Record<'parallel' | 'sync' | 'library', number[]> = { parallel: [], sync: [], library: [] };
  const roots = new Set<string>();
  const contenders: [keyof typeof timings, () => Promise<StateTree> | StateTree][] = [
    ['parallel', () => buildStateTree(entries)],
    ['sync', () => buildStateTreeSync(entries)],
    ['library', () => StateTree.build(entries.map(([k, v]) => [stateKeyHash(k), stateValueHash(v)] as const))],
  ];
  // Warm-up on a tenth of the keys, so no contender is timed with a cold JIT or worker code.
  const warm = entries.slice(0, Math.max(parallelEntriesMin, entries.length / 10));
  await buildStateTree(warm);
  buildStateTreeSync(warm);
  StateTree.build(warm.map(([k, v]) => [stateKeyHash(k), stateValueHash(v)] as const));
  for (let r = 0; r < rounds; r++) {
    for (const [name, build] of contenders) {
      const start = performance.now();
      const tree = await build();
      const root = tree.root();
      timings[name].push((performance.now() - start) / 1000);
      roots.add(hex(root));
      await yieldToLoop();
    }
  }
  // The reference on fewer keys: it filters arrays at every level and allocates per hash.
  const subset = entries.slice(0, referenceKeys);
  const start = performance.now();
  const refRoot = referenceRoot(
    sha256,
    subset.map(([k, v]) => [stateKeyHash(k), stateValueHash(v)] as const),
  );
  const refS = (performance.now() - start) / 1000;
  if (hex(refRoot) !== hex(StateTree.build(subset.map(([k, v]) => [stateKeyHash(k), stateValueHash(v)] as const)).root())) {
    throw new Error('the reference recursion and StateTree.build disagree');
  }
  if (roots.size !== 1) throw new Error(`the builders disagree on the root: ${[...roots].join(', ')}`);
  const results: BenchResult[] = [];
  for (const name of ['parallel', 'sync', 'library'] as const) {
    const s = median(timings[name]);
    results.push(
      { scenario: rootScenario, name: names[name], value: Number(s.toFixed(3)), unit: 's' },
      { scenario: rootScenario, name: names[name], value: Math.round(entries.length / s), unit: 'keys/s' },
    );
  }
  const refNote = `the reference runs on the first ${referenceKeys.toLocaleString('en-US')} keys only (it is O(n·depth) with an array per level); its seconds are scaled ×${entries.length / referenceKeys} to ${entries.length.toLocaleString('en-US')} keys, which flatters it (depth grows with n)`;
  results.push(
    { scenario: rootScenario, name: names.reference, value: Number(((refS * entries.length) / referenceKeys).toFixed(3)), unit: 's', baseline: true, note: refNote },
    { scenario: rootScenario, name: names.reference, value: Math.round(referenceKeys / refS), unit: 'keys/s', baseline: true, note: refNote },
  );
  return { results, root: [...roots][0]! };
}

/** Updates/s of `set` on random existing keys, with a root every `every` updates, for about updateRoundMs. */
function measureUpdates(tree: StateTree, keyHashes: Uint8Array[], valueHashes: Uint8Array[], every: number, seed: number): number {
  const random = rng(seed);
  let updates = 0;
  let sink = 0;
  const start = performance.now();
  let now = start;
  while (now - start < updateRoundMs) {
    for (let i = 0; i < every; i++) {
      tree.set(keyHashes[Math.floor(random() * keyHashes.length)]!, valueHashes[(updates + i) % valueHashes.length]!);
    }
    sink += tree.root()[0]!;
    updates += every;
    now = performance.now();
  }
  if (sink < 0) throw new Error('unreachable');
  return (updates * 1000) / (now - start);
}

async function measureUpdatesAll(): Promise<BenchResult[]> {
  const entries = makeEntries(updateTreeKeys);
  const pairs = entries.map(([k, v]) => [stateKeyHash(k), stateValueHash(v)] as const);
  const keyHashes = pairs.map(([k]) => k);
  const valueHashes = Array.from({ length: 4096 }, (_, i) => stateValueHash({ v: `update-${i}` }));
  const tree = StateTree.build(pairs);
  // Average proof depth of this tree: the path a root-per-update rehashes.
  let depthSum = 0;
  for (let i = 0; i < 2000; i++) depthSum += tree.prove(keyHashes[i * 37]!).siblings.length;
  const depth = depthSum / 2000;
  const lazy: number[] = [];
  const eager: number[] = [];
  const rebuild: number[] = [];
  const bare: number[] = [];
  const nodeInput = new Uint8Array(65);
  measureUpdates(tree, keyHashes, valueHashes, checkpointUpdates, 1);
  for (let r = 0; r < rounds; r++) {
    lazy.push(measureUpdates(tree, keyHashes, valueHashes, checkpointUpdates, 100 + r));
    eager.push(measureUpdates(tree, keyHashes, valueHashes, 1, 200 + r));
    const start = performance.now();
    StateTree.build(pairs).root();
    rebuild.push((checkpointUpdates * 1000) / (performance.now() - start));
    const hashes = Math.round(depth + 1) * 20_000;
    const t = performance.now();
    let sink = 0;
    for (let i = 0; i < hashes; i++) {
      nodeInput[1] = i & 255;
      sink += hash('sha256', nodeInput, 'binary').length;
    }
    if (sink === 0) throw new Error('unreachable');
    bare.push((20_000 * 1000) / (performance.now() - t));
    await yieldToLoop();
  }
  const depthNote = `average proof depth of the 100,000-key tree: ${depth.toFixed(1)} levels (zero-sibling levels included)`;
  return [
    { scenario: updateScenario, name: names.lazy, value: Math.round(median(lazy)), unit: 'updates/s' },
    { scenario: updateScenario, name: names.rebuild, value: Math.round(median(rebuild)), unit: 'updates/s', baseline: true, note: 'the whole tree rebuilt from its 100,000 (keyHash, valueHash) pairs at each checkpoint of 1,000 updates' },
    { scenario: updateScenario, name: names.eager, value: Math.round(median(eager)), unit: 'updates/s', note: depthNote },
    { scenario: updateScenario, name: names.barePath, value: Math.round(median(bare)), unit: 'updates/s', baseline: true, note: depthNote },
  ];
}

interface ChildReport {
  maxRssBytes: number;
  bytesPerKey: number;
  root: string;
  size: number;
}

/**
 * Child mode (`--child-memory 1|2`): a fresh process that holds only the entries (as JS
 * objects) and one tree built from them on 1 or 2 threads, and reports its peak RSS and the
 * heap + ArrayBuffer growth around the build (forced GCs before and after). The growth is
 * meaningful for the 1-thread build only: memoryUsage() does not count the
 * SharedArrayBuffers the 2-thread build allocates.
 */
async function memoryChild(threads: 1 | 2): Promise<void> {
  const gc = collector();
  const entries = makeEntries(rootKeys);
  gc();
  const before = heapBytes();
  const tree = threads === 1 ? buildStateTreeSync(entries) : await buildStateTree(entries);
  gc();
  const report: ChildReport = { maxRssBytes: process.resourceUsage().maxRSS * 1024, bytesPerKey: (heapBytes() - before) / rootKeys, root: hex(tree.root()), size: tree.size };
  process.send!(report);
}

function runMemoryChild(threads: 1 | 2): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child-memory', String(threads)], { stdio: 'inherit' });
    let reply: ChildReport | undefined;
    child.on('message', (m) => {
      reply = m as ChildReport;
    });
    child.on('exit', (code) => (reply !== undefined && code === 0 ? resolve(reply) : reject(new Error(`the memory child exited with ${code}`))));
  });
}

export async function run(): Promise<BenchResult[]> {
  const entries = makeEntries(rootKeys);
  const { results, root } = await measureRoot(entries);
  const tree = buildStateTreeSync(entries);
  const single = await runMemoryChild(1);
  const parallel = await runMemoryChild(2);
  for (const child of [single, parallel]) if (child.root !== root || child.size !== rootKeys) throw new Error('a memory child built another state');
  const memoryNote = 'the key strings and JSON values are not counted';
  const rssNote = `a fresh process holding the ${rootKeys.toLocaleString('en-US')} entries as JS objects and one tree, transient build buffers included`;
  results.push(
    { scenario: memoryScenario, name: names.treeArrays, value: Math.round(tree.bytes / rootKeys), unit: 'B/key', note: `StateTree.bytes: the tree's typed arrays; ${memoryNote}` },
    { scenario: memoryScenario, name: names.treeHeap, value: Math.round(single.bytesPerKey), unit: 'B/key', note: `heap + ArrayBuffer growth around buildStateTreeSync in a fresh process, forced GCs; ${memoryNote}` },
    { scenario: memoryScenario, name: names.rssSingle, value: Math.round(single.maxRssBytes / 1e6), unit: 'MB peak RSS', note: rssNote },
    { scenario: memoryScenario, name: names.rssParallel, value: Math.round(parallel.maxRssBytes / 1e6), unit: 'MB peak RSS', note: rssNote },
  );
  results.push(...(await measureUpdatesAll()));
  return results;
}

export function targets(results: readonly BenchResult[]): BenchTarget[] {
  const out: BenchTarget[] = [];
  const s = findResult(results, rootScenario, names.parallel, 's');
  const rate = findResult(results, rootScenario, names.parallel, 'keys/s');
  if (s !== undefined && rate !== undefined) {
    const target = `state root of 1,000,000 keys from scratch (keyHash and valueHash included) ≤ ${targetRootS} s`;
    const measured = rootKeys === 1_000_000 ? `${s} s` : `${s} s for ${rootKeys.toLocaleString('en-US')} keys (${rate.toLocaleString('en-US')} keys/s)`;
    out.push({ scenario: rootScenario, target, measured, met: rate >= 1_000_000 / targetRootS });
  }
  const bytes = findResult(results, memoryScenario, names.treeHeap, 'B/key');
  if (bytes !== undefined) out.push({ scenario: memoryScenario, target: `tree overhead < ${targetBytesPerKey} B/key`, measured: `${bytes} B/key`, met: bytes < targetBytesPerKey });
  const rss = Math.max(findResult(results, memoryScenario, names.rssSingle, 'MB peak RSS') ?? 0, findResult(results, memoryScenario, names.rssParallel, 'MB peak RSS') ?? 0);
  if (rss > 0) out.push({ scenario: memoryScenario, target: `peak RSS of a ${rootKeys.toLocaleString('en-US')}-key state with values ≤ 1 GB`, measured: `${rss} MB (the larger of the 1- and 2-thread builds)`, met: rss * 1e6 <= targetRssBytes });
  return out;
}

async function main(): Promise<void> {
  const child = process.argv.indexOf('--child-memory');
  if (child !== -1) {
    await memoryChild(process.argv[child + 1] === '1' ? 1 : 2);
    return;
  }
  const results = await run();
  printResults(results, targets(results));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
