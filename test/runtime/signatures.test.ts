/**
 * Signed checkpoints through the runtime (issue #5): an engine with a signing key signs every
 * checkpoint it writes and installs its public key; the signatures pass a check made here
 * with node:crypto alone; every reader of checkpoints (replay, the writer's open, verify,
 * snapshot verification, the observer following the log) refuses an altered signature at
 * its line, counts signatures by unknown keys without failing, and reports checkpoints
 * signed by keys other than the pinned ones.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PublicKey, SigningKey } from '../../src/crypto/keys.js';
import { loadPublicKey, loadSigningKey, writeKeyPair } from '../../src/crypto/keys.js';
import { openWriter } from '../../src/log/open.js';
import { ObserverSource } from '../../src/observer/observer.js';
import { Engine } from '../../src/runtime/engine.js';
import { replayDir } from '../../src/runtime/replay.js';
import { createSnapshot, verifySnapshots } from '../../src/runtime/snapshots.js';
import { verifyDir } from '../../src/runtime/verify.js';
import { caughtSteleError, newDataDir, tempDir, readLogLines, rechainLog } from '../helpers.js';
import type { LogLine } from '../helpers.js';

const keyDir = tempDir('stele-sig-keys-');
afterAll(() => fs.rmSync(keyDir, { recursive: true, force: true }));
let keys = 0;

function newKey(): { file: string; signing: SigningKey; pub: PublicKey; pubHex: string } {
  const file = path.join(keyDir, `key${keys++}`);
  writeKeyPair(file);
  const pubHex = (JSON.parse(fs.readFileSync(`${file}.pub`, 'utf8')) as { publicKey: string }).publicKey;
  return { file, signing: loadSigningKey(file), pub: loadPublicKey(`${file}.pub`), pubHex };
}




/** A data directory written by an engine signing with `key`: 12 commands, a checkpoint every 5 events. */
async function signedLog(key: SigningKey): Promise<string> {
  const data = newDataDir();
  const engine = await Engine.open(data, { signingKey: key, checkpointEvery: 5 });
  for (let i = 0; i < 12; i++) await engine.run({ cmd: 'kv.put', data: { key: `k${i}`, value: i } });
  await engine.close();
  return data;
}

function checkpoints(data: string): LogLine[] {
  return readLogLines(data).filter((l) => l.type === 'stele.checkpoint');
}

function flipSig(event: LogLine): void {
  const sig = event.data.sig as string;
  event.data.sig = (sig[0] === '0' ? '1' : '0') + sig.slice(1);
}

describe('an engine with a signing key', () => {
  const key = newKey();

  it('signs every checkpoint it writes, periodic and shutdown, so that node:crypto alone accepts them', async () => {
    const data = await signedLog(key.signing);
    const all = readLogLines(data);
    const written = checkpoints(data);
    // Periodic ones (every 5 events) and the shutdown one after the last command.
    expect(written.length).toBe(3);
    expect(all.at(-1)!.type).toBe('stele.checkpoint');
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(key.pubHex, 'hex')]);
    const publicKey = crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' });
    const keyId = crypto.createHash('sha256').update(Buffer.from(key.pubHex, 'hex')).digest('hex');
    for (const c of written) {
      const d = c.data as { size: number; logRoot: string; stateRoot: string; sig: string; keyId: string };
      expect(d.keyId).toBe(keyId);
      const text = `{"logRoot":"${d.logRoot}","size":${d.size},"stateRoot":"${d.stateRoot}"}`;
      expect(crypto.verify(null, Buffer.from(text, 'utf8'), publicKey, Buffer.from(d.sig, 'hex'))).toBe(true);
      // …and only over these bytes.
      expect(crypto.verify(null, Buffer.from(text.replace(`"size":${d.size}`, `"size":${d.size + 1}`), 'utf8'), publicKey, Buffer.from(d.sig, 'hex'))).toBe(false);
    }
    // Its public key is in the keyring, byte for byte the keygen's public file.
    expect(fs.readFileSync(path.join(data, 'keys', `${keyId}.pub`), 'utf8')).toBe(fs.readFileSync(`${key.file}.pub`, 'utf8'));
  });

  it('replay and verify check and count every signature against the keyring', async () => {
    const data = await signedLog(key.signing);
    const replayed = await replayDir(data);
    expect(replayed.fault).toBeUndefined();
    expect(replayed.stats.checkpoints).toMatchObject({ signed: 3, signaturesVerified: 3, unknownKeyIds: [], pinned: null });
    const report = await verifyDir(data);
    expect(report.ok).toBe(true);
    expect(report.checkpoints).toMatchObject({ signed: 3, signaturesVerified: 3 });
    // With worker threads the checkpoints still reach the checking sink.
    const parallel = await replayDir(data, { threads: 2, parallelBytesMin: 0, snapshot: false });
    expect(parallel.stats.checkpoints).toMatchObject({ signed: 3, signaturesVerified: 3 });
    // The writer reopening counts its own signatures too.
    const engine = await Engine.open(data, { signingKey: key.signing });
    expect(engine.replay.checkpoints).toMatchObject({ signed: 3, signaturesVerified: 3 });
    expect(engine.signingKeyId).toBe(key.pub.keyId);
    await engine.close();
  });

  it('an unsigned writer after a signed one: both kinds of checkpoint verify, only signed ones are counted', async () => {
    const data = await signedLog(key.signing);
    const engine = await Engine.open(data, { checkpointEvery: 5 });
    for (let i = 0; i < 5; i++) await engine.run({ cmd: 'kv.put', data: { key: `u${i}`, value: i } });
    await engine.close();
    expect(checkpoints(data).map((c) => c.data.sig === undefined)).toEqual([false, false, false, true]);
    const replayed = await replayDir(data, { snapshot: false });
    expect(replayed.fault).toBeUndefined();
    expect(replayed.stats.checkpoints).toMatchObject({ logRootsChecked: 4, signed: 3, signaturesVerified: 3 });
  });
});

