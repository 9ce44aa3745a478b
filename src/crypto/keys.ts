/**
 * Ed25519 keys for checkpoint signatures (issue #5): `stele keygen`, the key files, and the
 * node:crypto sign/verify the writer and replays use.
 *
 * Files (canonical JSON, one line):
 *   private: {"keyId":hex64,"publicKey":hex64,"secretKey":hex64,"type":"stele.ed25519.secret","v":1}   mode 0600
 *   public:  {"keyId":hex64,"publicKey":hex64,"type":"stele.ed25519.public","v":1}                    shareable
 * `secretKey` is the 32-byte Ed25519 seed (RFC 8032), `keyId` the SHA-256 of the raw public
 * key. Wherever a public key is expected, a bare 64-hex public key is accepted too.
 *
 * Keyring of a data directory: `<data>/keys/<keyId>.pub`, written by a signing writer on
 * open so that anyone holding the directory can check its checkpoints. An auditor does not
 * trust that directory (the operator writes it): they pin the key with `--pubkey`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { canonicalize, parseJsonBytes } from '../canonical/json.js';
import { isSteleError, steleError } from '../errors.js';
import { fromHex, toHex } from '../hash/hex.js';
import { sha256 } from '../hash/sha256.js';
import { limits } from '../limits.js';
import { fsyncDir, writeFileDurable } from '../store/data-dir.js';
import type { CheckpointCommitment, Ed25519Verify } from './checkpoint-sig.js';
import { checkpointMessage, keyIdOf, publicKeyBytes } from './checkpoint-sig.js';

export const secretKeyType = 'stele.ed25519.secret';
export const publicKeyType = 'stele.ed25519.public';
/** Largest key file read (a key file is about 250 bytes). */
export const keyFileBytesMax = 4096;
/** The data directory's keyring folder. */
export const keyringDirName = 'keys';

export interface PublicKey {
  keyId: string;
  publicKey: Uint8Array;
}

export interface SigningKey extends PublicKey {
  /** Signs a checkpoint commitment: 128 lowercase hex. */
  sign(commitment: CheckpointCommitment): string;
}

// DER prefixes of RFC 8410 keys: node:crypto imports raw Ed25519 keys through them.
const spkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');
const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * True for a public key a signature may verify under: a canonically encoded Ed25519 point
 * (RFC 8032 §5.1.3) that is not of small order. OpenSSL verifies against small-order keys:
 * under the identity point, the signature (identity, 0) verifies for every message, so
 * anyone able to drop such a key into a keyring could "sign" any checkpoint. Such keys are
 * refused when loaded and never verified against.
 */
export function isUsablePublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== publicKeyBytes) return false;
  try {
    return !ed25519.Point.fromBytes(publicKey, false).isSmallOrder();
  } catch {
    return false;
  }
}

/** node:crypto key objects of the public keys verified with, by identity (null: unusable): a
 * replay checks every checkpoint against the same few key arrays, and importing and checking
 * a key costs about as much as one verification. */
const keyObjects = new WeakMap<Uint8Array, crypto.KeyObject | null>();

/** Ed25519 verification through node:crypto (OpenSSL); false under an unusable key (see isUsablePublicKey). */
export const ed25519VerifyNode: Ed25519Verify = (signature, message, publicKey) => {
  if (publicKey.length !== publicKeyBytes || signature.length !== 64) return false;
  try {
    let key = keyObjects.get(publicKey);
    if (key === undefined) {
      key = isUsablePublicKey(publicKey) ? crypto.createPublicKey({ key: Buffer.concat([spkiPrefix, publicKey]), format: 'der', type: 'spki' }) : null;
      keyObjects.set(publicKey, key);
    }
    return key !== null && crypto.verify(null, message, key, signature);
  } catch {
    return false;
  }
};

/** A new key pair (random seed from @noble/curves, i.e. the platform CSPRNG). */
export function generateKeyPair(): { secretKey: Uint8Array; publicKey: Uint8Array; keyId: string } {
  const { secretKey, publicKey } = ed25519.keygen();
  return { secretKey, publicKey, keyId: keyIdOf(sha256, publicKey) };
}

