/**
 * Building proof bundles from data directories (src/proof/build.ts): which checkpoint
 * anchors a bundle (the newest signed by a known key in range), positions for state bundles,
 * logs whose signing stopped, pinned keys, the tree file missing or damaged, a log whose
 * signed checkpoint does not match it, the errors, and that building writes nothing.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519VerifyNode } from '../../src/crypto/keys.js';
import { sha256 } from '../../src/hash/sha256.js';
import { verifyBundle } from '../../src/proof/bundle.js';
import { DataDirBundles, StateAtCache, proveEventBundle, proveStateBundle } from '../../src/proof/build.js';
import { Engine } from '../../src/runtime/engine.js';
import { caughtSteleError } from '../helpers.js';
import type { Line, TestKey } from './fixtures.js';
import { checkpointSeqs, freshDataDir, newKey, proofTempRoot, readLines, rewrite, writeWorkload } from './fixtures.js';

let root: string;
let key: TestKey;
let other: TestKey;
let signed: string;
let names = 0;

const node = { sha256, ed25519Verify: ed25519VerifyNode };

beforeAll(async () => {
  root = proofTempRoot();
  key = newKey(root, 'writer.key');
  other = newKey(root, 'other.key');
  signed = freshDataDir(root, 'signed');
  await writeWorkload(signed, { signingKey: key.signing });
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A copy of the signed data directory, to damage. */
function copyOfSigned(): string {
  const copy = path.join(root, `copy${names++}`);
  fs.cpSync(signed, copy, { recursive: true });
  return copy;
}

