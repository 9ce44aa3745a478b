import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SteleError } from '../../src/errors.js';
import { sha256Hex } from '../../src/hash/sha256.js';
import { limits } from '../../src/limits.js';
import { VaultStore } from '../../src/store/vault-store.js';
import { tempDir } from '../helpers.js';

async function expectSteleError(promise: Promise<unknown> | (() => unknown), code: string): Promise<SteleError> {
  try {
    if (typeof promise === 'function') promise();
    else await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(SteleError);
    const e = err as SteleError;
    expect(e.code).toBe(code);
    expect(e.fix ?? '').not.toBe('');
    return e;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

/** Every file under `dir`, relative, sorted. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe('VaultStore', () => {
  let data: string;
  beforeEach(() => {
    data = tempDir('stele-vault-');
  });
  afterEach(() => fs.rmSync(data, { recursive: true, force: true }));

  it('put then get round-trips the bytes, stored at vault/<ab>/<sha256>', async () => {
    const vault = new VaultStore(data, { readOnly: false });
    expect(fs.existsSync(path.join(data, 'vault'))).toBe(false);
    const bytes = Buffer.from('hello, vault\n');
    const sha = sha256Hex(bytes);
    const put = await vault.put(bytes);
    expect(put).toEqual({ sha256: sha, size: bytes.length, stored: true });
    const file = path.join(data, 'vault', sha.slice(0, 2), sha);
    expect(vault.pathOf(sha)).toBe(file);
    expect(fs.readFileSync(file)).toEqual(bytes);
    expect(vault.has(sha)).toBe(true);
    expect(await vault.get(sha)).toEqual(bytes);
    expect(await vault.verify(sha)).toEqual({ ok: true, size: bytes.length });
    // The empty bundle is a bundle too.
    const empty = await vault.put(new Uint8Array(0));
    expect(empty).toEqual({ sha256: sha256Hex(new Uint8Array(0)), size: 0, stored: true });
    expect((await vault.get(empty.sha256)).length).toBe(0);
  });

  it('a second put of the same bytes is deduplicated and writes nothing', async () => {
    const vault = new VaultStore(data, { readOnly: false });
    const bytes = Buffer.from('same bytes');
    const first = await vault.put(bytes);
    const file = vault.pathOf(first.sha256);
    const before = fs.statSync(file);
    const second = await vault.put(Buffer.from('same bytes'));
    expect(second).toEqual({ ...first, stored: false });
    expect(fs.statSync(file).ino).toBe(before.ino);
    expect(filesUnder(path.join(data, 'vault'))).toEqual([path.join(first.sha256.slice(0, 2), first.sha256)]);
  });

  it('a corrupted file is refused by get (STELE_E_BUNDLE_CORRUPT, file, expected and found hash), reported by verify, repaired by put', async () => {
    const vault = new VaultStore(data, { readOnly: false });
    const bytes = Buffer.from('precious content');
    const { sha256 } = await vault.put(bytes);
    const file = vault.pathOf(sha256);
    const damaged = Buffer.from(bytes);
    damaged[3] = damaged[3]! ^ 1;
    fs.writeFileSync(file, damaged);
    const e = await expectSteleError(vault.get(sha256), 'STELE_E_BUNDLE_CORRUPT');
    expect(e.kind).toBe('integrity');
    expect(e.where.file).toBe(file);
    expect(e.expected).toBe(sha256);
    expect(e.found).toBe(sha256Hex(damaged));
    expect(e.message).toContain(sha256);
    expect(await vault.verify(sha256)).toEqual({ ok: false, size: bytes.length, found: sha256Hex(damaged) });
    // Putting the original bytes again replaces the corrupt copy.
    expect(await vault.put(bytes)).toEqual({ sha256, size: bytes.length, stored: true });
    expect(await vault.get(sha256)).toEqual(bytes);
    // A truncated file is corrupt too.
    fs.writeFileSync(file, bytes.subarray(0, 4));
    await expectSteleError(vault.get(sha256), 'STELE_E_BUNDLE_CORRUPT');
  });

  it('a missing bundle is STELE_E_NOT_FOUND for get and verify; has is false', async () => {
    const vault = new VaultStore(data, { readOnly: false });
    const sha = 'c'.repeat(64);
    expect(vault.has(sha)).toBe(false);
    const e = await expectSteleError(vault.get(sha), 'STELE_E_NOT_FOUND');
    expect(e.where.file).toBe(path.join(data, 'vault', 'cc', sha));
    await expectSteleError(vault.verify(sha), 'STELE_E_NOT_FOUND');
  });

  it('refuses anything but 64 lowercase hex as a hash, before touching a path', async () => {
    const vault = new VaultStore(data, { readOnly: false });
    for (const bad of ['../../etc/passwd', 'A'.repeat(64), 'a'.repeat(63), `${'a'.repeat(62)}/x`, '', `../${'a'.repeat(61)}`]) {
      const e = await expectSteleError(() => vault.pathOf(bad), 'STELE_E_USAGE');
      expect(e.expected).toContain('64 lowercase hex');
      await expectSteleError(vault.get(bad), 'STELE_E_USAGE');
      await expectSteleError(() => vault.has(bad), 'STELE_E_USAGE');
    }
  });

  it('a bundle over limits.bundleBytesMax is refused before anything is written', async () => {
    const vault = new VaultStore(data, { readOnly: false });
    const big = new Uint8Array(limits.bundleBytesMax + 1);
    const e = await expectSteleError(vault.put(big), 'STELE_E_INPUT_TOO_LARGE');
    expect(e.kind).toBe('limit');
    expect(e.detail).toEqual({ size: limits.bundleBytesMax + 1, limit: limits.bundleBytesMax });
    expect(fs.existsSync(path.join(data, 'vault'))).toBe(false);
  });

  it('a read-only store reads but never writes: put and cleanTemp refuse', async () => {
    const writer = new VaultStore(data, { readOnly: false });
    const { sha256 } = await writer.put(Buffer.from('shared'));
    const reader = new VaultStore(data, { readOnly: true });
    expect((await reader.get(sha256)).toString()).toBe('shared');
    const e = await expectSteleError(reader.put(Buffer.from('new')), 'STELE_E_DATA_DIR_UNWRITABLE');
    expect(e.where.file).toBe(path.join(data, 'vault'));
    await expectSteleError(() => reader.cleanTemp(), 'STELE_E_DATA_DIR_UNWRITABLE');
    expect(filesUnder(path.join(data, 'vault'))).toEqual([path.join(sha256.slice(0, 2), sha256)]);
  });

  it('leaves no temp file after a put; cleanTemp removes leftovers of interrupted puts, and nothing else', async () => {
    const vault = new VaultStore(data, { readOnly: false });
    const results = await Promise.all(['a', 'b', 'c', 'a'].map((s) => vault.put(Buffer.from(s.repeat(1000)))));
    const finals = [...new Set(results.map((r) => path.join(r.sha256.slice(0, 2), r.sha256)))].sort();
    expect(filesUnder(path.join(data, 'vault'))).toEqual(finals);
    // Simulate a crash between write and rename, and a stray file that is not ours.
    const sha = results[0]!.sha256;
    const leftover = path.join(data, 'vault', sha.slice(0, 2), `${sha}.tmp-4242-7`);
    fs.writeFileSync(leftover, 'half a bun');
    const stray = path.join(data, 'vault', sha.slice(0, 2), 'notes.txt');
    fs.writeFileSync(stray, 'keep me');
    expect(vault.cleanTemp()).toBe(1);
    expect(fs.existsSync(leftover)).toBe(false);
    expect(fs.existsSync(stray)).toBe(true);
    expect(vault.cleanTemp()).toBe(0);
    // A data directory with no vault yet has nothing to clean.
    expect(new VaultStore(tempDir('stele-vault-empty-'), { readOnly: false }).cleanTemp()).toBe(0);
  });

  it('a put into a missing data directory fails with STELE_E_DATA_DIR_MISSING, the directory named', async () => {
    const vault = new VaultStore(path.join(data, 'missing'), { readOnly: false });
    const e = await expectSteleError(vault.put(Buffer.from('x')), 'STELE_E_DATA_DIR_MISSING');
    expect(e.where.file).toBe(path.join(data, 'missing', 'vault'));
    expect(fs.existsSync(path.join(data, 'missing'))).toBe(false);
  });
});
