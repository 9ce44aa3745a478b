/**
 * Data directories for the proof bundle tests, written by the real engine: a signed log
 * (checkpoints every 4 events, signed with a fresh key), an unsigned one, and helpers to
 * rewrite a line (re-chaining the rest) the way an attacker with the files could.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PublicKey, SigningKey } from '../../src/crypto/keys.js';
import { loadPublicKey, loadSigningKey, writeKeyPair } from '../../src/crypto/keys.js';
import { initDataDir } from '../../src/store/data-dir.js';
import { readLogLines } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import type { EngineOptions } from '../../src/runtime/engine.js';
import { tempDir } from '../helpers.js';

export interface TestKey {
  file: string;
  pubFile: string;
  signing: SigningKey;
  pub: PublicKey;
  pubHex: string;
}

/** A fresh key pair in `dir` (stele keygen's files). */
export function newKey(dir: string, name: string): TestKey {
  const file = path.join(dir, name);
  writeKeyPair(file);
  const pubHex = (JSON.parse(fs.readFileSync(`${file}.pub`, 'utf8')) as { publicKey: string }).publicKey;
  return { file, pubFile: `${file}.pub`, signing: loadSigningKey(file), pub: loadPublicKey(`${file}.pub`), pubHex };
}

/** A fresh data directory under `root`. */
export function freshDataDir(root: string, name: string): string {
  const data = path.join(root, name);
  initDataDir(data);
  return data;
}

/**
 * The workload of the tests: kv puts (kv:a changes value, kv:gone is deleted), two ledger
 * accounts with a transfer. 12 commands; with checkpointEvery 4, checkpoints land between.
 */
export async function writeWorkload(data: string, options: EngineOptions = {}): Promise<void> {
  const engine = await Engine.open(data, { checkpointEvery: 4, ...options });
  try {
    await engine.run({ cmd: 'kv.put', data: { key: 'a', value: 1 } });
    await engine.run({ cmd: 'kv.put', data: { key: 'gone', value: 'soon' } });
    await engine.run({ cmd: 'ledger.open', data: { account: 'alice' } });
    await engine.run({ cmd: 'ledger.open', data: { account: 'bob' } });
    await engine.run({ cmd: 'ledger.deposit', data: { id: 'd1', account: 'alice', amount: '1000' } });
    await engine.run({ cmd: 'kv.put', data: { key: 'a', value: { n: 2, text: 'two "quoted" \\ é ✓' } } });
    await engine.run({ cmd: 'kv.delete', data: { key: 'gone' } });
    await engine.run({ cmd: 'ledger.transfer', data: { id: 't1', from: 'alice', to: 'bob', amount: '250', memo: 'rent' } });
    for (let i = 0; i < 4; i++) await engine.run({ cmd: 'kv.put', data: { key: `k${i}`, value: i } });
  } finally {
    await engine.close();
  }
}

/** Seqs of the checkpoint lines. */
export function checkpointSeqs(data: string): number[] {
  return readLogLines(data)
    .filter((l) => l.type === 'stele.checkpoint')
    .map((l) => l.seq);
}

/** A temp root for a test file, removed by the caller's afterAll. */
export function proofTempRoot(): string {
  return tempDir('stele-proof-');
}

export { readLogLines as readLines, rechainLog as rewrite } from '../helpers.js';
export type { LogLine as Line } from '../helpers.js';
