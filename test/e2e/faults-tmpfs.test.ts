/**
 * Real faults on real file systems (issue #6): a size-limited tmpfs that fills up under many
 * concurrent appenders (in-process engine and `stele serve`), a full disk while writing the
 * tree file, a snapshot, a bundle and a checkpoint; a read-only (bind-remounted) data
 * directory, the data directory removed and the writer lock deleted under `stele serve`.
 *
 * The setup mounts and unmounts itself. Without the right to mount (not root, no
 * CAP_SYS_ADMIN) the tmpfs tests are skipped with the reason printed; on the project's test
 * machine they run.
 *
 * What is checked is what a user notices: which calls were acknowledged, every acknowledged
 * event in the file exactly once, the file ending in `\n` with whole lines, `stele verify`
 * passing, appends resuming without a restart. Run counts are in `runs`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isSteleError } from '../../src/errors.js';
import { sha256 } from '../../src/hash/sha256.js';
import { Engine } from '../../src/runtime/engine.js';
import { putBundle } from '../../src/runtime/bundles.js';
import { replayDir } from '../../src/runtime/replay.js';
import { initDataDir } from '../../src/store/data-dir.js';
import { listSnapshots } from '../../src/store/snapshot-store.js';
import { TreeFile, pendingHashesMax } from '../../src/store/tree-file.js';
import { caughtSteleError, cli, errorCodeOf, tempDir } from '../helpers.js';
import type { CommandAnswer, StatusBody } from './service.js';
import { command, request, startServe, stopAll, waitFor } from './service.js';

const seed = Number(process.env.STELE_SEED ?? 60602);
export const runs = { fsyncEio: 1, engineDiskFull: 6, serveDiskFull: 1, treeDiskFull: 2, snapshotDiskFull: 1, vaultDiskFull: 1, checkpointDiskFull: 1, readOnly: 1, dirRemoved: 1, lockDeleted: 1 } as const;

/** Why mounting is impossible here, or undefined when it works (probed once, with a throwaway mount). */
function mountUnavailable(): string | undefined {
  const probe = tempDir('stele-mount-probe-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `cannot mount a tmpfs (${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}): needs root or CAP_SYS_ADMIN`;
  spawnSync('umount', [probe]);
  fs.rmSync(probe, { recursive: true, force: true });
  return undefined;
}

const unavailable = mountUnavailable();
if (unavailable !== undefined) process.stderr.write(`faults-tmpfs: SKIPPING the tmpfs tests: ${unavailable}\n`);

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

const mounts: string[] = [];

/** A fresh tmpfs of `bytes` at a new directory; unmounted in afterAll. */
function mountTmpfs(bytes: number): string {
  const dir = tempDir('stele-tmpfs-');
  run('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

afterAll(() => {
  for (const l of loops.splice(0).reverse()) {
    if (spawnSync('umount', [l.mount]).status !== 0) spawnSync('umount', ['-l', l.mount]);
    spawnSync('losetup', ['-d', l.device]);
    fs.rmSync(l.mount, { recursive: true, force: true });
  }
  for (const m of mounts.splice(0).reverse()) {
    // Lazily if a failed test left a file open on it, so the mount never outlives the run.
    if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
    fs.rmSync(m, { recursive: true, force: true });
  }
});

afterEach(async () => {
  await stopAll();
});

const loops: { device: string; mount: string }[] = [];

/**
 * An ext4 file system of `fsBytes` on a loop device whose sparse backing file lives on a tmpfs
 * of only `backingBytes`: thin provisioning that runs out. ext4 accepts writes into the page
 * cache; writeback then fails in the loop device (no space below it), so fdatasync returns
 * EIO: a real fsync error, no injection. Returns the mount point and the backing tmpfs.
 */
function mountThinExt4(fsBytes: number, backingBytes: number): { mount: string; backing: string; device: string; image: string } {
  const backing = mountTmpfs(backingBytes);
  const image = path.join(backing, 'disk.img');
  fs.closeSync(fs.openSync(image, 'w'));
  fs.truncateSync(image, fsBytes);
  run('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image]);
  const r = spawnSync('losetup', ['-f', '--show', image], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`losetup: ${r.stderr}`);
  const device = r.stdout.trim();
  const mount = tempDir('stele-ext4-');
  run('mount', ['-o', 'errors=continue', device, mount]);
  loops.push({ device, mount });
  return { mount, backing, device, image };
}

/** Fills the file system of `dir` to the last byte with `<dir>/filler`; returns the filler's path. */
function fillDisk(dir: string): string {
  const file = path.join(dir, 'filler');
  const fd = fs.openSync(file, 'a');
  try {
    for (const chunk of [1 << 16, 4096, 1]) {
      const bytes = Buffer.alloc(chunk, 0x66);
      for (;;) {
        try {
          fs.writeSync(fd, bytes);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

/** Frees `bytes` of the filler (page-granular on tmpfs). */
function freeSome(filler: string, bytes: number): void {
  fs.truncateSync(filler, Math.max(0, fs.statSync(filler).size - bytes));
}

function codeOf(err: unknown): string {
  return isSteleError(err) ? err.code : String(err);
}

function logLines(data: string): string[] {
  const text = fs.readFileSync(path.join(data, 'events.ndjson'), 'utf8');
  expect(text === '' || text.endsWith('\n')).toBe(true);
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

/** Every acknowledged hash is the hash of exactly one line, at its seq; every line parses. */
function expectAckedOnce(data: string, acked: readonly { seq: number; hash: string }[]): void {
  const lines = logLines(data);
  const hashes = lines.map((l) => Buffer.from(sha256(Buffer.from(l))).toString('hex'));
  for (const l of lines) expect(() => JSON.parse(l) as unknown).not.toThrow();
  const counts = new Map<string, number>();
  for (const h of hashes) counts.set(h, (counts.get(h) ?? 0) + 1);
  for (const a of acked) {
    expect(hashes[a.seq]).toBe(a.hash);
    expect(counts.get(a.hash)).toBe(1);
  }
}

/** Like expectAckedOnce, for a log that may end in unacknowledged lines or a torn tail (never acknowledged). */
function expectAckedOncePrefix(data: string, acked: readonly { seq: number; hash: string }[]): void {
  const lines = fs.readFileSync(path.join(data, 'events.ndjson'), 'utf8').split('\n');
  const hashes = lines.map((l) => Buffer.from(sha256(Buffer.from(l))).toString('hex'));
  for (const a of acked) expect(hashes[a.seq]).toBe(a.hash);
  expect(new Set(hashes).size).toBe(hashes.length);
}

function expectVerifies(data: string): void {
  const r = cli(['--data', data, 'verify', '--json']);
  expect(r.stderr + r.stdout).not.toContain('"ok":false');
  expect(r.status).toBe(0);
}

const put = (tag: string, i: number) => ({ cmd: 'kv.put', data: { key: `${tag}-${i}`, value: { i, pad: 'p'.repeat(40) } } });

describe.skipIf(unavailable !== undefined)('a real fdatasync error (ext4 on a thin loop device that runs out of backing space)', () => {
  it('stops the writer with STELE_E_IO at the first failed fdatasync and never acknowledges again, never retried; every acknowledged event survives a remount; a restart resumes', async () => {
    const thin = mountThinExt4(64 * 1024 * 1024, 12 * 1024 * 1024);
    const data = path.join(thin.mount, 'data');
    initDataDir(data);
    const engine = await Engine.open(data, { checkpointEvery: 100 });
    const acked: { seq: number; hash: string }[] = [];
    let failure: unknown;
    const big = (w: number, i: number) => ({ cmd: 'kv.put', data: { key: `big-${w}-${i}`, value: 'b'.repeat(30_000) } });
    try {
      for (let w = 0; w < 2000 && failure === undefined; w++) {
        const results = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => engine.run(big(w, i))));
        for (const r of results) {
          if (r.status === 'fulfilled') acked.push(...r.value.acks);
          else failure ??= r.reason;
        }
        if (failure !== undefined) expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(0);
      }
      expect(codeOf(failure)).toBe('STELE_E_IO');
      expect(String((failure as Error).message)).toContain('fdatasync');
      expect(engine.log.writer.stoppedReason).toBe(failure);
      // Whatever a second fdatasync would answer now (Linux reports a writeback error once
      // per file description, so often "success"), stele does not ask again:
      const later = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => engine.run(put('later', i))));
      for (const r of later) expect(codeOf((r as PromiseRejectedResult).reason)).toBe('STELE_E_IO');
    } finally {
      // ext4 may have aborted its journal and turned read-only: the close then cannot remove
      // the lock, and says so, typed.
      const closeErr = await engine.close().then(() => undefined, (err: unknown) => err);
      if (closeErr !== undefined) expect(['STELE_E_DATA_DIR_UNWRITABLE', 'STELE_E_IO']).toContain(codeOf(closeErr));
    }
    expect(acked.length).toBeGreaterThan(0);
    // Give the backing store room, remount (journal replay): every acknowledged event is there.
    run('mount', ['-o', 'remount,size=128m', thin.backing]);
    run('umount', [thin.mount]);
    run('mount', [thin.device, thin.mount]);
    expectAckedOncePrefix(data, acked);
    // A lock the read-only file system kept: its holder (this process's closed engine) is
    // gone, as after a restart, where a new process takes it over (dead pid).
    fs.rmSync(path.join(data, 'writer.lock'), { recursive: true, force: true });
    const reopened = await Engine.open(data);
    try {
      const resumed = await reopened.run(put('resumed', 0));
      expect(resumed.acks).toHaveLength(1);
    } finally {
      await reopened.close();
    }
    expectVerifies(data);
  });
});

describe.skipIf(unavailable !== undefined)('disk full (ENOSPC) on a real tmpfs', () => {
  let mount: string;
  beforeAll(() => {
    mount = mountTmpfs(4 * 1024 * 1024);
  });

  it('under waves of concurrent commands: each wave all or nothing, the refused one DISK_FULL, state consistent, resumes once space is freed, verify passes', async () => {
    let runNo = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 6 * 4096 }), fc.integer({ min: 8, max: 120 }), async (freeBytes, wave) => {
        const data = path.join(mount, `data-${runNo++}`);
        initDataDir(data);
        const engine = await Engine.open(data, { checkpointEvery: 50 });
        const acked: { seq: number; hash: string }[] = [];
        let filler: string | undefined;
        try {
          for (const r of await Promise.allSettled(Array.from({ length: 10 }, (_, i) => engine.run(put('warm', i))))) {
            expect(r.status).toBe('fulfilled');
            if (r.status === 'fulfilled') acked.push(...r.value.acks);
          }
          filler = fillDisk(mount);
          freeSome(filler, freeBytes);
          let refused: PromiseSettledResult<unknown>[] | undefined;
          for (let w = 0; w < 400 && refused === undefined; w++) {
            const results = await Promise.allSettled(Array.from({ length: wave }, (_, i) => engine.run(put(`w${w}`, i))));
            const ok = results.filter((r) => r.status === 'fulfilled');
            if (ok.length === results.length) {
              for (const r of ok) acked.push(...(r as PromiseFulfilledResult<{ acks: { seq: number; hash: string }[] }>).value.acks);
              continue;
            }
            // All or nothing: one wave is one batch.
            expect(ok).toHaveLength(0);
            refused = results;
          }
          expect(refused).toBeDefined();
          for (const r of refused!) {
            const err = (r as PromiseRejectedResult).reason as unknown;
            expect(codeOf(err)).toBe('STELE_E_DISK_FULL');
            expect(isSteleError(err) && err.where.file).toBe(path.join(data, 'events.ndjson'));
          }
          expectAckedOnce(data, acked);
          await engine.settled();
          const replayed = await replayDir(data, { snapshot: false });
          expect(engine.status().stateRoot).toBe(replayed.machine.stateRoot());

          fs.rmSync(filler);
          filler = undefined;
          const after = await Promise.all(Array.from({ length: wave }, (_, i) => engine.run(put('after', i))));
          for (const a of after) acked.push(...a.acks);
          expectAckedOnce(data, acked);
        } finally {
          if (filler !== undefined) fs.rmSync(filler);
          await engine.close();
        }
        expectAckedOnce(data, acked);
        expectVerifies(data);
        fs.rmSync(data, { recursive: true });
      }),
      { seed, numRuns: runs.engineDiskFull },
    );
  });

  it('through stele serve: concurrent HTTP commands get 507 STELE_E_DISK_FULL, none acknowledged, 200 again once space is freed, no restart', async () => {
    const data = path.join(mount, 'serve');
    initDataDir(data);
    const service = await startServe(data);
    const acked: { seq: number; hash: string }[] = [];
    const filler = fillDisk(mount);
    freeSome(filler, 8192);
    let refusedWave: { status: number; json: CommandAnswer }[] | undefined;
    for (let w = 0; w < 400 && refusedWave === undefined; w++) {
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => command(service.url, put(`h${w}`, i))));
      if (answers.every((a) => a.status === 200)) {
        for (const a of answers) acked.push(...a.json.acks!);
        continue;
      }
      refusedWave = answers.filter((a) => a.status !== 200);
      // Whatever was acknowledged in this wave (none, normally: one wave is one batch) counts.
      for (const a of answers) if (a.status === 200) acked.push(...a.json.acks!);
    }
    expect(refusedWave).toBeDefined();
    for (const a of refusedWave!) {
      expect(a.status).toBe(507);
      expect(a.json.error).toMatchObject({ code: 'STELE_E_DISK_FULL', where: { file: path.join(data, 'events.ndjson') } });
      expect(a.json.error!.fix).toBeTruthy();
    }
    const status = await request<StatusBody>(service.url, '/v1/status');
    expect(status.status).toBe(200);
    expect(status.json.integrity.status).toBe('ok');
    expect(status.json.size).toBe(logLines(data).length);
    expectAckedOnce(data, acked);
    fs.rmSync(filler);
    const after = await command(service.url, put('after', 0));
    expect(after.status).toBe(200);
    acked.push(...after.json.acks!);
    const exit = await service.stop();
    expect(exit.code).toBe(0);
    expectAckedOnce(data, acked);
    expectVerifies(data);
  });

  it('while writing the tree file: a typed DISK_FULL kept buffered, reads still served, written once space is freed; a shutdown on a full disk is repaired on the next open', async () => {
    const dir = path.join(mount, 'tree');
    fs.mkdirSync(dir);
    const tree = TreeFile.open(path.join(dir, 'tree.hashes'), { readOnly: false });
    const filler = fillDisk(mount);
    const hashes = Array.from({ length: pendingHashesMax + 10 }, (_, i) => sha256(Buffer.from(String(i))));
    tree.append(hashes);
    expect(tree.writeError?.code).toBe('STELE_E_DISK_FULL');
    expect(tree.writeError?.where.file).toBe(path.join(dir, 'tree.hashes'));
    expect(errorCodeOf(() => tree.flush())).toBe('STELE_E_DISK_FULL');
    expect(tree.count).toBe(hashes.length);
    expect(Buffer.from(tree.readHashes([pendingHashesMax + 3])[0]!)).toEqual(Buffer.from(hashes[pendingHashesMax + 3]!));
    fs.rmSync(filler);
    tree.flush();
    expect(tree.writeError).toBeUndefined();
    tree.close();
    expect(fs.statSync(path.join(dir, 'tree.hashes')).size).toBe(hashes.length * 32);

    // The engine: events durable, then the disk fills; the close cannot write its checkpoint
    // nor the buffered tree hashes. Nothing acknowledged is lost; the next open repairs the tree.
    const data = path.join(mount, 'tree-engine');
    initDataDir(data);
    const engine = await Engine.open(data);
    const acks = (await Promise.all(Array.from({ length: 300 }, (_, i) => engine.run(put('t', i))))).flatMap((r) => r.acks);
    const filler2 = fillDisk(mount);
    await engine.close();
    fs.rmSync(filler2);
    expectAckedOnce(data, acks);
    const reopened = await Engine.open(data);
    expect(reopened.log.treeRepair).toBeDefined();
    await reopened.close();
    expectAckedOnce(data, acks);
    expectVerifies(data);
  });

  it('while writing a snapshot, a bundle and a checkpoint: each a typed DISK_FULL, no temp file left, nothing acknowledged lost, each succeeds once space is freed', async () => {
    const data = path.join(mount, 'files');
    initDataDir(data);
    const engine = await Engine.open(data);
    try {
      const acks = (await Promise.all(Array.from({ length: 200 }, (_, i) => engine.run(put('f', i))))).flatMap((r) => r.acks);
      const filler = fillDisk(mount);
      try {
        const snap = await caughtSteleError(engine.snapshot());
        expect(snap.code).toBe('STELE_E_DISK_FULL');
        expect(snap.where.file).toContain(path.join(data, 'snapshots'));
        expect(fs.readdirSync(path.join(data, 'snapshots'))).toEqual([]);

        const bundle = await caughtSteleError(putBundle(engine, randomBytes(256 * 1024), 'application/octet-stream'));
        expect(bundle.code).toBe('STELE_E_DISK_FULL');
        expect(tempFilesUnder(path.join(data, 'vault'))).toEqual([]);

        // The log's last page may still hold a few lines: fill it with the smallest commands
        // until one is refused, so that no checkpoint line (three hashes) fits either.
        let refused: unknown;
        for (let i = 0; i < 200 && refused === undefined; i++) {
          try {
            acks.push(...(await engine.run({ cmd: 'kv.put', data: { key: 'z', value: 0 } })).acks);
          } catch (err) {
            refused = err;
          }
        }
        expect(codeOf(refused)).toBe('STELE_E_DISK_FULL');
        await engine.settled();
        const size = engine.log.writer.status().size;
        const checkpoint = await caughtSteleError(engine.checkpoint());
        expect(checkpoint.code).toBe('STELE_E_DISK_FULL');
        expect(checkpoint.where).toMatchObject({ file: path.join(data, 'events.ndjson'), seq: size });
        expectAckedOnce(data, acks);
      } finally {
        fs.rmSync(filler);
      }
      await engine.settled();
      const file = await engine.snapshot();
      expect(listSnapshots(data).map((s) => s.file)).toEqual([file]);
      const stored = await putBundle(engine, randomBytes(256 * 1024), 'application/octet-stream');
      expect(stored.stored).toBe(true);
      const cp = await engine.checkpoint();
      expect(cp).toBeDefined();
      acks.push(...stored.command.acks, cp!);
      expectAckedOnce(data, acks);
    } finally {
      await engine.close();
    }
    expectVerifies(data);
  });
});