describe('keys the reader does not have, and pinned keys', () => {
  const key = newKey();
  const other = newKey();

  it('a signature by a key neither in the keyring nor given is counted, not a fault', async () => {
    const data = await signedLog(key.signing);
    fs.rmSync(path.join(data, 'keys'), { recursive: true });
    const replayed = await replayDir(data);
    expect(replayed.fault).toBeUndefined();
    expect(replayed.stats.checkpoints).toMatchObject({ signed: 3, signaturesVerified: 0, unknownKeyIds: [key.pub.keyId] });
    // Given by the caller instead, the key checks them all.
    const pinned = await replayDir(data, { publicKeys: [key.pub] });
    expect(pinned.stats.checkpoints).toMatchObject({ signed: 3, signaturesVerified: 3, unknownKeyIds: [], pinned: { verified: 3, otherSigned: 0, otherKeyIds: [] } });
  });

  it('with another key pinned, checkpoints signed by the keyring key verify and are reported as not pinned', async () => {
    const data = await signedLog(key.signing);
    const report = await verifyDir(data, { publicKeys: [other.pub] });
    expect(report.ok).toBe(true);
    expect(report.checkpoints).toMatchObject({ signed: 3, signaturesVerified: 3, pinned: { verified: 0, otherSigned: 3, otherKeyIds: [key.pub.keyId] } });
  });

  it('a forged signature under a key the reader does not have cannot be told from an unknown key, and is not accepted either', async () => {
    const data = await signedLog(key.signing);
    // The last checkpoint: re-chaining after an earlier one would change the log roots the later ones committed to.
    rechainLog(data, checkpoints(data).at(-1)!.seq, flipSig);
    fs.rmSync(path.join(data, 'keys'), { recursive: true });
    const replayed = await replayDir(data);
    expect(replayed.fault).toBeUndefined();
    expect(replayed.stats.checkpoints.signaturesVerified).toBe(0);
    // The auditor holding the key sees it.
    expect((await replayDir(data, { publicKeys: [key.pub] })).fault?.code).toBe('STELE_E_SIGNATURE_INVALID');
  });
});

