/**
 * The vault's bytes: content-addressed bundles in `<data>/vault/<ab>/<sha256>`, `ab` the
 * first two hex characters of the hash (256 subdirectories keep directories small). The shell
 * half of the vault module (src/modules/vault): the shell stores the bytes here first, then
 * runs `vault.put` with the hash and size this store returned.
 *
 * Invariants:
 * - A file under a final name is always whole: bytes go to a temp file in the same
 *   directory (`<sha256>.tmp-<pid>-<n>`), are fsynced, renamed over the final name (atomic
 *   on POSIX), and the directory is fsynced (so the rename survives a crash). A crash leaves
 *   at most a temp file, which `cleanTemp` removes.
 * - Reads verify: `get` re-hashes the bytes and refuses a file whose SHA-256 is not its name
 *   (STELE_E_BUNDLE_CORRUPT), so a damaged disk is never served as a bundle.
 * - A hash argument is validated before it touches a path: exactly 64 lowercase hex
 *   characters, so no `..`, no `/`, no traversal is possible.
 * - Sizes are checked against `limits.bundleBytesMax` before anything is written (and before
 *   a stored file is read into memory).
 * - A read-only store (the observer, a read-only data directory) never writes: `put` and
 *   `cleanTemp` refuse.
 *
 * `put`, `get` and `verify` are asynchronous (a 64 MiB write and fsync must not stall the
 * writer's event loop); `has`, `pathOf` and `cleanTemp` are synchronous.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { isSteleError, steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { isHash64 } from '../hash/hex.js';
import { sha256Hex } from '../hash/sha256.js';
import { limits } from '../limits.js';
import { dataPaths } from './data-dir.js';
import { ioError } from './file-store.js';

export interface VaultStoreOptions {
  readOnly: boolean;
}

export interface VaultPutResult {
  sha256: string;
  size: number;
  /** False when an intact copy was already stored (deduplicated; nothing was written). */
  stored: boolean;
}

export type VaultVerifyResult = { ok: true; size: number } | { ok: false; size: number; found?: string };

/** Temp files of an interrupted put: `<sha256>.tmp-<pid>-<n>`. */
const tempNamePattern = /^[0-9a-f]{64}\.tmp-\d+-\d+$/;

export class VaultStore {
  readonly dir: string;
  readonly readOnly: boolean;
  readonly #dataDir: string;
  /** Temp files of puts in flight in this process, which `cleanTemp` must leave alone. */
  readonly #inFlight = new Set<string>();
  #tempCounter = 0;

  /** Touches nothing on disk: the vault directory is created by the first `put`. */
  constructor(dataDir: string, options: VaultStoreOptions) {
    const paths = dataPaths(dataDir);
    this.#dataDir = paths.dir;
    this.dir = paths.vaultDir;
    this.readOnly = options.readOnly;
  }

  /** The file of a bundle; throws STELE_E_USAGE unless `sha256` is 64 lowercase hex characters. */
  pathOf(sha256: string): string {
    if (typeof sha256 !== 'string' || !isHash64(sha256)) {
      const shown = typeof sha256 === 'string' ? JSON.stringify(sha256.length > 80 ? `${sha256.slice(0, 80)}…` : sha256) : typeof sha256;
      throw steleError('STELE_E_USAGE', `${shown} is not a bundle hash`, {
        where: { path: 'sha256' },
        expected: '64 lowercase hex characters (a SHA-256)',
        found: shown,
        fix: 'name a bundle by the sha256 its vault.put returned, e.g. from stele state list bundle:',
      });
    }
    return path.join(this.dir, sha256.slice(0, 2), sha256);
  }

  /** Whether a file is stored under `sha256` (not verified: `verify` or `get` re-hash it). */
  has(sha256: string): boolean {
    return fs.existsSync(this.pathOf(sha256));
  }