describe.skipIf(unavailable !== undefined)('the data directory made read-only under stele serve (a read-only bind mount over it)', () => {
  it('refuses what needs a new file (a bundle) with 503 STELE_E_DATA_DIR_UNWRITABLE; the open log keeps every acknowledged event', async () => {
    // A read-only remount of the file system itself is refused by the kernel while the
    // writer holds the log open for writing (EBUSY); what an operator can do is mount the
    // directory read-only over itself. The open log stays on the writable mount below.
    const root = mountTmpfs(8 * 1024 * 1024);
    const data = path.join(root, 'data');
    initDataDir(data);
    const service = await startServe(data);
    const acked: { seq: number; hash: string }[] = [];
    const first = await command(service.url, put('rw', 0));
    expect(first.status).toBe(200);
    acked.push(...first.json.acks!);
    run('mount', ['--bind', data, data]);
    let bound = true;
    try {
      run('mount', ['-o', 'remount,ro,bind', data]);
      const bundle = await request<CommandAnswer>(service.url, '/v1/bundles', { method: 'PUT', body: randomBytes(4096), auth: true, headers: { 'content-type': 'application/octet-stream' } });
      expect(bundle.status).toBe(503);
      expect(bundle.json.error).toMatchObject({ code: 'STELE_E_DATA_DIR_UNWRITABLE' });
      expect(bundle.json.error!.fix).toBeTruthy();
      const cmd = await command(service.url, put('ro', 0));
      expect(cmd.status).toBe(200);
      acked.push(...cmd.json.acks!);
      const events = await request(service.url, '/v1/events?limit=10');
      expect(events.status).toBe(200);
      run('umount', [data]);
      bound = false;
    } finally {
      if (bound) spawnSync('umount', [data]);
    }
    expect((await service.stop()).code).toBe(0);
    expectAckedOnce(data, acked);
    expectVerifies(data);
  });
});

