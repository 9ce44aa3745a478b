/**
 * Benchmark: proof bundles (src/proof/bundle.ts, src/proof/build.ts; issue #5).
 *
 * A scratch data directory is written by the engine with a signing key: 20,000 kv.put
 * commands (4,000 in quick mode), a signed checkpoint every 1,000 events.
 *
 * - `proofs/generate`: event bundles/s built from the data directory's files
 *   (`DataDirBundles.eventBundle` at pseudo-random seqs: the line, the newest signed
 *   checkpoint read back from the log, the inclusion path into its tree from the tree file,
 *   and the verification every bundle gets before it is handed out), beside the Merkle part
 *   alone (the inclusion path from the same tree file).
 * - `proofs/verify`: bundles/s checked by `verifyBundle` from their file bytes: the Merkle
 *   check alone (the inclusion path, parsed); whole event bundles with the
 *   signature cache (a batch against one checkpoint: one Ed25519 verification in all) and
 *   with a fresh Ed25519 verification each, on node:crypto (the server, `stele`'s own
 *   checks) and on @noble/hashes + @noble/curves (`stele check-proof`, the browser); state
 *   bundles with the cache. Baseline: SHA-256 calls/s of 65 bytes, the unit of Merkle work.
 *
 * Target: ≥ 20,000 event bundles verified/s (whole bundles, signature cache, node:crypto).
 *
 * Run standalone: `npx tsc -p tsconfig.build.json && node dist/bench/proofs.js`.
 */
import { pathToFileURL } from 'node:url';
import { ed25519VerifyPortable } from '../src/crypto/ed25519-portable.js';
import type { Ed25519Verify } from '../src/crypto/checkpoint-sig.js';
import { ed25519VerifyNode, loadSigningKey, writeKeyPair } from '../src/crypto/keys.js';
import { fromHex } from '../src/hash/hex.js';
import { sha256Portable } from '../src/hash/portable.js';
import type { Sha256 } from '../src/hash/sha256.js';
import { sha256 } from '../src/hash/sha256.js';
import { openTreeReadOnly } from '../src/log/read.js';
import { checkInclusion, hashLeaf, proveInclusion } from '../src/merkle/log-tree.js';
import { verifyBundle } from '../src/proof/bundle.js';
import { DataDirBundles } from '../src/proof/build.js';
import { Engine } from '../src/runtime/engine.js';
import { dataPaths, initDataDir } from '../src/store/data-dir.js';
import { isQuick, makeScratch, removeScratch, yieldToLoop } from './environment.js';
import { printResults } from './report.js';
import type { BenchResult, BenchTarget } from './result.js';
import { findResult } from './result.js';
import { median } from './stats.js';
import { rng } from '../src/workload/rng.js';

const quick = isQuick();
const generateScenario = 'proofs/generate';
const verifyScenario = 'proofs/verify';
const commands = quick ? 4000 : 20_000;
const checkpointEvery = 1000;
/** Distinct bundles cycled through by the verification rounds. */
const bundleCount = 512;
const rounds = quick ? 2 : 5;
const roundMs = quick ? 200 : 600;
const targetVerifiedPerS = 20_000;

const names = {
  generate: 'stele DataDirBundles.eventBundle (verified before it is returned)',
  generateMerkle: 'inclusion path from the tree file',
  merkle: 'Merkle check only (the inclusion path), node:crypto',
  cachedNode: 'verifyBundle, event, signature cache, node:crypto',
  freshNode: 'verifyBundle, event, fresh Ed25519 each, node:crypto',
  cachedNoble: 'verifyBundle, event, signature cache, @noble',
  freshNoble: 'verifyBundle, event, fresh Ed25519 each, @noble',
  stateNode: 'verifyBundle, state, signature cache, node:crypto',
  shaNode: 'SHA-256 (65 B), node:crypto',
  shaNoble: 'SHA-256 (65 B), @noble/hashes',
} as const;

export const about = `Proof bundles from a ${commands.toLocaleString('en-US')}-command signed log (a checkpoint every ${checkpointEvery.toLocaleString('en-US')} events): event bundles/s built from the data directory's files, and bundles/s verified from their bytes (Merkle checks only; whole bundles with the signature cache and with a fresh Ed25519 verification each, on node:crypto and on @noble), beside SHA-256 calls/s of 65 bytes; median of ${rounds} rounds.`;


/** Operations/s of `op(i)` over about `roundMs` (or at least `minOps` operations). */
async function measureOps(op: (i: number) => number | Promise<number>, minOps = 64): Promise<number> {
  let ops = 0;
  let sink = 0;
  const start = performance.now();
  let now = start;
  while (now - start < roundMs || ops < minOps) {
    for (let i = 0; i < 32; i++) sink += await op(ops + i);
    ops += 32;
    now = performance.now();
  }
  if (sink === 0) throw new Error('benchmark produced nothing');
  return (ops * 1000) / (now - start);
}

async function writeLog(dir: string, keyFile: string): Promise<void> {
  const engine = await Engine.open(dir, { signingKey: loadSigningKey(keyFile), checkpointEvery });
  try {
    // Submitted in chunks so group commit batches them (one fsync per batch).
    const chunk = 500;
    for (let i = 0; i < commands; i += chunk) {
      const runs: Promise<unknown>[] = [];
      for (let j = i; j < Math.min(commands, i + chunk); j++) runs.push(engine.run({ cmd: 'kv.put', data: { key: `key-${j % 5000}`, value: { n: j, text: `value ${j}` } } }));
      await Promise.all(runs);
    }
  } finally {
    await engine.close();
  }
}

