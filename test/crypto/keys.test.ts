/**
 * Key files (issue #5): `writeKeyPair` writes a 0600 secret and a shareable public file and
 * never overwrites; a secret key others can read is refused; malformed or inconsistent files
 * are STELE_E_KEY_INVALID naming the file; a bare 64-hex public key is accepted where a
 * public key is; the keyring takes public key files only. Checked with node:crypto directly,
 * not with the functions under test.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointMessage } from '../../src/crypto/checkpoint-sig.js';
import { installPublicKey, keyFileBytesMax, loadKeyring, loadPublicKey, loadSigningKey, writeKeyPair } from '../../src/crypto/keys.js';
import { limits } from '../../src/limits.js';
import { errorCodeOf, tempDir } from '../helpers.js';

const root = tempDir('stele-keys-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => path.join(root, `k${n++}`, 'signing.key');
const sha256Hex = (bytes: Uint8Array): string => crypto.createHash('sha256').update(bytes).digest('hex');

interface SecretFile {
  keyId: string;
  publicKey: string;
  secretKey: string;
  type: string;
  v: number;
}

function readJson(file: string): SecretFile {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as SecretFile;
}

/** The raw public key node:crypto derives from a raw 32-byte seed (RFC 8410 PKCS#8 built by hand). */
function publicOfSeed(seedHex: string): string {
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seedHex, 'hex')]);
  const priv = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  return crypto.createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
}

function keyError(fn: () => unknown): { code: string; message: string; file: string | undefined } {
  try {
    fn();
  } catch (err) {
    const e = err as { code: string; message: string; where?: { file?: string } };
    return { code: e.code, message: e.message, file: e.where?.file };
  }
  throw new Error('expected an error');
}

describe('writeKeyPair', () => {
  it('writes a mode 0600 secret file and a public file whose keys and keyId are consistent', () => {
    const file = fresh();
    const key = writeKeyPair(file);
    const secret = readJson(file);
    const pub = readJson(`${file}.pub`);
    if (process.platform !== 'win32') expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(secret.type).toBe('stele.ed25519.secret');
    expect(pub).toEqual({ keyId: key.keyId, publicKey: secret.publicKey, type: 'stele.ed25519.public', v: 1 });
    expect(publicOfSeed(secret.secretKey)).toBe(secret.publicKey);
    expect(sha256Hex(Buffer.from(secret.publicKey, 'hex'))).toBe(key.keyId);
    // One canonical JSON line each, without the secret in the public file.
    expect(fs.readFileSync(`${file}.pub`, 'utf8')).not.toContain(secret.secretKey);
    expect(fs.readFileSync(file, 'utf8').split('\n')).toHaveLength(2);
  });

  it('refuses to overwrite the secret or the public file, and writes nothing then', () => {
    const file = fresh();
    writeKeyPair(file);
    const before = [fs.readFileSync(file, 'utf8'), fs.readFileSync(`${file}.pub`, 'utf8')];
    expect(errorCodeOf(() => writeKeyPair(file))).toBe('STELE_E_USAGE');
    expect([fs.readFileSync(file, 'utf8'), fs.readFileSync(`${file}.pub`, 'utf8')]).toEqual(before);
    // Only the public file in the way: the secret file is not created either.
    const other = fresh();
    fs.mkdirSync(path.dirname(other), { recursive: true });
    fs.writeFileSync(`${other}.pub`, 'keep me');
    expect(errorCodeOf(() => writeKeyPair(other))).toBe('STELE_E_USAGE');
    expect(fs.existsSync(other)).toBe(false);
    expect(fs.readFileSync(`${other}.pub`, 'utf8')).toBe('keep me');
  });

  it('two key pairs differ', () => {
    expect(writeKeyPair(fresh()).keyId).not.toBe(writeKeyPair(fresh()).keyId);
  });
});

describe('loadSigningKey', () => {
  it('signs the checkpoint message so that node:crypto verifies it under the public file', () => {
    const file = fresh();
    writeKeyPair(file);
    const key = loadSigningKey(file);
    const c = { size: 3, logRoot: 'aa'.repeat(32), stateRoot: 'bb'.repeat(32) };
    const sig = key.sign(c);
    expect(sig).toMatch(/^[0-9a-f]{128}$/);
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(readJson(`${file}.pub`).publicKey, 'hex')]);
    const pub = crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' });
    const text = `{"logRoot":"${c.logRoot}","size":3,"stateRoot":"${c.stateRoot}"}`;
    expect(crypto.verify(null, Buffer.from(text), pub, Buffer.from(sig, 'hex'))).toBe(true);
    expect(Buffer.from(checkpointMessage(c)).toString()).toBe(text);
    expect(key.keyId).toBe(readJson(`${file}.pub`).keyId);
  });

  it.skipIf(process.platform === 'win32')('refuses a secret key file that group or others can read or write', () => {
    const file = fresh();
    writeKeyPair(file);
    for (const mode of [0o640, 0o604, 0o620, 0o644]) {
      fs.chmodSync(file, mode);
      const e = keyError(() => loadSigningKey(file));
      expect(e.code).toBe('STELE_E_KEY_INVALID');
      expect(e.message).toMatch(/other users/);
      expect(e.file).toBe(file);
    }
    fs.chmodSync(file, 0o400);
    expect(loadSigningKey(file).keyId).toBe(readJson(`${file}.pub`).keyId);
  });

  it('malformed or inconsistent files are STELE_E_KEY_INVALID naming the file', () => {
    const file = fresh();
    writeKeyPair(file);
    const good = readJson(file);
    const other = readJson((() => {
      const f = fresh();
      writeKeyPair(f);
      return f;
    })());
    const cases: [string, string | Buffer][] = [
      ['not JSON', 'not json'],
      ['an array', '[]'],
      ['the public file', fs.readFileSync(`${file}.pub`)],
      ['a wrong version', JSON.stringify({ ...good, v: 2 })],
      ['uppercase hex', JSON.stringify({ ...good, secretKey: good.secretKey.toUpperCase() })],
      ['a short seed', JSON.stringify({ ...good, secretKey: good.secretKey.slice(2) })],
      ['another public key', JSON.stringify({ ...good, publicKey: other.publicKey })],
      ['another keyId', JSON.stringify({ ...good, keyId: other.keyId })],
      ['too large', ' '.repeat(keyFileBytesMax + 1)],
    ];
    for (const [what, text] of cases) {
      const f = path.join(root, `bad-${what.replace(/\W/g, '-')}.key`);
      fs.writeFileSync(f, text, { mode: 0o600 });
      const e = keyError(() => loadSigningKey(f));
      expect(e.code, what).toBe('STELE_E_KEY_INVALID');
      expect(e.file, what).toBe(f);
    }
    expect(keyError(() => loadSigningKey(path.join(root, 'missing.key'))).code).toBe('STELE_E_KEY_INVALID');
  });
});