describe('the data directory removed under stele serve', () => {
  it('refuses the next command with 503 (DATA_DIR_MISSING, or LOCKED once the lock refresh noticed), never acknowledges, keeps serving reads, does not crash', async () => {
    const root = tempDir('stele-removed-');
    const data = path.join(root, 'data');
    initDataDir(data);
    const service = await startServe(data);
    const acked: { seq: number; hash: string }[] = [];
    for (let i = 0; i < 5; i++) {
      const a = await command(service.url, put('x', i));
      expect(a.status).toBe(200);
      acked.push(...a.json.acks!);
    }
    const saved = fs.readFileSync(path.join(data, 'events.ndjson'));
    fs.rmSync(data, { recursive: true, force: true });
    const refused = await Promise.all(Array.from({ length: 20 }, (_, i) => command(service.url, put('gone', i))));
    for (const a of refused) {
      expect(a.status).toBe(503);
      expect(['STELE_E_DATA_DIR_MISSING', 'STELE_E_LOCKED']).toContain(a.json.error?.code);
      expect(a.json.error!.fix).toBeTruthy();
    }
    const status = await request<StatusBody>(service.url, '/v1/status');
    expect(status.status).toBe(200);
    expect(status.json.integrity.status).toBe('panic');
    expect(status.json.size).toBe(acked.length);
    const events = await request<{ events: unknown[] }>(service.url, '/v1/events?limit=10');
    expect(events.status).toBe(200);
    expect(service.child.exitCode).toBeNull();
    // None of the 20 was acknowledged (above, and the size did not grow); what was acknowledged
    // before the removal is what the operator's copy of the file holds, once and in order.
    fs.mkdirSync(data, { recursive: true });
    fs.writeFileSync(path.join(data, 'events.ndjson'), saved);
    expectAckedOnce(data, acked);
    await service.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });
});

