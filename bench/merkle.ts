/**
 * Benchmark: the RFC 6962 log tree (src/merkle/log-tree.ts).
 *
 * - `merkle/append`: leaves/s of `LogTreeFrontier.append` with the root recomputed after every
 *   append (what a writer pays when it reports the root per event), and of `append` alone, beside
 *   the bare hashing every append needs in the same run: one SHA-256 of 33 bytes (the leaf) and
 *   one of 65 bytes (the one node an append completes on average), node:crypto, buffers reused.
 *   The baseline is a lower bound, not a peer: it allocates nothing and builds no tree.
 * - `merkle/inclusion-1M`: inclusion proofs/s generated from a MemoryHashStore of 1,000,000
 *   leaves and verified, with node:crypto (the server) and @noble/hashes (the offline checker
 *   and the browser), beside the bare hashing a verification needs: ⌈log2 n⌉ = 20 SHA-256 of
 *   65 bytes.
 *
 * Run standalone: `npx tsc -p tsconfig.build.json && node dist/bench/merkle.js`.
 */
import { pathToFileURL } from 'node:url';
import { sha256Portable } from '../src/hash/portable.js';
import type { Sha256 } from '../src/hash/sha256.js';
import { sha256 } from '../src/hash/sha256.js';
import { checkInclusion, hashLeaf, LogTreeFrontier, MemoryHashStore, proveInclusion, treeHash } from '../src/merkle/log-tree.js';
import { isQuick } from './environment.js';
import type { BenchResult } from './result.js';
import { rng } from '../src/workload/rng.js';

const appendScenario = 'merkle/append';
const proofScenario = 'merkle/inclusion-1M';
/** Leaves appended per round, starting from an empty tree: sizes 0…2^18, ~9 frontier hashes on average. */
const appendsPerRound = 262_144;
const proofTreeSize = 1_000_000;
const roundMs = isQuick() ? 150 : 300;
const rounds = isQuick() ? 2 : 5;

export const about = `The RFC 6962 log tree: leaves/s appended (with and without the root after every append) beside the bare SHA-256 work of an append, and inclusion proofs/s generated and checked on a ${proofTreeSize.toLocaleString('en-US')}-leaf tree beside the bare ${Math.ceil(Math.log2(proofTreeSize))} SHA-256 of a check; median of ${rounds} rounds.`;

/** 32-byte leaf inputs like event hashes, cycled so no single one stays hot. */
const leafInputs = Array.from({ length: 4096 }, (_, i) => sha256(new TextEncoder().encode(`event ${i}`)));


function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Leaves/s of appending `appendsPerRound` leaves to a fresh frontier. */
function measureAppend(withRoot: boolean): number {
  const frontier = new LogTreeFrontier(sha256);
  let sink = 0;
  const start = performance.now();
  for (let i = 0; i < appendsPerRound; i++) {
    sink += frontier.append(leafInputs[i % leafInputs.length]!).length;
    if (withRoot) sink += frontier.root()[0]!;
  }
  const ms = performance.now() - start;
  if (sink === 0) throw new Error('benchmark produced nothing');
  return (appendsPerRound * 1000) / ms;
}

/** Leaves/s of the bare hashing of an append: SHA-256 of 0x00‖leaf (33 B) and of 0x01‖l‖r (65 B). */
function measureBareHashing(): number {
  const leafBuf = new Uint8Array(33);
  const nodeBuf = new Uint8Array(65);
  nodeBuf[0] = 1;
  let sink = 0;
  const start = performance.now();
  for (let i = 0; i < appendsPerRound; i++) {
    leafBuf.set(leafInputs[i % leafInputs.length]!, 1);
    const leaf = sha256(leafBuf);
    nodeBuf.set(leaf, 33);
    sink += sha256(nodeBuf)[0]!;
  }
  const ms = performance.now() - start;
  if (sink === 0) throw new Error('benchmark produced nothing');
  return (appendsPerRound * 1000) / ms;
}

/** Operations/s of `op(i)` over about `roundMs`, in blocks of 256. */
function measureOps(op: (i: number) => number): number {
  let ops = 0;
  let sink = 0;
  const start = performance.now();
  let now = start;
  while (now - start < roundMs) {
    for (let i = 0; i < 256; i++) sink += op(ops + i);
    ops += 256;
    now = performance.now();
  }
  if (sink === 0) throw new Error('benchmark produced nothing');
  return (ops * 1000) / (now - start);
}

