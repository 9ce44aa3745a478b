/**
 * The layout of a data directory and the checks before opening it (DESIGN.md §6 step 1).
 *
 *   <data>/stele.json          marker: format id and version, written by `stele init`
 *   <data>/events.ndjson       the log (DESIGN.md §2), the only source of truth
 *   <data>/index/tree.hashes   derived: RFC 6962 stored hashes, rebuilt when missing or wrong
 *   <data>/quarantine/         torn tails moved aside on writer open
 *   <data>/writer.lock/        the single-writer lock (proper-lockfile), owner.json inside
 *   <data>/vault/ab/<sha256>   content-addressed bundles (src/store/vault-store.ts)
 *   <data>/keys/<keyId>.pub    public keys of the writers that signed checkpoints (src/crypto/keys.ts)
 */
import fs from 'node:fs';
import path from 'node:path';
import { isSteleError, steleError } from '../errors.js';

export const dataFormat = { format: 'stele-data', version: 1 } as const;

export interface DataPaths {
  dir: string;
  marker: string;
  log: string;
  indexDir: string;
  treeFile: string;
  quarantineDir: string;
  /** Content-addressed bundles, `vault/<first two hex chars>/<sha256>`; created on the first put. */
  vaultDir: string;
}

export function dataPaths(dir: string): DataPaths {
  const abs = path.resolve(dir);
  return {
    dir: abs,
    marker: path.join(abs, 'stele.json'),
    log: path.join(abs, 'events.ndjson'),
    indexDir: path.join(abs, 'index'),
    treeFile: path.join(abs, 'index', 'tree.hashes'),
    quarantineDir: path.join(abs, 'quarantine'),
    vaultDir: path.join(abs, 'vault'),
  };
}

/**
 * Creates a data directory (and its parents) with an empty log. Idempotent on a directory
 * that is already a stele data directory; refuses a non-empty directory that is not one,
 * except what an init killed before its marker leaves (see `isInterruptedInit`), which it
 * finishes. Returns whether anything was created.
 */
