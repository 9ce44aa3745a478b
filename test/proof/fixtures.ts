/**
 * Data directories for the proof bundle tests, written by the real engine: a signed log
 * (checkpoints every 4 events, signed with a fresh key), an unsigned one, and helpers to
 * rewrite a line (re-chaining the rest) the way an attacker with the files could.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { canonicalize } from '../../src/canonical/json.js';
import type { PublicKey, SigningKey } from '../../src/crypto/keys.js';
import { loadPublicKey, loadSigningKey, writeKeyPair } from '../../src/crypto/keys.js';
import { initDataDir } from '../../src/store/data-dir.js';
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

export interface Line {
  seq: number;
  type: string;
  prev: string;
  data: Record<string, unknown>;
}

export function readLines(data: string): Line[] {
  return fs
    .readFileSync(path.join(data, 'events.ndjson'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

/** Seqs of the checkpoint lines. */
export function checkpointSeqs(data: string): number[] {
  return readLines(data)
    .filter((l) => l.type === 'stele.checkpoint')
    .map((l) => l.seq);
}

/** Rewrites the event at `seq` and re-chains every line after it (an attacker holding the files). */
export function rewrite(data: string, seq: number, change: (event: Line) => void): void {
  const file = path.join(data, 'events.ndjson');
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  let prev = seq === 0 ? '0'.repeat(64) : crypto.createHash('sha256').update(lines[seq - 1]!).digest('hex');
  for (let i = seq; i < lines.length; i++) {
    const event = JSON.parse(lines[i]!) as Line;
    event.prev = prev;
    if (i === seq) change(event);
    lines[i] = canonicalize(event);
    prev = crypto.createHash('sha256').update(lines[i]!).digest('hex');
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

/** A temp root for a test file, removed by the caller's afterAll. */
export function proofTempRoot(): string {
  return tempDir('stele-proof-');
}
