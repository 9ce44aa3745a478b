/**
 * Online backup and restore (issue #6): a consistent copy of a data directory, made while its
 * writer keeps writing, verified completely before it is installed.
 *
 * One pipeline for both commands (`backupDir`, `restoreDir`):
 * 1. cut: where the copied log ends (src/backup/plan.ts) — the newest complete checkpoint, or
 *    for a restore `--at` the chosen event;
 * 2. copy into a temp directory beside the target: `stele.json`, the log up to the cut,
 *    `keys/*.pub`, the snapshots within the cut; replay the copy from genesis (chain, canonical
 *    form, schema, every checkpoint's roots and signature, the invariants) comparing every
 *    copied snapshot with the state derived at its size; then copy the vault bundles the
 *    derived state records and the quarantine files the copied log names, and re-hash the
 *    copied bundles against their records (src/forensic, `auditVault`); every file and
 *    directory is fsynced;
 * 3. check that the source still holds the last copied line where it was read (a writer cuts
 *    back a batch that failed before it was acknowledged);
 * 4. install: rename the temp directory to the target, fsync its parent.
 *
 * Invariants:
 * - Read-only on the source: every source file is opened 'r'; no lock is taken there.
 * - Nothing is installed unless every check passed; on any failure the temp directory is
 *   removed and the target is as it was.
 * - Not copied: `index/` (derived, rebuilt by the writer), `writer.lock/`, `service.token`
 *   (a secret), torn files no copied event names (a writer would record them anew).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { PublicKey } from '../crypto/keys.js';
import { isSteleError, steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { emptyChecked } from '../forensic/auditor.js';
import { auditVault } from '../forensic/audit.js';
import { compareSnapshot, snapshotUnusable } from '../forensic/compare.js';
import { FindingList } from '../forensic/finding.js';
import { divergenceError } from '../forensic/report.js';
import { resolveAt } from '../history/at.js';
import type { AtSpec } from '../history/at.js';
import { toHex, zeroHash64 } from '../hash/hex.js';
import { sha256, sha256Hex } from '../hash/sha256.js';
import { LogSeeker } from '../log/seek.js';
import { emptyRoot } from '../merkle/log-tree.js';
import { replayPaths } from '../runtime/replay.js';
import type { MachineOptions } from '../runtime/machine.js';
import { StateMachine } from '../runtime/machine.js';
import type { CheckpointSummary } from '../runtime/replay-sink.js';
import { acquireWriterLock } from '../store/lock.js';
import { checkDataDir, dataPaths, fsyncDir, fsyncFile } from '../store/data-dir.js';
import type { DataPaths } from '../store/data-dir.js';
import { ioError, openFile, readChunkBytes } from '../store/file-store.js';
import { nodeFileOps, writeAll } from '../store/file-ops.js';
import { listSnapshots, readSnapshot, snapshotsDir } from '../store/snapshot-store.js';
import { VaultStore } from '../store/vault-store.js';
import type { LogCut } from './plan.js';
import { checkpointOf, completeEnd, cutSearchChunkBytes, publicKeyFilePattern, quarantineToCopy, searchCheckpoint, snapshotsWithin } from './plan.js';

export type CopyPhase = 'copy' | 'verify';

export interface CopyOptions extends MachineOptions {
  logger?: Logger;
  /** Public keys pinned for checkpoint signatures, beside the copied keyring. */
  publicKeys?: readonly PublicKey[];
  /** Progress of the log copy and of the verifying replay, in bytes. */
  onProgress?: (phase: CopyPhase, done: number, total: number) => void;
}

/** What a backup or restore copied and verified. */
export interface CopySummary {
  source: string;
  target: string;
  /** Events in the copy. */
  size: number;
  logRoot: string;
  stateRoot: string;
  headHash: string;
  /** The checkpoint the copied log ends with; null when it does not end with one. */
  checkpoint: LogCut['checkpoint'];
  /** Bytes of the copied log. */
  logBytes: number;
  /** Bytes of every file copied (log, marker, keys, snapshots, bundles, quarantine). */
  bytesCopied: number;
  files: { snapshots: number; bundles: number; keys: number; quarantine: number };
  checkpoints: Pick<CheckpointSummary, 'logRootsChecked' | 'stateRootsChecked' | 'signed' | 'signaturesVerified'>;
  /** Things worth knowing that did not stop the copy. */
  warnings: string[];
  ms: { copy: number; verify: number; total: number };
}