export function initDataDir(dir: string): { paths: DataPaths; created: boolean } {
  const paths = dataPaths(dir);
  if (fs.existsSync(paths.marker)) {
    readMarker(paths);
    return { paths, created: false };
  }
  try {
    fs.mkdirSync(paths.dir, { recursive: true });
    const entries = fs.readdirSync(paths.dir).filter((e) => !e.startsWith('.'));
    if (entries.length > 0 && !isInterruptedInit(paths, entries)) {
      throw steleError('STELE_E_DATA_DIR_NOT_EMPTY', `${paths.dir} is not empty and is not a stele data directory`, {
        where: { file: paths.dir },
        fix: 'choose an empty or new directory for --data',
        detail: { entries: entries.slice(0, 10) },
      });
    }
    fs.mkdirSync(paths.indexDir, { recursive: true });
    fs.mkdirSync(paths.quarantineDir, { recursive: true });
    const logFd = fs.openSync(paths.log, 'a', 0o644);
    fs.fsyncSync(logFd);
    fs.closeSync(logFd);
    // The marker is written last and atomically: a directory with a marker is complete.
    const tmp = `${paths.marker}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(dataFormat) + '\n', { mode: 0o644 });
    fsyncFile(tmp);
    fs.renameSync(tmp, paths.marker);
    fsyncDir(paths.dir);
  } catch (err) {
    if (isSteleError(err)) throw err;
    throw dirError(err, paths.dir);
  }
  return { paths, created: true };
}

/**
 * True when `entries` are exactly what `initDataDir` creates before its marker: the empty
 * `index/` and `quarantine/`, an empty log and the marker's temp file. A crash there (a
 * `stele serve` killed during its first start) must not leave a directory that every later
 * start refuses as "not empty"; an empty log holds nothing to lose, so the init is finished.
 * Anything more (a byte in the log, another file) is refused as before.
 */
function isInterruptedInit(paths: DataPaths, entries: readonly string[]): boolean {
  return entries.every((name) => {
    const file = path.join(paths.dir, name);
    const stat = fs.lstatSync(file);
    if (file === paths.indexDir || file === paths.quarantineDir) return stat.isDirectory() && fs.readdirSync(file).length === 0;
    if (file === paths.log) return stat.isFile() && stat.size === 0;
    return file === `${paths.marker}.tmp` && stat.isFile();
  });
}

/** Checks a data directory before opening it; `writable` also checks write permission. */
export function checkDataDir(dir: string, writable: boolean): DataPaths {
  const paths = dataPaths(dir);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(paths.dir);
  } catch {
    throw steleError('STELE_E_DATA_DIR_MISSING', `data directory ${paths.dir} does not exist`, {
      where: { file: paths.dir },
      fix: `create it with: stele init --data ${dir}`,
    });
  }
  if (!stat.isDirectory()) {
    throw steleError('STELE_E_DATA_DIR_MISSING', `${paths.dir} is not a directory`, {
      where: { file: paths.dir },
      fix: 'point --data at a stele data directory',
    });
  }
  if (!fs.existsSync(paths.marker)) {
    throw steleError('STELE_E_DATA_DIR_NOT_INITIALIZED', `${paths.dir} is not a stele data directory (no stele.json)`, {
      where: { file: paths.dir },
      fix: `initialise it with: stele init --data ${dir}`,
    });
  }
  readMarker(paths);
  if (writable) {
    try {
      fs.accessSync(paths.dir, fs.constants.W_OK);
      fs.accessSync(paths.log, fs.constants.W_OK);
    } catch (err) {
      throw steleError('STELE_E_DATA_DIR_UNWRITABLE', `data directory ${paths.dir} is not writable by this user`, {
        where: { file: paths.dir },
        fix: 'fix its permissions (chown/chmod) or mount it read-write; read-only commands and the observer work without write access',
        cause: err,
      });
    }
  }
  return paths;
}

function readMarker(paths: DataPaths): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(paths.marker, 'utf8'));
  } catch (err) {
    throw steleError('STELE_E_DATA_DIR_NOT_INITIALIZED', `cannot read ${paths.marker}: ${(err as Error).message}`, {
      where: { file: paths.marker },
      fix: 'restore stele.json from a backup: it is {"format":"stele-data","version":1}',
    });
  }
  const marker = parsed as { format?: unknown; version?: unknown };
  if (marker.format !== dataFormat.format || marker.version !== dataFormat.version) {
    throw steleError('STELE_E_DATA_DIR_NOT_INITIALIZED', `${paths.marker} names an unsupported format`, {
      where: { file: paths.marker },
      expected: JSON.stringify(dataFormat),
      found: JSON.stringify(parsed),
      fix: 'use the stele version that wrote this directory',
    });
  }
}

export function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Makes a rename or create in `dir` durable (POSIX needs the directory itself fsynced). */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The temp file of `writeFileDurable`: `<file>.tmp-<pid>`. */
const durableTempPattern = /\.tmp-\d+$/;

/** Writes a file atomically and durably: temp file, fsync, rename, directory fsync. */
export function writeFileDurable(file: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data, { mode });
  fsyncFile(tmp);
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}

/**
 * Removes the temp files that `writeFileDurable` calls interrupted by a crash left in `dir`
 * (a quarantine file, a keyring key): never read (their names match nothing), but without
 * this they would stay forever. Writers only, under the writer lock, so no write of another
 * process is in flight. A missing directory has none. Returns the names removed.
 */
export function cleanDurableTemps(dir: string): string[] {
  try {
    const removed = fs.readdirSync(dir).filter((name) => durableTempPattern.test(name));
    for (const name of removed) fs.rmSync(path.join(dir, name), { force: true });
    return removed;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw dirError(err, dir);
  }
}

export function dirError(err: unknown, dir: string) {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return steleError('STELE_E_DATA_DIR_UNWRITABLE', `cannot write in ${dir}: ${code}`, {
      where: { file: dir },
      fix: 'choose a directory this user can write, or fix its permissions',
      cause: err,
    });
  }
  if (code === 'ENOSPC') {
    return steleError('STELE_E_DISK_FULL', `no space left on the device of ${dir}`, { where: { file: dir }, fix: 'free disk space, then retry', cause: err });
  }
  return steleError('STELE_E_IO', `cannot prepare ${dir}: ${(err as Error).message}`, { where: { file: dir }, fix: 'check the path and its file system', cause: err });
}