  /**
   * Stores `bytes` under their SHA-256, durably (see the file header). When an intact copy is
   * already stored, writes nothing and returns `stored: false`; a corrupt copy is replaced.
   * Throws STELE_E_INPUT_TOO_LARGE (nothing written) above `limits.bundleBytesMax`,
   * STELE_E_DATA_DIR_UNWRITABLE on a read-only store, and I/O errors with the file named.
   */
  async put(bytes: Uint8Array): Promise<VaultPutResult> {
    this.#assertWritable('store a bundle');
    const size = bytes.length;
    if (size > limits.bundleBytesMax) {
      throw steleError('STELE_E_INPUT_TOO_LARGE', `the bundle is ${size} bytes, more than the ${limits.bundleBytesMax}-byte limit`, {
        expected: `at most ${limits.bundleBytesMax} bytes`,
        found: `${size} bytes`,
        fix: 'split the content into several bundles, or store a reference to it instead',
        detail: { size, limit: limits.bundleBytesMax },
      });
    }
    const sha256 = sha256Hex(bytes);
    const file = this.pathOf(sha256);
    if (await this.#intact(file, sha256, size)) return { sha256, size, stored: false };

    const subdir = path.dirname(file);
    await this.#ensureDirs(subdir);
    const tmp = `${file}.tmp-${process.pid}-${++this.#tempCounter}`;
    this.#inFlight.add(tmp);
    try {
      let handle: fsp.FileHandle | undefined;
      try {
        handle = await fsp.open(tmp, 'wx', 0o644);
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle?.close();
      }
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw ioError(err, tmp, 'write');
    } finally {
      this.#inFlight.delete(tmp);
    }
    await syncDir(subdir);
    return { sha256, size, stored: true };
  }

  /**
   * The bytes of a bundle, re-hashed: STELE_E_NOT_FOUND when absent, STELE_E_BUNDLE_CORRUPT
   * (file named, expected and found hash) when they are not what their name says.
   */
  async get(sha256: string): Promise<Buffer> {
    const file = this.pathOf(sha256);
    const bytes = await this.#read(file, sha256);
    if (bytes === undefined) throw notFound(sha256, file);
    if (typeof bytes === 'number') throw corrupt(file, sha256, `a file of ${bytes} bytes, larger than any bundle (${limits.bundleBytesMax} bytes)`);
    const found = sha256Hex(bytes);
    if (found !== sha256) throw corrupt(file, sha256, found);
    return bytes;
  }

  /**
   * Re-hashes a stored bundle: `{ok: true, size}`, or `{ok: false, size, found}` with the hash
   * of what is there (no `found` for a file too large to be a bundle, which is not read).
   * STELE_E_NOT_FOUND when absent.
   */
  async verify(sha256: string): Promise<VaultVerifyResult> {
    const file = this.pathOf(sha256);
    const bytes = await this.#read(file, sha256);
    if (bytes === undefined) throw notFound(sha256, file);
    if (typeof bytes === 'number') return { ok: false, size: bytes };
    const found = sha256Hex(bytes);
    return found === sha256 ? { ok: true, size: bytes.length } : { ok: false, size: bytes.length, found };
  }

  /**
   * Removes the temp files interrupted puts left behind (not those of puts in flight in this
   * store). Call it when the writer opens, under the writer lock. Returns how many it removed.
   */
  cleanTemp(): number {
    this.#assertWritable('clean temp files');
    let removed = 0;
    let subdirs: string[];
    try {
      subdirs = fs.readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw ioError(err, this.dir, 'list');
    }
    for (const sub of subdirs) {
      if (!/^[0-9a-f]{2}$/.test(sub)) continue;
      const subdir = path.join(this.dir, sub);
      let names: string[];
      try {
        names = fs.readdirSync(subdir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
        throw ioError(err, subdir, 'list');
      }
      for (const name of names) {
        const file = path.join(subdir, name);
        if (!tempNamePattern.test(name) || this.#inFlight.has(file)) continue;
        try {
          fs.rmSync(file, { force: true });
        } catch (err) {
          throw ioError(err, file, 'remove');
        }
        removed++;
      }
    }
    return removed;
  }

  #assertWritable(what: string): void {
    if (!this.readOnly) return;
    throw steleError('STELE_E_DATA_DIR_UNWRITABLE', `the vault is open read-only: cannot ${what}`, {
      where: { file: this.dir },
      fix: 'store bundles through the writer (stele start, or the writer API); observers and read-only commands never write',
    });
  }

  /** Whether `file` holds exactly `size` bytes hashing to `sha256`; false when absent or different. */
  async #intact(file: string, sha256: string, size: number): Promise<boolean> {
    let stat: fs.Stats;
    try {
      stat = await fsp.stat(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw ioError(err, file, 'stat');
    }
    if (!stat.isFile() || stat.size !== size) return false;
    const bytes = await this.#read(file, sha256);
    return typeof bytes === 'object' && sha256Hex(bytes) === sha256;
  }

  /** The bytes of `file`; undefined when absent; the file's size (unread) when it is larger than any bundle. */
  async #read(file: string, sha256: string): Promise<Buffer | number | undefined> {
    let handle: fsp.FileHandle | undefined;
    try {
      handle = await fsp.open(file, 'r');
      const stat = await handle.stat();
      if (stat.size > limits.bundleBytesMax) return stat.size;
      return await handle.readFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      if (isSteleError(err)) throw err;
      throw ioError(err, file, `read bundle ${sha256}`);
    } finally {
      await handle?.close();
    }
  }

  /** Creates `<data>/vault` and `<data>/vault/ab` as needed, fsyncing each parent that got a new entry. */
  async #ensureDirs(subdir: string): Promise<void> {
    for (const [dir, parent] of [
      [this.dir, this.#dataDir],
      [subdir, this.dir],
    ] as const) {
      try {
        await fsp.mkdir(dir, { mode: 0o755 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw ioError(err, dir, 'create');
      }
      await syncDir(parent);
    }
  }
}

/** Makes a create or rename in `dir` durable (POSIX needs the directory itself fsynced). */
async function syncDir(dir: string): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, 'r');
    await handle.sync();
  } catch (err) {
    throw ioError(err, dir, 'fsync');
  } finally {
    await handle?.close();
  }
}

function notFound(sha256: string, file: string): SteleError {
  return steleError('STELE_E_NOT_FOUND', `no bundle ${sha256} in the vault`, {
    where: { file },
    fix: 'check the hash (stele state list bundle: lists the stored bundles); a bundle recorded in the log but missing here must be restored from a backup of the vault directory',
  });
}

/** `found` is the hash of the file's bytes, or a description when they were not hashed. */
function corrupt(file: string, expected: string, found: string): SteleError {
  const what = isHash64(found) ? `its file hashes to ${found}` : `it is ${found}`;
  return steleError('STELE_E_BUNDLE_CORRUPT', `bundle ${expected} is corrupt: ${what}`, {
    where: { file },
    expected,
    found,
    fix: 'restore the file from a backup, or store the original bytes again (a put replaces a corrupt copy); its vault.bundle_stored event records the expected size',
  });
}
