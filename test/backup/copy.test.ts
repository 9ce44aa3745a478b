/**
 * Backup and restore (src/backup/copy.ts) on real data directories: what a backup holds and
 * leaves out, that every refusal writes nothing, that a restore verifies before it installs,
 * point-in-time restores, and read-only sources.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { backupDir, restoreDir } from '../../src/backup/copy.js';
import { stateAt } from '../../src/history/at.js';
import { Engine } from '../../src/runtime/engine.js';
import { putBundle } from '../../src/runtime/bundles.js';
import { replayDir } from '../../src/runtime/replay.js';
import { createSnapshot } from '../../src/runtime/snapshots.js';
import { verifyDir } from '../../src/runtime/verify.js';
import { listSnapshots } from '../../src/store/snapshot-store.js';
import { loadSigningKey, writeKeyPair } from '../../src/crypto/keys.js';
import { fingerprint } from '../e2e/service.js';
import { caughtSteleError, newDataDir, readLogLines, tempDir } from '../helpers.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

function scratch(): string {
  const r = tempDir('stele-backup-');
  roots.push(r);
  return r;
}

/** A data directory with checkpoints every 10 events, a snapshot, bundles before and after the last checkpoint, and events after it. */
async function source(): Promise<{ dir: string; early: string; late: string }> {
  const dir = newDataDir();
  const engine = await Engine.open(dir, { checkpointEvery: 10 });
  await engine.run({ cmd: 'ledger.open', data: { account: 'ann' } });
  await engine.run({ cmd: 'ledger.deposit', data: { id: 'd0', account: 'ann', amount: '500' } });
  const early = (await putBundle(engine, Buffer.from('early bundle'), 'text/plain')).sha256;
  for (let i = 0; i < 25; i++) await engine.run({ cmd: 'kv.put', data: { key: `k${i % 7}`, value: i } });
  await engine.close(); // a checkpoint
  await createSnapshot(dir);
  const again = await Engine.open(dir, { checkpointEvery: 1000 });
  for (let i = 0; i < 5; i++) await again.run({ cmd: 'kv.put', data: { key: `after-${i}`, value: i } });
  const late = (await putBundle(again, Buffer.from('late bundle'), 'text/plain')).sha256;
  await again.close();
  // The clean close checkpointed the tail: drop that line, so events follow the last checkpoint as
  // they do in a live log (the derived tree file, now longer than the log, goes too).
  const lines = fs.readFileSync(path.join(dir, 'events.ndjson'), 'utf8').split('\n').slice(0, -1);
  expect((JSON.parse(lines.at(-1)!) as { type: string }).type).toBe('stele.checkpoint');
  fs.writeFileSync(path.join(dir, 'events.ndjson'), lines.slice(0, -1).map((l) => l + '\n').join(''));
  fs.rmSync(path.join(dir, 'index'), { recursive: true, force: true });
  return { dir, early, late };
}

function lastCheckpointSeq(dir: string): number {
  return readLogLines(dir).filter((l) => l.type === 'stele.checkpoint').at(-1)!.seq;
}