function fingerprint(dir: string): string {
  const h = crypto.createHash('sha256');
  const walk = (d: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.statSync(p);
      h.update(`${path.relative(dir, p)} ${st.size} ${st.mtimeMs}\n`);
      if (st.isDirectory()) walk(p);
      else h.update(fs.readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

describe('event bundles', () => {
  it('anchor to the newest signed checkpoint covering the event; --size picks an older one', async () => {
    const cps = checkpointSeqs(signed);
    expect(cps.length).toBeGreaterThanOrEqual(3);
    const newest = await proveEventBundle(signed, 1);
    expect(newest).toMatchObject({ anchored: true, size: cps.at(-1), checkpoint: { seq: cps.at(-1), size: cps.at(-1), keyId: key.pub.keyId } });
    expect(newest.note).toBeUndefined();
    // Among the first cps[0] + 1 events only the first checkpoint is there.
    const older = await proveEventBundle(signed, 1, { size: cps[0]! + 1 });
    expect(older.checkpoint).toMatchObject({ seq: cps[0], size: cps[0] });
    expect(older.bundle.checkpoint!.size).toBe(cps[0]);
    for (const b of [newest, older]) expect(verifyBundle(b.text, { ...node, publicKeys: [key.pub.publicKey] }).valid).toBe(true);
    // The event right before a checkpoint is covered by it (seq < size).
    const edge = await proveEventBundle(signed, cps[0]! - 1, { size: cps[0]! });
    expect(edge.checkpoint?.size).toBe(cps[0]);
    // A checkpoint line itself is covered by the next checkpoint.
    const cpLine = await proveEventBundle(signed, cps[0]!);
    expect(cpLine.anchored).toBe(true);
    expect(JSON.parse(cpLine.bundle.line)).toMatchObject({ type: 'stele.checkpoint' });
  });

  it('no signed checkpoint in range: an unanchored bundle with the reason', async () => {
    const cps = checkpointSeqs(signed);
    const b = await proveEventBundle(signed, cps[0]!, { size: cps[0]! + 1 });
    expect(b).toMatchObject({ anchored: false, checkpoint: null });
    expect(b.note).toContain('no checkpoint with seq < size');
    expect(verifyBundle(b.text, node)).toMatchObject({ valid: true, anchored: false });
  });

  it('pinned keys decide which checkpoints count: another key leaves the bundle unanchored', async () => {
    const b = await proveEventBundle(signed, 3, { publicKeys: [other.pub] });
    expect(b.anchored).toBe(false);
    expect(b.note).toContain('signed by a known key');
    const mine = await proveEventBundle(signed, 3, { publicKeys: [other.pub, key.pub] });
    expect(mine.anchored).toBe(true);
  });

  it('a log whose signing stopped: earlier events anchor to the last signed checkpoint, later ones are unanchored', async () => {
    const data = copyOfSigned();
    const lastSigned = checkpointSeqs(data).at(-1)!;
    const engine = await Engine.open(data, { checkpointEvery: 2 });
    for (let i = 0; i < 5; i++) await engine.run({ cmd: 'kv.put', data: { key: 'a', value: `unsigned ${i}` } });
    await engine.close();
    const cps = checkpointSeqs(data);
    expect(cps.at(-1)).toBeGreaterThan(lastSigned);
    const early = await proveEventBundle(data, 2);
    expect(early.checkpoint?.seq).toBe(lastSigned);
    const late = await proveEventBundle(data, lastSigned + 1);
    expect(late.anchored).toBe(false);
    // The state: as of the last signed checkpoint, so kv:a has its value from then.
    const state = await proveStateBundle(data, 'kv:a');
    expect(state.checkpoint?.seq).toBe(lastSigned);
    expect(state.bundle.proof.value).toEqual({ n: 2, text: 'two "quoted" \\ é ✓' });
    expect(verifyBundle(state.text, { ...node, publicKeys: [key.pub.publicKey] }).valid).toBe(true);
  });

  it('the tree file missing or damaged: proofs come from a tree rebuilt from the log', async () => {
    const missing = copyOfSigned();
    fs.rmSync(path.join(missing, 'index', 'tree.hashes'));
    const a = await proveEventBundle(missing, 6);
    expect(a.text).toBe((await proveEventBundle(signed, 6)).text);
    const damaged = copyOfSigned();
    const tree = path.join(damaged, 'index', 'tree.hashes');
    const bytes = fs.readFileSync(tree);
    // Flip a hash in the middle: the bundle built from it fails its own check and is rebuilt.
    for (let i = 32 * 10; i < 32 * 11; i++) bytes[i] = bytes[i]! ^ 0xff;
    fs.writeFileSync(tree, bytes);
    for (const seq of [0, 4, 7, 12]) expect((await proveEventBundle(damaged, seq)).text).toBe((await proveEventBundle(signed, seq)).text);
  });

  it('a validly signed checkpoint that does not match the log is STELE_E_CHECKPOINT_MISMATCH naming it', async () => {
    const data = copyOfSigned();
    const target = checkpointSeqs(data).at(-1)!;
    rewrite(data, target, (event: Line) => {
      const d = event.data as { size: number; logRoot: string; stateRoot: string };
      const forged = { size: d.size, logRoot: 'ab'.repeat(32), stateRoot: d.stateRoot };
      event.data = { ...forged, sig: key.signing.sign(forged), keyId: key.pub.keyId };
    });
    fs.rmSync(path.join(data, 'index', 'tree.hashes'));
    const err = await caughtSteleError(proveEventBundle(data, 2));
    expect(err.code).toBe('STELE_E_CHECKPOINT_MISMATCH');
    expect(err.where).toMatchObject({ seq: target, line: target + 1 });
    expect(err.fix).toContain('stele verify');
  });

  it('refuses positions outside the log', async () => {
    const size = readLines(signed).length;
    expect((await caughtSteleError(proveEventBundle(signed, size))).code).toBe('STELE_E_SIZE_OUT_OF_RANGE');
    expect((await caughtSteleError(proveEventBundle(signed, 0, { size: size + 1 }))).code).toBe('STELE_E_SIZE_OUT_OF_RANGE');
    expect((await caughtSteleError(proveEventBundle(signed, 3, { size: 3 }))).code).toBe('STELE_E_SIZE_OUT_OF_RANGE');
  });
});

describe('state bundles', () => {
  it('at a position: the newest signed checkpoint at or before it, and the value as of then', async () => {
    const cps = checkpointSeqs(signed);
    const lines = readLines(signed);
    const change = lines.findIndex((l) => l.type === 'kv.put' && (l.data as { key: string }).key === 'a' && typeof (l.data as { value: unknown }).value === 'object');
    expect(change).toBeGreaterThan(cps[0]!);
    const before = await proveStateBundle(signed, 'kv:a', { at: { seq: change - 1 } });
    expect(before.checkpoint?.size).toBe(cps[0]);
    expect(before.bundle.proof.value).toBe(1);
    // kv:gone was there then, and is absent at the newest checkpoint.
    expect((await proveStateBundle(signed, 'kv:gone', { at: { seq: change } })).bundle).toMatchObject({ proof: { value: 'soon' } });
    const now = await proveStateBundle(signed, 'kv:gone');
    expect(now.bundle.proof.end).toBeDefined();
    // The same position by time.
    const ts = (JSON.parse(fs.readFileSync(path.join(signed, 'events.ndjson'), 'utf8').split('\n')[change - 1]!) as { ts: string }).ts;
    expect((await proveStateBundle(signed, 'kv:a', { at: { time: ts } })).text).toBe(before.text);
    // A checkpoint line at the position itself counts: after event cps[1] - 1 comes checkpoint cps[1].
    expect((await proveStateBundle(signed, 'kv:a', { at: { seq: cps[1]! - 1 } })).checkpoint?.size).toBe(cps[1]);
    for (const b of [before, now]) expect(verifyBundle(b.text, { ...node, publicKeys: [key.pub.publicKey] }).valid).toBe(true);
  });

  it('before the first signed checkpoint: the state as of the position, unanchored', async () => {
    const b = await proveStateBundle(signed, 'account:alice', { at: { seq: 2 } });
    expect(b).toMatchObject({ anchored: false, checkpoint: null, size: 3 });
    expect(b.note).toContain('the state as of size 3');
    expect(b.bundle.proof.value).toMatchObject({ balance: '0' });
    expect(verifyBundle(b.text, node)).toMatchObject({ valid: true, anchored: false });
  });

  it('refuses a key longer than any state key, and positions outside the log', async () => {
    expect((await caughtSteleError(proveStateBundle(signed, 'x'.repeat(70_000)))).code).toBe('STELE_E_INPUT_TOO_LARGE');
    expect((await caughtSteleError(proveStateBundle(signed, 'kv:a', { at: { seq: 10_000 } }))).code).toBe('STELE_E_SIZE_OUT_OF_RANGE');
  });

  it('StateAtCache moves one derivation forward and derives older sizes afresh', () => {
    const lines = readLines(signed);
    const cps = checkpointSeqs(signed);
    const rootAt = (seq: number) => (lines[seq]!.data as { stateRoot: string }).stateRoot;
    const cache = new StateAtCache(signed);
    expect(cache.at(cps[1]!).stateRoot()).toBe(rootAt(cps[1]!));
    expect(cache.at(cps[2]!).stateRoot()).toBe(rootAt(cps[2]!));
    expect(cache.at(cps[0]!).stateRoot()).toBe(rootAt(cps[0]!));
    expect(cache.at(cps[2]!).stateRoot()).toBe(rootAt(cps[2]!));
  });
});

describe('reading only', () => {
  it('building bundles changes nothing in the data directory', async () => {
    const before = fingerprint(signed);
    const bundles = await DataDirBundles.open(signed);
    try {
      for (let seq = 0; seq < bundles.size; seq++) expect((await bundles.eventBundle(seq)).bundle.kind).toBe('event');
      for (const k of ['kv:a', 'kv:gone', 'account:bob', 'nope']) expect(bundles.stateBundle(k).bundle.kind).toBe('state');
    } finally {
      bundles.close();
    }
    expect(fingerprint(signed)).toBe(before);
  });

  it('a data directory that does not exist is refused with the fix', async () => {
    const err = await caughtSteleError(proveEventBundle(path.join(root, 'none'), 0));
    expect(err.code).toMatch(/^STELE_E_DATA_DIR_/);
  });
});