export function secretKeyFileText(k: { secretKey: Uint8Array; publicKey: Uint8Array; keyId: string }): string {
  return canonicalize({ keyId: k.keyId, publicKey: toHex(k.publicKey), secretKey: toHex(k.secretKey), type: secretKeyType, v: 1 }) + '\n';
}

export function publicKeyFileText(k: PublicKey): string {
  return canonicalize({ keyId: k.keyId, publicKey: toHex(k.publicKey), type: publicKeyType, v: 1 }) + '\n';
}

/**
 * Writes a new key pair: the secret key file (created exclusively, mode 0600) and the public
 * key file beside it (`<out>.pub` unless given). Refuses to overwrite either.
 */
export function writeKeyPair(secretFile: string, publicFile = `${secretFile}.pub`): PublicKey {
  for (const f of [secretFile, publicFile]) {
    if (fs.existsSync(f)) throw steleError('STELE_E_USAGE', `${f} already exists; stele keygen never overwrites a key`, { where: { file: f }, fix: 'choose another --out, or move the old key away first' });
  }
  const pair = generateKeyPair();
  let created: string | undefined;
  try {
    fs.mkdirSync(path.dirname(path.resolve(secretFile)), { recursive: true });
    // O_EXCL: an existing file (a race with the check above) is never overwritten.
    const fd = fs.openSync(secretFile, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    created = secretFile;
    try {
      // The umask may have narrowed the mode; it can never have widened it past 0600.
      fs.fchmodSync(fd, 0o600);
      fs.writeFileSync(fd, secretKeyFileText(pair));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.writeFileSync(publicFile, publicKeyFileText(pair), { flag: 'wx', mode: 0o644 });
    fsyncDir(path.dirname(path.resolve(secretFile)));
  } catch (err) {
    // Half a key pair is no key pair: a retry must not find the secret file in its way.
    if (created !== undefined) fs.rmSync(created, { force: true });
    if (isSteleError(err)) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw steleError(code === 'EEXIST' ? 'STELE_E_USAGE' : 'STELE_E_IO', `cannot write the key pair ${secretFile}: ${(err as Error).message}`, {
      where: { file: secretFile },
      fix: code === 'EEXIST' ? 'choose another --out, or move the old key away first' : 'choose a directory you can write with --out',
      cause: err,
    });
  }
  return { keyId: pair.keyId, publicKey: pair.publicKey };
}

function readKeyFile(file: string): Record<string, unknown> {
  let bytes: Buffer;
  try {
    const stat = fs.statSync(file);
    if (stat.size > keyFileBytesMax) throw keyError(file, `it is ${stat.size} bytes, over the ${keyFileBytesMax} of a key file`);
    bytes = fs.readFileSync(file);
  } catch (err) {
    if (isSteleError(err)) throw err;
    throw keyError(file, `cannot read it: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = parseJsonBytes(bytes[bytes.length - 1] === 0x0a ? bytes.subarray(0, bytes.length - 1) : bytes);
  } catch {
    throw keyError(file, 'it is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw keyError(file, 'it is not a JSON object');
  return value as Record<string, unknown>;
}

function hexField(obj: Record<string, unknown>, field: string, bytes: number, file: string): Uint8Array {
  const v = obj[field];
  const out = typeof v === 'string' && v.length === bytes * 2 ? fromHex(v) : undefined;
  if (out === undefined) throw keyError(file, `${field} must be ${bytes * 2} lowercase hex characters`);
  return out;
}

/** Loads a secret key file written by `stele keygen`; checks its public key and keyId match the seed. */
export function loadSigningKey(file: string): SigningKey {
  const obj = readKeyFile(file);
  // Refused before anything else is said about it: a secret others can read is no secret.
  if (process.platform !== 'win32' && (fs.statSync(file).mode & 0o077) !== 0) {
    throw keyError(file, 'it is readable or writable by other users (a secret key file must be mode 0600)', `chmod 600 ${file}; if others may have read it, treat the key as leaked (docs/operations.md)`);
  }
  if (obj.type !== secretKeyType || obj.v !== 1) throw keyError(file, `it is not a secret key file (type "${secretKeyType}", v 1)`);
  const seed = hexField(obj, 'secretKey', 32, file);
  const publicKey = ed25519.getPublicKey(seed);
  if (toHex(publicKey) !== obj.publicKey) throw keyError(file, 'its publicKey does not belong to its secretKey');
  const keyId = keyIdOf(sha256, publicKey);
  if (obj.keyId !== keyId) throw keyError(file, 'its keyId is not the SHA-256 of its public key');
  const privateKey = crypto.createPrivateKey({ key: Buffer.concat([pkcs8Prefix, seed]), format: 'der', type: 'pkcs8' });
  return {
    keyId,
    publicKey,
    sign: (commitment) => toHex(crypto.sign(null, checkpointMessage(commitment), privateKey)),
  };
}

/**
 * A public key from `--pubkey`: a public key file, a secret key file (its public half), or
 * the bare 64-hex public key itself.
 */
export function loadPublicKey(arg: string): PublicKey {
  if (/^[0-9a-f]{64}$/.test(arg) && !fs.existsSync(arg)) {
    const publicKey = fromHex(arg)!;
    if (!isUsablePublicKey(publicKey)) throw steleError('STELE_E_KEY_INVALID', `${arg} is not a usable Ed25519 public key (not a canonical curve point, or of small order)`, { where: { path: '--pubkey' }, fix: 'pass the key from the .pub file stele keygen wrote, or that file itself' });
    return { keyId: keyIdOf(sha256, publicKey), publicKey };
  }
  return publicKeyOfFile(arg, [publicKeyType, secretKeyType]);
}

function publicKeyOfFile(file: string, types: readonly string[]): PublicKey {
  const obj = readKeyFile(file);
  if (!types.includes(String(obj.type)) || obj.v !== 1) throw keyError(file, `it is not a ${types.length === 1 ? 'public ' : ''}key file (type "${publicKeyType}", v 1)`);
  const publicKey = hexField(obj, 'publicKey', 32, file);
  if (!isUsablePublicKey(publicKey)) throw keyError(file, 'its publicKey is not a usable Ed25519 public key (not a canonical curve point, or of small order)');
  const keyId = keyIdOf(sha256, publicKey);
  if (obj.keyId !== keyId) throw keyError(file, 'its keyId is not the SHA-256 of its public key');
  return { keyId, publicKey };
}

/**
 * The public keys in `<data>/keys/*.pub` (absent folder: none), sorted by file name. Only
 * public key files are taken: a secret key there would be handed to everyone the directory
 * is copied to, so it is refused like a malformed file (STELE_E_KEY_INVALID naming it).
 */
export function loadKeyring(dataDir: string): PublicKey[] {
  const dir = path.join(dataDir, keyringDirName);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw keyError(dir, `cannot read the keyring: ${(err as Error).message}`, 'restore read permission on <data>/keys');
  }
  const files = names.filter((n) => n.endsWith('.pub')).sort();
  if (files.length > limits.keyringKeysMax) {
    throw keyError(dir, `it holds ${files.length} public keys, over the ${limits.keyringKeysMax} a replay checks against`, 'remove keys that never signed this log from <data>/keys');
  }
  return files.map((n) => publicKeyOfFile(path.join(dir, n), [publicKeyType]));
}

/**
 * The key `<data>/keys/<keyId>.pub`, if that file exists and holds that key; else
 * undefined (an observer looks up a key a writer installed after the observer started).
 */
export function findKeyringKey(dataDir: string, keyId: string): PublicKey | undefined {
  if (!/^[0-9a-f]{64}$/.test(keyId)) return undefined;
  try {
    const key = publicKeyOfFile(path.join(dataDir, keyringDirName, `${keyId}.pub`), [publicKeyType]);
    return key.keyId === keyId ? key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Adds a public key to a data directory's keyring as `<keyId>.pub` (no-op when present),
 * durably (temp file, fsync, rename). Writers only, under the writer lock.
 */
export function installPublicKey(dataDir: string, key: PublicKey): string {
  const dir = path.join(dataDir, keyringDirName);
  const file = path.join(dir, `${key.keyId}.pub`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(dir, { recursive: true });
  writeFileDurable(file, publicKeyFileText(key), 0o644);
  fsyncDir(dataDir);
  return file;
}

function keyError(file: string, message: string, fix = 'pass a file written by stele keygen (or a 64-hex public key where one is expected)') {
  return steleError('STELE_E_KEY_INVALID', `key file ${file}: ${message}`, { where: { file }, fix });
}