describe('stele backup', () => {
  it('copies the log up to its newest checkpoint, the marker, the snapshots and bundles it covers, and verifies to the checkpoint\'s roots', async () => {
    const { dir, early, late } = await source();
    const seq = lastCheckpointSeq(dir);
    expect(readLogLines(dir).length).toBeGreaterThan(seq + 1);
    fs.writeFileSync(path.join(dir, 'service.token'), 'a-secret-token-of-the-service', { mode: 0o600 });
    const dest = path.join(scratch(), 'b');
    const s = await backupDir(dir, dest);
    expect(s.size).toBe(seq + 1);
    expect(s.checkpoint?.seq).toBe(seq);
    const cp = readLogLines(dir)[seq]!.data as { stateRoot: string };
    expect(s.stateRoot).toBe(cp.stateRoot);
    expect(s.logRoot).toBe(stateAt(dir, { seq }).logRoot);
    // The copy is the exact prefix of the source's bytes.
    const src = fs.readFileSync(path.join(dir, 'events.ndjson'));
    expect(fs.readFileSync(path.join(dest, 'events.ndjson')).equals(src.subarray(0, s.logBytes))).toBe(true);
    expect(fs.existsSync(path.join(dest, 'vault', early.slice(0, 2), early))).toBe(true);
    expect(fs.existsSync(path.join(dest, 'vault', late.slice(0, 2), late))).toBe(false);
    expect(listSnapshots(dest).map((x) => x.size)).toEqual(listSnapshots(dir).map((x) => x.size));
    for (const absent of ['service.token', 'writer.lock', 'index']) expect(fs.existsSync(path.join(dest, absent))).toBe(false);
    expect(fs.readdirSync(path.dirname(dest))).toEqual(['b']);
    const verified = await verifyDir(dest);
    expect(verified.ok).toBe(true);
    expect(verified.stateRoot).toBe(s.stateRoot);
    // A backup of the backup is the same backup.
    const again = await backupDir(dest, path.join(scratch(), 'b2'));
    expect([again.size, again.logRoot, again.stateRoot, again.bytesCopied]).toEqual([s.size, s.logRoot, s.stateRoot, s.bytesCopied]);
  });

  it('makes the source log durable (fdatasync on its own descriptor) before it reads where to cut, and refuses when that fails', async () => {
    const { dir } = await source();
    const log = path.join(dir, 'events.ndjson');
    const synced: string[] = [];
    const sync = vi.spyOn(fs, 'fdatasyncSync').mockImplementation((fd: number) => {
      synced.push(fs.readlinkSync(`/proc/self/fd/${fd}`));
    });
    const read = vi.spyOn(fs, 'fstatSync');
    try {
      await backupDir(dir, path.join(scratch(), 'b'));
      expect(synced[0]).toBe(fs.realpathSync(log));
      // The flush comes before the log's size is read for the cut.
      expect(sync.mock.invocationCallOrder[0]!).toBeLessThan(read.mock.invocationCallOrder[0]!);
      sync.mockImplementation(() => {
        throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      });
      const parent = scratch();
      const err = await caughtSteleError(backupDir(dir, path.join(parent, 'b')));
      expect(err.code).toBe('STELE_E_IO');
      expect(err.where.file).toBe(log);
      expect(fs.readdirSync(parent)).toEqual([]);
    } finally {
      sync.mockRestore();
      read.mockRestore();
    }
  });

  it('refuses a DEST that exists and is not empty, writing nothing', async () => {
    const { dir } = await source();
    const parent = scratch();
    const dest = path.join(parent, 'b');
    fs.mkdirSync(dest);
    fs.writeFileSync(path.join(dest, 'keep.txt'), 'mine');
    const before = fingerprint(parent);
    const err = await caughtSteleError(backupDir(dir, dest));
    expect(err.code).toBe('STELE_E_DATA_DIR_NOT_EMPTY');
    expect(fingerprint(parent)).toEqual(before);
    // An empty directory is fine.
    fs.rmSync(path.join(dest, 'keep.txt'));
    expect((await backupDir(dir, dest)).size).toBeGreaterThan(0);
  });

  it('refuses a source whose bundle is altered, and leaves no DEST and no temp directory', async () => {
    const { dir, early } = await source();
    fs.writeFileSync(path.join(dir, 'vault', early.slice(0, 2), early), 'altered bytes');
    const parent = scratch();
    const err = await caughtSteleError(backupDir(dir, path.join(parent, 'b')));
    expect(err.code).toBe('STELE_E_DIVERGENCE');
    expect(err.message).toContain(early);
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('refuses a damaged snapshot in the source, naming it', async () => {
    const { dir } = await source();
    const snap = listSnapshots(dir).at(-1)!.file;
    const text = fs.readFileSync(snap, 'utf8');
    fs.writeFileSync(snap, text.replace('"ann"', '"anm"'));
    const err = await caughtSteleError(backupDir(dir, path.join(scratch(), 'b')));
    expect(['STELE_E_DIVERGENCE', 'STELE_E_SNAPSHOT_INVALID']).toContain(err.code);
    expect(JSON.stringify(err.toJSON())).toContain(path.basename(snap));
  });

  it('copies a log without any checkpoint up to its last complete line, says so, and never copies a torn tail', async () => {
    const dir = newDataDir();
    const engine = await Engine.open(dir, { checkpointEvery: 1000 });
    for (let i = 0; i < 4; i++) await engine.run({ cmd: 'kv.put', data: { key: `k${i}`, value: i } });
    await engine.close();
    const lines = fs.readFileSync(path.join(dir, 'events.ndjson'), 'utf8').split('\n').slice(0, -2);
    fs.writeFileSync(path.join(dir, 'events.ndjson'), lines.map((l) => l + '\n').join('') + '{"data":{"key":"torn"');
    const s = await backupDir(dir, path.join(scratch(), 'b'));
    expect(s.checkpoint).toBeNull();
    expect(s.size).toBe(4);
    expect(s.warnings.join(' ')).toMatch(/does not end with a checkpoint/);
    expect(fs.readFileSync(path.join(s.target, 'events.ndjson'), 'utf8')).toBe(lines.map((l) => l + '\n').join(''));
  });

  it('refuses to install a copy when the source no longer holds the last copied line (a cut-back batch), writing nothing', async () => {
    const { dir } = await source();
    const seq = lastCheckpointSeq(dir);
    const parent = scratch();
    let changed = false;
    const err = await caughtSteleError(
      backupDir(dir, path.join(parent, 'b'), {
        onProgress: (phase) => {
          if (phase !== 'verify' || changed) return;
          changed = true;
          // What a writer does when a batch fails before it is acknowledged: cut back, then write other bytes.
          const all = fs.readFileSync(path.join(dir, 'events.ndjson'), 'utf8').split('\n').slice(0, seq);
          fs.writeFileSync(path.join(dir, 'events.ndjson'), all.map((l) => l + '\n').join(''));
        },
      }),
    );
    expect(err.code).toBe('STELE_E_INTEGRITY_ALARM');
    expect(err.where.seq).toBe(seq);
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('copies the public keys, so the signatures of a signed log are checked in the copy, and a changed signature refuses', async () => {
    const keyFile = path.join(scratch(), 'signing.key');
    writeKeyPair(keyFile);
    const dir = newDataDir();
    const engine = await Engine.open(dir, { signingKey: loadSigningKey(keyFile), checkpointEvery: 5 });
    for (let i = 0; i < 12; i++) await engine.run({ cmd: 'kv.put', data: { key: `k${i}`, value: i } });
    await engine.close();
    const s = await backupDir(dir, path.join(scratch(), 'b'));
    expect(s.files.keys).toBe(1);
    expect(s.checkpoints.signed).toBeGreaterThan(1);
    expect(s.checkpoints.signaturesVerified).toBe(s.checkpoints.signed);
    // One signature changed (its last hex digit): the backup refuses at that line.
    const log = path.join(dir, 'events.ndjson');
    const text = fs.readFileSync(log, 'utf8');
    const at = text.indexOf('"sig":"') + '"sig":"'.length + 127;
    fs.writeFileSync(log, text.slice(0, at) + (text[at] === '0' ? '1' : '0') + text.slice(at + 1));
    const parent = scratch();
    expect((await caughtSteleError(backupDir(dir, path.join(parent, 'b')))).code).toBe('STELE_E_SIGNATURE_INVALID');
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('copies the torn files the copied log records, so a writer opening the copy records nothing new', async () => {
    const dir = newDataDir();
    const engine = await Engine.open(dir);
    await engine.run({ cmd: 'kv.put', data: { key: 'a', value: 1 } });
    await engine.close();
    fs.appendFileSync(path.join(dir, 'events.ndjson'), '{"data":{"key":"b"');
    await (await Engine.open(dir)).close(); // quarantines the tail, records stele.recovered, checkpoints
    const dest = path.join(scratch(), 'b');
    const s = await backupDir(dir, dest);
    expect(s.files.quarantine).toBe(1);
    const before = readLogLines(dest).length;
    await (await Engine.open(dest)).close();
    expect(readLogLines(dest).length).toBe(before);
  });
});

describe('stele restore', () => {
  it('installs a verified copy that replays to the same roots, and a writer continues it', async () => {
    const { dir } = await source();
    const backup = await backupDir(dir, path.join(scratch(), 'b'));
    const target = path.join(scratch(), 'restored');
    const s = await restoreDir(backup.target, target);
    expect(s.replaced).toBeNull();
    const r = await replayDir(target, { snapshot: false });
    expect(r.fault).toBeUndefined();
    expect([r.stats.size, r.stats.logRoot, r.stats.stateRoot]).toEqual([backup.size, backup.logRoot, backup.stateRoot]);
    const engine = await Engine.open(target);
    await engine.run({ cmd: 'kv.put', data: { key: 'after-restore', value: true } });
    await engine.close();
    expect((await verifyDir(target)).ok).toBe(true);
  });

  it('refuses a damaged source before installing anything: the target does not appear', async () => {
    const { dir } = await source();
    const backup = await backupDir(dir, path.join(scratch(), 'b'));
    const log = path.join(backup.target, 'events.ndjson');
    const bytes = fs.readFileSync(log);
    const at = bytes.indexOf('"k3"');
    bytes[at + 2] = '4'.charCodeAt(0);
    fs.writeFileSync(log, bytes);
    const parent = scratch();
    const err = await caughtSteleError(restoreDir(backup.target, path.join(parent, 'restored')));
    expect(err.code).toBe('STELE_E_CHAIN_BROKEN');
    expect(err.message).toContain(backup.target);
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('refuses a non-empty target unless --force, which moves the old contents aside, never deletes them', async () => {
    const { dir } = await source();
    const target = newDataDir();
    const engine = await Engine.open(target);
    await engine.run({ cmd: 'kv.put', data: { key: 'old', value: 'contents' } });
    await engine.close();
    const before = fingerprint(target);
    const err = await caughtSteleError(restoreDir(dir, target));
    expect(err.code).toBe('STELE_E_DATA_DIR_NOT_EMPTY');
    expect(err.fix).toContain('--force');
    expect(fingerprint(target)).toEqual(before);

    const s = await restoreDir(dir, target, { force: true, now: () => new Date('2026-12-02T10:00:00.000Z') });
    expect(s.replaced).toBe(`${target}.replaced-2026-12-02T10-00-00-000Z`);
    expect(fingerprint(s.replaced!)).toEqual(before);
    expect((await replayDir(target)).stats.stateRoot).toBe(s.stateRoot);
    fs.rmSync(s.replaced!, { recursive: true, force: true });
  });

  it('refuses a target whose writer lock is held, even with --force, changing nothing', async () => {
    const { dir } = await source();
    const target = newDataDir();
    const engine = await Engine.open(target);
    try {
      const before = fingerprint(target);
      const err = await caughtSteleError(restoreDir(dir, target, { force: true }));
      expect(err.code).toBe('STELE_E_LOCKED');
      expect(fingerprint(target)).toEqual(before);
      expect(fs.readdirSync(path.dirname(target)).sort()).toEqual(['data']);
    } finally {
      await engine.close();
    }
  });

  it('--at SEQ restores the log up to and including SEQ: the roots of time travel at SEQ, later snapshots and bundles dropped', async () => {
    const { dir, early, late } = await source();
    const snapSize = listSnapshots(dir).at(-1)!.size;
    const lines = readLogLines(dir);
    const earlySeq = lines.findIndex((l) => l.type === 'vault.bundle_stored');
    const seq = earlySeq + 3;
    expect(seq + 1).toBeLessThan(snapSize);
    const target = path.join(scratch(), 'at');
    const s = await restoreDir(dir, target, { at: { seq } });
    const travelled = stateAt(dir, { seq });
    expect([s.size, s.logRoot, s.stateRoot]).toEqual([seq + 1, travelled.logRoot, travelled.stateRoot]);
    expect(readLogLines(target).length).toBe(seq + 1);
    expect(listSnapshots(target)).toEqual([]);
    expect(fs.existsSync(path.join(target, 'vault', early.slice(0, 2), early))).toBe(true);
    expect(fs.existsSync(path.join(target, 'vault', late.slice(0, 2), late))).toBe(false);
    // A writer opens the prefix (it does not end with a checkpoint) and continues it.
    const engine = await Engine.open(target);
    await engine.run({ cmd: 'kv.put', data: { key: 'fork', value: 1 } });
    await engine.close();
    const v = await verifyDir(target);
    expect(v.ok).toBe(true);
    expect(v.size).toBe(seq + 1 + 2);

    // --at-time: the last event at or before the time.
    const tsOf = (l: object) => (l as { ts: string }).ts;
    const ts = tsOf(lines[seq]!);
    const byTime = await restoreDir(dir, path.join(scratch(), 'at-time'), { at: { time: ts } });
    expect(byTime.size).toBe(lines.filter((l) => tsOf(l) <= ts).length);
  });

  it('refuses an --at beyond the log, writing nothing', async () => {
    const { dir } = await source();
    const parent = scratch();
    const err = await caughtSteleError(restoreDir(dir, path.join(parent, 'at'), { at: { seq: 10_000 } }));
    expect(err.code).toBe('STELE_E_SIZE_OUT_OF_RANGE');
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('refuses a target inside the source', async () => {
    const { dir } = await source();
    expect((await caughtSteleError(restoreDir(dir, path.join(dir, 'inner')))).code).toBe('STELE_E_USAGE');
    expect((await caughtSteleError(backupDir(dir, dir))).code).toBe('STELE_E_USAGE');
  });
});

describe('a read-only source', () => {
  it('backs up and restores from a read-only bind mount (EROFS even for root) and changes nothing there', async (ctx) => {
    const { dir } = await source();
    const ro = path.join(scratch(), 'ro');
    fs.mkdirSync(ro);
    try {
      execFileSync('mount', ['--bind', dir, ro], { stdio: 'pipe' });
    } catch (err) {
      console.warn(`SKIPPED: mount --bind is not permitted here (${String(err).trim()}); the source is opened read-only regardless`);
      ctx.skip();
      return;
    }
    try {
      execFileSync('mount', ['-o', 'remount,bind,ro', ro], { stdio: 'pipe' });
      expect(() => fs.writeFileSync(path.join(ro, 'probe'), 'x')).toThrow(/EROFS|read-only/i);
      const before = fingerprint(ro);
      const b = await backupDir(ro, path.join(scratch(), 'b'));
      const r = await restoreDir(ro, path.join(scratch(), 'r'), { at: { seq: 5 } });
      expect(fingerprint(ro)).toEqual(before);
      expect(b.size).toBe(lastCheckpointSeq(dir) + 1);
      expect(r.size).toBe(6);
    } finally {
      execFileSync('umount', [ro], { stdio: 'pipe' });
    }
  });
});