describe('an altered signature', () => {
  const key = newKey();

  it('stops replay and verify at its line, and the writer opens in panic mode, writing nothing', async () => {
    const data = await signedLog(key.signing);
    const at = checkpoints(data)[1]!.seq;
    rechainLog(data, at, flipSig);
    const where = { file: 'events.ndjson', line: at + 1, seq: at, path: 'data.sig' };

    const replayed = await replayDir(data, { snapshot: false });
    expect(replayed.fault?.code).toBe('STELE_E_SIGNATURE_INVALID');
    expect(replayed.fault?.where).toEqual(where);
    expect(replayed.fault?.fix).toMatch(/restore the log from a backup/);
    // The state is that of the events before it (panic mode reads).
    expect(replayed.machine.size).toBe(at);
    const parallel = await replayDir(data, { snapshot: false, threads: 2, parallelBytesMin: 0 });
    expect(parallel.fault?.where).toEqual(where);

    const report = await verifyDir(data);
    expect(report.ok).toBe(false);
    expect(report.fault).toMatchObject({ code: 'STELE_E_SIGNATURE_INVALID', line: at + 1, seq: at, path: 'data.sig' });

    const before = fs.readFileSync(path.join(data, 'events.ndjson'));
    for (const options of [{}, { signingKey: key.signing }]) {
      const err = await caughtSteleError(Engine.open(data, options));
      expect(err.code).toBe('STELE_E_PANIC');
      expect(err.where).toMatchObject({ line: at + 1, seq: at });
      expect((err.detail?.fault as { code: string }).code).toBe('STELE_E_SIGNATURE_INVALID');
    }
    expect(fs.readFileSync(path.join(data, 'events.ndjson'))).toEqual(before);
  });

  it('a sig without keyId, a keyId without sig, or a signature by another key under this keyId, are faults too', async () => {
    const other = newKey();
    const changes: [string, (e: LogLine) => void][] = [
      ['no keyId', (e) => delete e.data.keyId],
      ['no sig', (e) => delete e.data.sig],
      ['another signer', (e) => (e.data.sig = other.signing.sign(e.data as { size: number; logRoot: string; stateRoot: string }))],
    ];
    for (const [what, change] of changes) {
      const data = await signedLog(key.signing);
      const at = checkpoints(data)[0]!.seq;
      rechainLog(data, at, change);
      const replayed = await replayDir(data, { publicKeys: [other.pub] });
      expect(replayed.fault?.code, what).toBe('STELE_E_SIGNATURE_INVALID');
      expect(replayed.fault?.where.seq, what).toBe(at);
    }
  });

  it('makes snapshot verification fail for the snapshots after it', async () => {
    const data = await signedLog(key.signing);
    rechainLog(data, checkpoints(data).at(-1)!.seq, flipSig);
    // A snapshot of a log whose fault only a reader without the key misses.
    fs.renameSync(path.join(data, 'keys'), path.join(data, 'keys.away'));
    await createSnapshot(data, { snapshot: false });
    fs.renameSync(path.join(data, 'keys.away'), path.join(data, 'keys'));
    const verdicts = await verifySnapshots(data);
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0]!.ok).toBe(false);
    expect(verdicts[0]!.error?.code).toBe('STELE_E_SIGNATURE_INVALID');
  });
});

describe('the observer following a log', () => {
  it('checks the signatures of new checkpoints, with a key a writer installed after the observer started', async () => {
    const data = newDataDir();
    const unsigned = await Engine.open(data);
    await unsigned.run({ cmd: 'kv.put', data: { key: 'a', value: 1 } });
    await unsigned.close();
    const observer = await ObserverSource.open(data, { auditIntervalMs: 0 });
    try {
      const key = newKey();
      const engine = await Engine.open(data, { signingKey: key.signing });
      await engine.run({ cmd: 'kv.put', data: { key: 'b', value: 2 } });
      await engine.close();
      await observer.poll();
      const status = observer.status();
      expect(status.integrity.status).toBe('ok');
      expect(status.size).toBe(readLogLines(data).length);
      // A checkpoint with the right roots and keyId but a signature over something else.
      const previous = checkpoints(data).at(-1)!.data as { sig: string };
      const head = observer.status();
      const writer = await openWriter(data);
      await writer.writer.appendSystem({ type: 'stele.checkpoint', v: 1, data: { size: head.size, logRoot: head.logRoot, stateRoot: head.stateRoot, sig: previous.sig, keyId: key.pub.keyId } });
      await writer.close();
      await observer.poll();
      const alarmed = observer.status();
      expect(alarmed.integrity.status).toBe('alarm');
      expect(JSON.stringify(alarmed.integrity.fault)).toContain('STELE_E_SIGNATURE_INVALID');
      expect(JSON.stringify(alarmed.integrity.fault)).toContain(`"seq":${head.size}`);
    } finally {
      await observer.close();
    }
  });
});