describe('loadPublicKey', () => {
  const file = fresh();
  const written = writeKeyPair(file);
  const pubHex = readJson(`${file}.pub`).publicKey;

  it('takes a public key file, a secret key file (its public half) or the bare 64-hex key', () => {
    for (const arg of [`${file}.pub`, file, pubHex]) {
      const key = loadPublicKey(arg);
      expect(key.keyId).toBe(written.keyId);
      expect(Buffer.from(key.publicKey).toString('hex')).toBe(pubHex);
    }
  });

  it('refuses uppercase or short hex, a small-order point, and a file with a wrong keyId', () => {
    expect(errorCodeOf(() => loadPublicKey(pubHex.toUpperCase()))).toBe('STELE_E_KEY_INVALID');
    expect(errorCodeOf(() => loadPublicKey(pubHex.slice(2)))).toBe('STELE_E_KEY_INVALID');
    // The identity point: OpenSSL would verify (identity, 0) under it for every message.
    expect(errorCodeOf(() => loadPublicKey('01' + '00'.repeat(31)))).toBe('STELE_E_KEY_INVALID');
    const bad = path.join(root, 'wrong-id.pub');
    fs.writeFileSync(bad, JSON.stringify({ keyId: '00'.repeat(32), publicKey: pubHex, type: 'stele.ed25519.public', v: 1 }));
    expect(keyError(() => loadPublicKey(bad))).toMatchObject({ code: 'STELE_E_KEY_INVALID', file: bad });
  });
});

describe('the keyring of a data directory', () => {
  it('is empty without keys/, holds what installPublicKey put there, once', () => {
    const data = path.join(root, `data${n++}`);
    fs.mkdirSync(data);
    expect(loadKeyring(data)).toEqual([]);
    const file = fresh();
    const key = writeKeyPair(file);
    const installed = installPublicKey(data, key);
    expect(installed).toBe(path.join(data, 'keys', `${key.keyId}.pub`));
    expect(fs.readFileSync(installed, 'utf8')).toBe(fs.readFileSync(`${file}.pub`, 'utf8'));
    expect(installPublicKey(data, key)).toBe(installed);
    expect(loadKeyring(data).map((k) => k.keyId)).toEqual([key.keyId]);
    expect(fs.readdirSync(path.join(data, 'keys'))).toEqual([`${key.keyId}.pub`]);
  });

  it('refuses a secret key file or a malformed file in keys/, naming it', () => {
    const data = path.join(root, `data${n++}`);
    const file = fresh();
    writeKeyPair(file);
    fs.mkdirSync(path.join(data, 'keys'), { recursive: true });
    const leaked = path.join(data, 'keys', 'leaked.pub');
    fs.copyFileSync(file, leaked);
    expect(keyError(() => loadKeyring(data))).toMatchObject({ code: 'STELE_E_KEY_INVALID', file: leaked });
    fs.writeFileSync(leaked, '{"nope":1}');
    expect(keyError(() => loadKeyring(data))).toMatchObject({ code: 'STELE_E_KEY_INVALID', file: leaked });
  });

  it(`refuses more than limits.keyringKeysMax (${limits.keyringKeysMax}) keys`, () => {
    const data = path.join(root, `data${n++}`);
    const dir = path.join(data, 'keys');
    fs.mkdirSync(dir, { recursive: true });
    const text = fs.readFileSync(`${(() => {
      const f = fresh();
      writeKeyPair(f);
      return f;
    })()}.pub`);
    for (let i = 0; i <= limits.keyringKeysMax; i++) fs.writeFileSync(path.join(dir, `k${i}.pub`), text);
    expect(keyError(() => loadKeyring(data)).code).toBe('STELE_E_KEY_INVALID');
    fs.rmSync(path.join(dir, 'k0.pub'));
    expect(loadKeyring(data)).toHaveLength(limits.keyringKeysMax);
  });
});