export interface RestoreOptions extends CopyOptions {
  /** Restore the log only up to this position (`--at SEQ` / `--at-time ISO`). */
  at?: AtSpec;
  /** Replace a non-empty target: its old contents are moved to `<DIR>.replaced-<ts>`. */
  force?: boolean;
  /** The time stamp of the moved-aside directory's name (tests fix it). */
  now?: () => Date;
}

export interface RestoreSummary extends CopySummary {
  /** Where a non-empty target's old contents went (`--force`), or null. */
  replaced: string | null;
}

/**
 * `stele backup DEST`: copies the data directory `src` (a writer may be running on it) into
 * `dest`, which must not exist or be empty (STELE_E_DATA_DIR_NOT_EMPTY otherwise, nothing
 * written). See the file header for what is copied and checked.
 */
export async function backupDir(src: string, dest: string, options: CopyOptions = {}): Promise<CopySummary> {
  const started = performance.now();
  const source = checkDataDir(src, false);
  const target = path.resolve(dest);
  refuseNested(source.dir, target);
  if (!isEmptyOrAbsent(target)) throw notEmpty(target, 'choose a new or empty directory for the backup');
  const cut = findCut(source);
  const summary = await copyVerified(source, target, cut, options, started);
  try {
    installOver(summary.tmp, target);
  } catch (err) {
    removeTemp(summary.tmp);
    throw err;
  }
  options.logger?.info(summary.out, 'backup written');
  return summary.out;
}

/**
 * `stele restore SRC --data DIR [--at SEQ]`: verifies a copy of `src` (a backup or a data
 * directory) completely, then installs it as `dir`. A non-empty `dir` is refused unless
 * `force`, and refused while a writer holds its lock (STELE_E_LOCKED).
 */
export async function restoreDir(src: string, dir: string, options: RestoreOptions = {}): Promise<RestoreSummary> {
  const started = performance.now();
  const source = checkDataDir(src, false);
  const target = path.resolve(dir);
  refuseNested(source.dir, target);
  const empty = isEmptyOrAbsent(target);
  if (!empty && options.force !== true) {
    throw notEmpty(target, `restore into a new or empty directory, or pass --force to move the current contents aside to ${path.basename(target)}.replaced-<time> first`);
  }
  // Refuse early, before the long copy, when a writer runs on the target; checked again at the swap.
  if (!empty) await (await lockTarget(target)).release();
  const cut = options.at === undefined ? findCut(source) : cutAt(source, options.at);
  const made = await copyVerified(source, target, cut, options, started);
  let replaced: string | null = null;
  try {
    if (isEmptyOrAbsent(target)) installOver(made.tmp, target);
    else {
      if (options.force !== true) throw notEmpty(target, 'the directory was filled during the restore; restore again');
      replaced = await swapIn(made.tmp, target, (options.now ?? (() => new Date()))());
    }
  } catch (err) {
    removeTemp(made.tmp);
    throw err;
  }
  const out: RestoreSummary = { ...made.out, replaced };
  options.logger?.info(out, 'restore installed');
  return out;
}

// ---------------------------------------------------------------------------------------
// The cut

