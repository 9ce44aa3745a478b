/**
 * The single-writer lock of a data directory.
 *
 * Mutual exclusion comes from proper-lockfile (an atomic `mkdir` of `<data>/writer.lock`,
 * whose mtime the holder refreshes; a lock not refreshed for `lockStaleMs` is stale and may
 * be taken over). Inside the lock directory the holder writes `owner.json` (pid, host,
 * start time, a random nonce) so a refused writer can name the holder.
 *
 * Taking over a lock left by a dead process: waiting for staleness is safe but slow, so
 * when the owner recorded in the lock is a process on this host that no longer exists, the
 * contender removes the lock, under a second short-lived proper-lockfile lock
 * (`writer.takeover.lock`) that serialises contenders, and only after re-reading
 * `owner.json` and finding the same dead owner (pid and nonce). Two contenders therefore
 * never both remove a lock: the second one re-reads and finds a live owner or no lock.
 * A reused pid makes a dead holder look alive; then staleness (mtime) still frees the lock.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { steleError } from '../errors.js';

/** How long a lock whose holder stopped refreshing it stays valid. */
export const lockStaleMs = 10_000;
/** How often the holder refreshes the lock's mtime. */
export const lockUpdateMs = 2_000;

export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
  nonce: string;
}

export interface WriterLock {
  readonly owner: LockOwner;
  /** Set when proper-lockfile reports the lock compromised (deleted or taken under us). */
  readonly compromised: Error | undefined;
  release(): Promise<void>;
}

const lockDirName = 'writer.lock';

/** Acquires the writer lock of `dataDir` or throws STELE_E_LOCKED naming the holder. */
export async function acquireWriterLock(dataDir: string, onCompromised?: (err: Error) => void): Promise<WriterLock> {
  const lockPath = path.join(dataDir, lockDirName);
  const owner: LockOwner = {
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    nonce: randomBytes(8).toString('hex'),
  };
  let compromised: Error | undefined;
  const options: lockfile.LockOptions = {
    stale: lockStaleMs,
    update: lockUpdateMs,
    realpath: false,
    lockfilePath: lockPath,
    onCompromised: (err: Error) => {
      compromised = err;
      onCompromised?.(err);
    },
  };
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dataDir, options);
  } catch (err) {
    if (!isLockedError(err)) throw wrapLockIo(err, lockPath);
    const holder = readOwner(lockPath);
    if (holder === undefined || !(await takeOverIfDead(dataDir, lockPath, holder))) {
      throw lockedError(lockPath, holder);
    }
    try {
      release = await lockfile.lock(dataDir, options);
    } catch (err2) {
      if (!isLockedError(err2)) throw wrapLockIo(err2, lockPath);
      throw lockedError(lockPath, readOwner(lockPath));
    }
  }
  try {
    // Creating owner.json changes the lock directory's mtime, which proper-lockfile uses as
    // its heartbeat and compares at each refresh: restore it, or the first refresh (after
    // lockUpdateMs) would declare the lock compromised.
    const before = fs.statSync(lockPath);
    writeOwner(lockPath, owner);
    fs.utimesSync(lockPath, before.atime, before.mtime);
  } catch (err) {
    await release().catch(() => undefined);
    throw wrapLockIo(err, lockPath);
  }
  return {
    owner,
    get compromised() {
      return compromised;
    },
    async release() {
      try {
        fs.rmSync(path.join(lockPath, 'owner.json'), { force: true });
      } catch {
        // The lock directory is removed next; a leftover owner file inside it cannot outlive it.
      }
      await release().catch((err: unknown) => {
        if (compromised === undefined) throw wrapLockIo(err, lockPath);
      });
    },
  };
}

/** Reads the holder of the lock, if the lock exists and names one. */
export function readOwner(lockPath: string): LockOwner | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(lockPath, 'owner.json'), 'utf8')) as Partial<LockOwner>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string' || typeof parsed.nonce !== 'string') return undefined;
    return { pid: parsed.pid, host: parsed.host, nonce: parsed.nonce, startedAt: String(parsed.startedAt) };
  } catch {
    return undefined;
  }
}

function writeOwner(lockPath: string, owner: LockOwner): void {
  const file = path.join(lockPath, 'owner.json');
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(owner) + '\n', { mode: 0o644 });
  fs.renameSync(tmp, file);
}

/** True when `pid` names no live process on this host. */
export function processIsDead(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function takeOverIfDead(dataDir: string, lockPath: string, holder: LockOwner): Promise<boolean> {
  if (holder.host !== os.hostname() || !processIsDead(holder.pid)) return false;
  let releaseTakeover: () => Promise<void>;
  try {
    releaseTakeover = await lockfile.lock(dataDir, {
      stale: 2_000,
      realpath: false,
      lockfilePath: path.join(dataDir, 'writer.takeover.lock'),
      retries: { retries: 20, minTimeout: 20, maxTimeout: 200 },
    });
  } catch {
    return false;
  }
  try {
    const again = readOwner(lockPath);
    if (again === undefined || again.nonce !== holder.nonce || again.pid !== holder.pid) return again === undefined;
    fs.rmSync(lockPath, { recursive: true, force: true });
    return true;
  } finally {
    await releaseTakeover().catch(() => undefined);
  }
}

function isLockedError(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ELOCKED';
}

function lockedError(lockPath: string, holder: LockOwner | undefined) {
  const who = holder === undefined ? 'another writer (starting up)' : `pid ${holder.pid} on ${holder.host} since ${holder.startedAt}`;
  return steleError('STELE_E_LOCKED', `the data directory is locked by ${who}`, {
    where: { file: lockPath },
    fix: 'stop the other writer first, or use a read-only command (status, verify, log, prove); a lock left by a crashed process is taken over automatically',
    detail: holder === undefined ? {} : { pid: holder.pid, host: holder.host, startedAt: holder.startedAt },
  });
}

function wrapLockIo(err: unknown, lockPath: string) {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM') {
    return steleError('STELE_E_DATA_DIR_UNWRITABLE', `cannot create the writer lock: ${code}`, {
      where: { file: lockPath },
      fix: 'give this user write permission on the data directory, or use a read-only command / the observer',
      cause: err,
    });
  }
  return steleError('STELE_E_IO', `cannot take the writer lock: ${(err as Error).message}`, {
    where: { file: lockPath },
    fix: 'check the data directory and its file system',
    cause: err,
  });
}