export async function run(): Promise<BenchResult[]> {
  const scratch = makeScratch('proofs');
  try {
    const keyFile = `${scratch}/writer.key`;
    writeKeyPair(keyFile);
    const dir = `${scratch}/data`;
    initDataDir(dir);
    await writeLog(dir, keyFile);
    return await measure(dir);
  } finally {
    removeScratch(scratch);
  }
}

async function measure(dir: string): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const bundles = await DataDirBundles.open(dir);
  const tree = openTreeReadOnly(dataPaths(dir));
  if (tree === undefined) throw new Error('the data directory has no tree file');
  try {
    const size = bundles.size;
    const random = rng(5);
    const seqs = Array.from({ length: bundleCount }, () => Math.floor(random() * (size - checkpointEvery)));
    const events = await Promise.all(seqs.map(async (seq) => bundles.eventBundle(seq)));
    if (events.some((b) => !b.anchored)) throw new Error('a bundle is not anchored');
    const eventBytes = events.map((b) => Buffer.from(b.text));
    const parsed = events.map((b) => b.bundle);
    const stateBytes = Array.from({ length: 64 }, (_, i) => Buffer.from(bundles.stateBundle(`kv:key-${(i * 77) % 5000}`).text));
    const k = bundleCount;

    // Generation.
    const generate = async (i: number): Promise<number> => (await bundles.eventBundle(seqs[i % k]!)).text.length;
    const generateMerkle = (i: number): number => {
      const b = parsed[i % k]!;
      return proveInclusion(sha256, b.seq, b.checkpoint!.size, tree).length + 1;
    };
    // Verification contenders.
    const merkle = events.map((b) => {
      const e = b.bundle;
      return { seq: e.seq, size: e.checkpoint!.size, leaf: hashLeaf(sha256, fromHex(e.eventHash)!), root: fromHex(e.checkpoint!.logRoot)!, path: e.path.map((h) => fromHex(h)!) };
    });
    const merkleOnly = (i: number): number => {
      const m = merkle[i % k]!;
      return checkInclusion(sha256, m.seq, m.size, m.leaf, m.path, m.root) ? 1 : 0;
    };
    const verifier = (sha: Sha256, ed25519Verify: Ed25519Verify, signatureCache: boolean, texts: Buffer[]) => (i: number): number => (verifyBundle(texts[i % texts.length]!, { sha256: sha, ed25519Verify, signatureCache }).valid ? 1 : 0);
    const nodeBuf = new Uint8Array(65).fill(7);
    const shaCalls = (sha: Sha256) => (): number => sha(nodeBuf)[0]! + 1;

    const contenders: [string, string, (i: number) => number | Promise<number>, string, boolean][] = [
      [generateScenario, names.generate, generate, 'bundles/s', false],
      [generateScenario, names.generateMerkle, generateMerkle, 'bundles/s', true],
      [verifyScenario, names.merkle, merkleOnly, 'bundles/s', false],
      [verifyScenario, names.cachedNode, verifier(sha256, ed25519VerifyNode, true, eventBytes), 'bundles/s', false],
      [verifyScenario, names.freshNode, verifier(sha256, ed25519VerifyNode, false, eventBytes), 'bundles/s', false],
      [verifyScenario, names.cachedNoble, verifier(sha256Portable, ed25519VerifyPortable, true, eventBytes), 'bundles/s', false],
      [verifyScenario, names.freshNoble, verifier(sha256Portable, ed25519VerifyPortable, false, eventBytes), 'bundles/s', false],
      [verifyScenario, names.stateNode, verifier(sha256, ed25519VerifyNode, true, stateBytes), 'bundles/s', false],
      [verifyScenario, names.shaNode, shaCalls(sha256), 'calls/s', true],
      [verifyScenario, names.shaNoble, shaCalls(sha256Portable), 'calls/s', true],
    ];
    for (const [, name, op] of contenders) if ((await op(0)) === 0) throw new Error(`${name} failed on a real bundle`);
    // Warm-up, then alternating rounds so that load on the machine spreads over all of them.
    for (const [, , op] of contenders) await measureOps(op);
    const samples = contenders.map((): number[] => []);
    for (let r = 0; r < rounds; r++) {
      for (const [i, [, , op]] of contenders.entries()) samples[i]!.push(await measureOps(op));
      await yieldToLoop();
    }
    const meanHashes = Math.round(merkle.reduce((sum, m) => sum + m.path.length, 0) / k);
    for (const [i, [scenario, name, , unit, baseline]] of contenders.entries()) {
      const value = Math.round(median(samples[i]!));
      const note =
        name === names.generate
          ? `at ${k} pseudo-random seqs of ${size.toLocaleString('en-US')} events, one DataDirBundles open; includes finding the newest signed checkpoint in the log and verifying the bundle (node:crypto, cached signature)`
          : name === names.merkle
            ? `${meanHashes} path hashes per bundle on average, already parsed`
            : name.includes('fresh') ? 'a new Ed25519 verification per bundle, as for bundles against many different checkpoints' : undefined;
      results.push({ scenario, name, value, unit, ...(baseline ? { baseline: true } : {}), ...(note === undefined ? {} : { note }) });
    }
  } finally {
    tree.close();
    bundles.close();
  }
  return results;
}

export function targets(results: readonly BenchResult[]): BenchTarget[] {
  const rate = findResult(results, verifyScenario, names.cachedNode, 'bundles/s');
  if (rate === undefined) return [];
  return [{ scenario: verifyScenario, target: `≥ ${targetVerifiedPerS.toLocaleString('en-US')} proofs verified/s (whole event bundles, signature cache, node:crypto)`, measured: `${rate.toLocaleString('en-US')} bundles/s`, met: rate >= targetVerifiedPerS }];
}

async function main(): Promise<void> {
  const results = await run();
  printResults(results, targets(results));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