describe('the writer lock deleted under stele serve', () => {
  it('the writer notices at its next refresh: status shows the fault, commands get 503 STELE_E_LOCKED, acknowledged events stay', async () => {
    const root = tempDir('stele-lock-');
    const data = path.join(root, 'data');
    initDataDir(data);
    const service = await startServe(data);
    const acked: { seq: number; hash: string }[] = [];
    const a = await command(service.url, put('l', 0));
    expect(a.status).toBe(200);
    acked.push(...a.json.acks!);
    fs.rmSync(path.join(data, 'writer.lock'), { recursive: true, force: true });
    const status = await waitFor('the lost lock in the status', async () => {
      const s = await request<StatusBody>(service.url, '/v1/status');
      return s.json.integrity.status === 'panic' ? s.json : undefined;
    });
    expect(status.integrity.fault?.code).toBe('STELE_E_LOCKED');
    const refused = await command(service.url, put('l', 1));
    expect(refused.status).toBe(503);
    expect(refused.json.error).toMatchObject({ code: 'STELE_E_LOCKED', where: { file: path.join(data, 'writer.lock') } });
    expect(refused.json.error!.fix).toBeTruthy();
    expect(service.child.exitCode).toBeNull();
    await service.stop();
    expectAckedOnce(data, acked);
    expectVerifies(data);
    fs.rmSync(root, { recursive: true, force: true });
  });
});

function tempFilesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((n) => n.includes('.tmp-'));
}