/** Builds the 1M-leaf tree once (node:crypto); both hash implementations then read it. */
function buildProofTree(): { store: MemoryHashStore; root: Uint8Array } {
  const frontier = new LogTreeFrontier(sha256);
  const store = new MemoryHashStore();
  for (let i = 0; i < proofTreeSize; i++) store.append(frontier.append(leafInputs[i % leafInputs.length]!));
  return { store, root: frontier.root() };
}

async function yieldToLoop(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Measures every contender in alternating rounds and returns the median of each. */
export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];

  // Appends. Warm-up first so all three reach their optimised tiers.
  measureAppend(true);
  measureAppend(false);
  measureBareHashing();
  const withRoot: number[] = [];
  const appendOnly: number[] = [];
  const bare: number[] = [];
  for (let r = 0; r < rounds; r++) {
    withRoot.push(measureAppend(true));
    appendOnly.push(measureAppend(false));
    bare.push(measureBareHashing());
    await yieldToLoop();
  }
  results.push(
    { scenario: appendScenario, name: 'stele append + root', value: Math.round(median(withRoot)), unit: 'leaves/s' },
    { scenario: appendScenario, name: 'stele append', value: Math.round(median(appendOnly)), unit: 'leaves/s' },
    { scenario: appendScenario, name: '2 × SHA-256 (33 B, 65 B) node:crypto', value: Math.round(median(bare)), unit: 'leaves/s', baseline: true },
  );

  // Inclusion proofs on a 1M-leaf tree, at pseudo-random indexes.
  const { store, root } = buildProofTree();
  const random = rng(6962);
  const indexes = Array.from({ length: 4096 }, () => Math.floor(random() * proofTreeSize));
  const leafHashes = indexes.map((i) => hashLeaf(sha256, leafInputs[i % leafInputs.length]!));
  const proofs = indexes.map((i) => proveInclusion(sha256, i, proofTreeSize, store));
  if (treeHash(sha256, proofTreeSize, store).some((b, i) => b !== root[i])) throw new Error('treeHash disagrees with the frontier');
  const nodeBuf = new Uint8Array(65);
  nodeBuf[0] = 1;
  for (const [label, sha] of [
    ['node:crypto', sha256],
    ['@noble/hashes', sha256Portable],
  ] as [string, Sha256][]) {
    const k = indexes.length;
    const prove = (i: number): number => proveInclusion(sha, indexes[i % k]!, proofTreeSize, store).length;
    const check = (i: number): number => (checkInclusion(sha, indexes[i % k]!, proofTreeSize, leafHashes[i % k]!, proofs[i % k]!, root) ? 1 : 0);
    const bareVerify = (i: number): number => {
      let h = leafHashes[i % k]!;
      for (let level = 0; level < 20; level++) {
        nodeBuf.set(h, 1);
        nodeBuf.set(h, 33);
        h = sha(nodeBuf);
      }
      return h[0]! + 1;
    };
    if (check(0) !== 1) throw new Error('a generated proof does not verify');
    measureOps(prove);
    measureOps(check);
    measureOps(bareVerify);
    const proveOps: number[] = [];
    const checkOps: number[] = [];
    const bareOps: number[] = [];
    for (let r = 0; r < rounds; r++) {
      proveOps.push(measureOps(prove));
      checkOps.push(measureOps(check));
      bareOps.push(measureOps(bareVerify));
      await yieldToLoop();
    }
    results.push(
      { scenario: proofScenario, name: `stele proveInclusion, ${label}`, value: Math.round(median(proveOps)), unit: 'proofs/s' },
      { scenario: proofScenario, name: `stele checkInclusion, ${label}`, value: Math.round(median(checkOps)), unit: 'proofs/s' },
      { scenario: proofScenario, name: `20 × SHA-256 (65 B), ${label}`, value: Math.round(median(bareOps)), unit: 'proofs/s', baseline: true },
    );
  }
  return results;
}

async function main(): Promise<void> {
  const results = await run();
  const width = Math.max(...results.map((r) => r.name.length));
  let scenario = '';
  for (const r of results) {
    if (r.scenario !== scenario) {
      scenario = r.scenario;
      console.log(`${scenario} (median of ${rounds} rounds)`);
    }
    const value = r.value.toLocaleString('en-US').padStart(11);
    console.log(`  ${r.name.padEnd(width)}  ${value} ${r.unit}${r.baseline === true ? '  (baseline)' : ''}`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