/** The default cut: the newest complete checkpoint line, else the last complete line. */
export function findCut(source: DataPaths): LogCut {
  const fd = openFile(source.log, 'r');
  try {
    flushSource(fd, source.log);
    const fileBytes = fs.fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(cutSearchChunkBytes);
    const read = (start: number, end: number): Buffer => {
      const n = readAt(fd, buf, start, end - start, source.log);
      return buf.subarray(0, n);
    };
    // The end of the last complete line.
    let lastEnd: number | undefined;
    for (let end = fileBytes; end > 0 && lastEnd === undefined; ) {
      const start = Math.max(0, end - cutSearchChunkBytes);
      lastEnd = completeEnd(read(start, end), start);
      end = start;
    }
    if (lastEnd === undefined) return { size: 0, bytes: 0, checkpoint: null, last: null };
    for (let end = lastEnd; ; ) {
      const start = Math.max(0, end - cutSearchChunkBytes);
      const step = searchCheckpoint(read(start, end), start, end);
      if (step.kind === 'found') {
        const line = Buffer.from(read(step.start, step.end - 1));
        const checkpoint = checkpointOf(line.toString('utf8'));
        return { size: checkpoint.seq + 1, bytes: step.end, checkpoint, last: { start: step.start, sha256: sha256Hex(line) } };
      }
      if (step.kind === 'none') break;
      if (step.end === end && start > 0) throw lineTooLong(source, end);
      end = step.end;
    }
    // No checkpoint anywhere: the last complete line.
    const seeker = new LogSeeker(source.log);
    try {
      const size = seeker.count();
      const start = seeker.offsetOfSeq(size - 1);
      const line = seeker.lineAt(start)!;
      return { size, bytes: start + line.length + 1, checkpoint: null, last: { start, sha256: sha256Hex(line) } };
    } finally {
      seeker.close();
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Makes every byte the writer has written so far durable before the cut is read: on Linux an
 * fdatasync through any descriptor of a file (read-only too) flushes all its dirty pages. So a
 * backup never holds a line that the writer wrote but had not fsynced yet, which a power
 * failure of the source's host could still take away (the writer never acknowledged it). A
 * read-only mount has nothing dirty to flush (EROFS/EINVAL are fine); an I/O error means the
 * source's disk is failing, and the backup refuses.
 */
function flushSource(fd: number, file: string): void {
  try {
    fs.fdatasyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EROFS' || code === 'EINVAL' || code === 'EBADF') return;
    throw ioError(err, file, 'fdatasync');
  }
}

/** The cut right after position `at` (the meaning of `stele replay --at`: after event SEQ). */
export function cutAt(source: DataPaths, at: AtSpec): LogCut {
  const size = resolveAt(source.dir, at);
  if (size === 0) return { size: 0, bytes: 0, checkpoint: null, last: null };
  const seeker = new LogSeeker(source.log);
  try {
    const start = seeker.offsetOfSeq(size - 1);
    const line = seeker.lineAt(start)!;
    const text = line.toString('utf8');
    const isCheckpoint = (JSON.parse(text) as { type?: unknown }).type === 'stele.checkpoint';
    return { size, bytes: start + line.length + 1, checkpoint: isCheckpoint ? checkpointOf(text) : null, last: { start, sha256: sha256Hex(line) } };
  } finally {
    seeker.close();
  }
}

// ---------------------------------------------------------------------------------------
// Copy and verify

interface Made {
  tmp: string;
  out: CopySummary;
}

async function copyVerified(source: DataPaths, target: string, cut: LogCut, options: CopyOptions, started: number): Promise<Made> {
  const tmp = `${target}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.mkdirSync(tmp, { mode: 0o755 });
  } catch (err) {
    throw ioError(err, tmp, 'create');
  }
  try {
    return await copyInto(source, tmp, target, cut, options, started);
  } catch (err) {
    removeTemp(tmp);
    throw err;
  }
}

async function copyInto(source: DataPaths, tmp: string, target: string, cut: LogCut, options: CopyOptions, started: number): Promise<Made> {
  const copy = dataPaths(tmp);
  const warnings: string[] = [];
  let bytesCopied = 0;
  bytesCopied += copyFile(source.marker, copy.marker);
  bytesCopied += copyLogPrefix(source.log, copy.log, cut.bytes, options);
  const keys = listNames(path.join(source.dir, 'keys')).filter((n) => publicKeyFilePattern.test(n));
  for (const k of keys) bytesCopied += copyFile(path.join(source.dir, 'keys', k), path.join(copy.dir, 'keys', k));
  const snapshots = snapshotsWithin(listSnapshots(source.dir), cut.size);
  for (const s of snapshots) bytesCopied += copyFile(s.file, path.join(snapshotsDir(copy.dir), path.basename(s.file)));
  const copyMs = performance.now() - started;

  // Replay the copy from genesis, comparing each copied snapshot when the state reaches its size.
  const verifyStarted = performance.now();
  const findings = new FindingList();
  const machineOptions = { ...(options.modules === undefined ? {} : { modules: options.modules }), ...(options.registry === undefined ? {} : { registry: options.registry }) };
  const prefixes = new StateMachine(machineOptions).modules.flatMap((m) => m.keyPrefixes);
  const pending = new Map(listSnapshots(copy.dir).map((s) => [s.size, s.file]));
  const recorded = new Set<string>();
  const compareAt = (size: number, headHash: string, headTs: string, logRoot: string, machine: StateMachine): void => {
    const file = pending.get(size);
    if (file === undefined) return;
    pending.delete(size);
    const label = path.join('snapshots', path.basename(file));
    const derived = { stateRoot: machine.stateRoot(), modules: machine.modules.map((m): [string, number] => [m.name, m.version]), parts: machine.moduleParts(), entries: machine.entries.entries() };
    let parsed;
    try {
      parsed = readSnapshot(file, prefixes);
    } catch (err) {
      if (!isSteleError(err)) throw err;
      findings.add(snapshotUnusable(label, size, err));
      return;
    }
    for (const f of compareSnapshot(label, parsed, { size, headHash, headTs, logRoot }, derived)) findings.add(f);
  };
  compareAt(0, zeroHash64, '', toHex(emptyRoot(sha256)), new StateMachine(machineOptions));
  const onProgress = options.onProgress;
  const replayed = await replayPaths(copy, {
    ...machineOptions,
    snapshot: false,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.publicKeys === undefined ? {} : { publicKeys: options.publicKeys }),
    ...(onProgress === undefined ? {} : { onProgress: (done: number, total: number) => onProgress('verify', done, total) }),
    afterLine: (checked, machine, frontier) => {
      if (checked.event.type === 'stele.recovered' && typeof checked.event.data.file === 'string') recorded.add(path.basename(checked.event.data.file));
      if (pending.has(checked.event.seq + 1)) compareAt(checked.event.seq + 1, checked.hash, checked.event.ts, toHex(frontier.root()), machine);
    },
  });
  if (replayed.fault !== undefined) throw inSource(replayed.fault, source);
  if (replayed.stats.size !== cut.size) throw new Error(`stele bug: the copy holds ${replayed.stats.size} events, the cut ${cut.size}`);

  // The bundles the copied log records, and the quarantine files it names.
  const machine = replayed.machine;
  const bundlesStarted = performance.now();
  const sourceVault = new VaultStore(source.dir, { readOnly: true });
  const copyVault = new VaultStore(copy.dir, { readOnly: true });
  let bundles = 0;
  for (const [key] of machine.entries.list('bundle:')) {
    const sha = key.slice('bundle:'.length);
    const from = sourceVault.pathOf(sha);
    if (!fs.existsSync(from)) continue; // reported by the vault audit below, naming the file
    bytesCopied += copyFile(from, copyVault.pathOf(sha));
    bundles++;
  }
  const quarantine = quarantineToCopy(listNames(source.quarantineDir), recorded);
  for (const q of quarantine) bytesCopied += copyFile(path.join(source.quarantineDir, q), path.join(copy.quarantineDir, q));
  for (const name of recorded) if (!quarantine.includes(name)) warnings.push(`quarantine/${name}, named by a stele.recovered event, is not in the source: not copied`);
  syncTree(copy.dir);
  const bundlesMs = performance.now() - bundlesStarted;

  // The copied bundles, re-hashed against the records (missing or altered: a divergence).
  const checked = emptyChecked();
  await auditVault(copy, machine, true, findings, checked);
  for (const s of pending.values()) findings.add({ kind: 'snapshot', severity: 'divergence', message: `snapshot ${path.basename(s)} was not reached by the replay`, where: { file: s } });
  const first = findings.first;
  if (first !== undefined) throw inSource(divergenceError(first, findings.divergences), source);
  if (cut.checkpoint === null && cut.size > 0) warnings.push(`the copied log does not end with a checkpoint: its ${cut.size} events are verified line by line, but no checkpoint in it commits to the roots of the whole copy`);
  for (const w of findings.list().findings) warnings.push(w.message);

  // The source must still hold the last copied line where it was read (see the file header).
  if (cut.last !== null) checkStillThere(source, cut);
  const stats = replayed.stats;
  const c = stats.checkpoints;
  return {
    tmp,
    out: {
      source: source.dir,
      target,
      size: stats.size,
      logRoot: stats.logRoot,
      stateRoot: stats.stateRoot,
      headHash: stats.headHash,
      checkpoint: cut.checkpoint,
      logBytes: cut.bytes,
      bytesCopied,
      files: { snapshots: snapshots.length, bundles, keys: keys.length, quarantine: quarantine.length },
      checkpoints: { logRootsChecked: c.logRootsChecked, stateRootsChecked: c.stateRootsChecked, signed: c.signed, signaturesVerified: c.signaturesVerified },
      warnings,
      ms: { copy: round(copyMs + bundlesMs), verify: round(performance.now() - verifyStarted - bundlesMs), total: round(performance.now() - started) },
    },
  };
}

/** Copies the first `bytes` bytes of the log, fsynced. */
function copyLogPrefix(from: string, to: string, bytes: number, options: CopyOptions): number {
  const src = openFile(from, 'r');
  let dst: number | undefined;
  try {
    dst = fs.openSync(to, 'wx', 0o644);
    const buf = Buffer.allocUnsafe(readChunkBytes);
    let done = 0;
    while (done < bytes) {
      const n = readAt(src, buf, done, Math.min(buf.length, bytes - done), from);
      if (n === 0) throw steleError('STELE_E_IO', `the log ${from} ended at byte ${done} while ${bytes} bytes were being copied`, { where: { file: from, offset: done }, fix: 'the log shrank under the copy: run stele verify on the source' });
      writeAll(nodeFileOps, dst, buf.subarray(0, n), done);
      done += n;
      options.onProgress?.('copy', done, bytes);
    }
    fs.fsyncSync(dst);
  } catch (err) {
    if (isSteleError(err)) throw err;
    throw ioError(err, to, 'write');
  } finally {
    fs.closeSync(src);
    if (dst !== undefined) fs.closeSync(dst);
  }
  return bytes;
}

/** Copies one file (creating its directory), fsynced; returns its size. */
function copyFile(from: string, to: string): number {
  try {
    fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o755 });
    fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL);
    fs.chmodSync(to, 0o644);
    fsyncFile(to);
    return fs.statSync(to).size;
  } catch (err) {
    throw ioError(err, from, 'copy');
  }
}

/** Fsyncs every directory of the copy (files are fsynced as they are written). */
function syncTree(dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) syncTree(path.join(dir, entry.name));
  fsyncDir(dir);
}

function readAt(fd: number, buf: Buffer, position: number, length: number, file: string): number {
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, done, length - done, position + done);
    } catch (err) {
      throw ioError(err, file, 'read', position + done);
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** The last copied line must still be in the source, byte for byte, where it was read. */
function checkStillThere(source: DataPaths, cut: LogCut): void {
  const last = cut.last!;
  const length = cut.bytes - last.start - 1;
  const fd = openFile(source.log, 'r');
  let found: string;
  try {
    const buf = Buffer.alloc(length + 1);
    const n = readAt(fd, buf, last.start, length + 1, source.log);
    found = n === length + 1 && buf[length] === 10 ? sha256Hex(buf.subarray(0, length)) : 'a shorter log';
  } finally {
    fs.closeSync(fd);
  }
  if (found !== last.sha256) {
    throw steleError('STELE_E_INTEGRITY_ALARM', `the source log changed under the copy: event ${cut.size - 1} is no longer the line that was copied`, {
      where: { file: source.log, seq: cut.size - 1, line: cut.size, offset: last.start },
      expected: last.sha256,
      found,
      fix: 'a writer cut back a batch it could not make durable (disk full, I/O error), or the log was replaced: run stele verify on the source, then copy again',
    });
  }
}

/** A fault found in the copy is a fault of the source's bytes: name the source. */
function inSource(err: SteleError, source: DataPaths): SteleError {
  return steleError(err.code, `the source ${source.dir} does not verify: ${err.message}`, {
    where: err.where,
    ...(err.expected === undefined ? {} : { expected: err.expected }),
    ...(err.found === undefined ? {} : { found: err.found }),
    fix: `nothing was installed. ${err.fix ?? ''} (stele --data ${source.dir} verify and stele --data ${source.dir} forensic show the same fault)`,
    ...(err.detail === undefined ? {} : { detail: err.detail }),
  });
}

// ---------------------------------------------------------------------------------------
// The target

function isEmptyOrAbsent(dir: string): boolean {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw ioError(err, dir, 'stat');
  }
  return stat.isDirectory() && fs.readdirSync(dir).length === 0;
}

function notEmpty(dir: string, fix: string): SteleError {
  const entries = fs.statSync(dir).isDirectory() ? fs.readdirSync(dir).slice(0, 10) : [];
  return steleError('STELE_E_DATA_DIR_NOT_EMPTY', `${dir} exists and is not an empty directory`, { where: { file: dir }, fix, detail: { entries } });
}

function refuseNested(source: string, target: string): void {
  const rel = path.relative(source, target);
  if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel)) || !path.relative(target, source).startsWith('..')) {
    throw steleError('STELE_E_USAGE', `the target ${target} is the source ${source}, inside it, or contains it`, {
      where: { file: target },
      fix: 'copy to a directory outside the source data directory',
    });
  }
}

/** Takes the target's writer lock: STELE_E_LOCKED while a writer runs there. */
function lockTarget(dir: string) {
  return acquireWriterLock(dir);
}

/** Renames `tmp` to `target` (absent or an empty directory) and fsyncs the parent. */
function installOver(tmp: string, target: string): void {
  try {
    fs.renameSync(tmp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') throw notEmpty(target, 'the target was filled while the copy was made; choose another');
    throw ioError(err, target, 'install the copy as');
  }
  fsyncDir(path.dirname(target));
}

/**
 * Installs `tmp` as the non-empty `target` under the target's writer lock: the old contents
 * are renamed to `<target>.replaced-<time>` (nothing is deleted), then `tmp` takes the name.
 * Between the two renames the target does not exist, so no writer can open the old contents.
 */
async function swapIn(tmp: string, target: string, now: Date): Promise<string> {
  const lock = await lockTarget(target);
  const aside = `${target}.replaced-${now.toISOString().replace(/[:.]/g, '-')}`;
  try {
    fs.renameSync(target, aside);
  } catch (err) {
    await lock.release();
    throw ioError(err, target, 'move aside');
  }
  // The lock directory went with the old contents; its release finds nothing left at the
  // target's path (proper-lockfile ignores ENOENT). It is ours: remove it from the old contents.
  await lock.release();
  fs.rmSync(path.join(aside, 'writer.lock'), { recursive: true, force: true });
  installOver(tmp, target);
  return aside;
}

function removeTemp(tmp: string): void {
  fs.rmSync(tmp, { recursive: true, force: true });
}

function listNames(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError(err, dir, 'list');
  }
}

function lineTooLong(source: DataPaths, end: number): SteleError {
  return steleError('STELE_E_LINE_TOO_LARGE', `a line ending at byte ${end} is longer than any event line`, {
    where: { file: source.log, offset: end },
    fix: `the log is damaged: run stele --data ${source.dir} verify`,
  });
}

function round(ms: number): number {
  return Math.round(ms);
}
