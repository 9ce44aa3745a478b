/**
 * Checkpoint signatures (DESIGN.md §4), the portable part: no node-only import, so the
 * offline proof checker runs the same code in a browser.
 *
 *   message = UTF-8 of JCS({size, logRoot, stateRoot})
 *           = `{"logRoot":"<64 hex>","size":<integer>,"stateRoot":"<64 hex>"}`
 *   sig     = Ed25519(secret key, message), 64 bytes, written as 128 lowercase hex
 *   keyId   = SHA-256 of the raw 32-byte Ed25519 public key, 64 lowercase hex
 *
 * The Ed25519 verification and SHA-256 functions are parameters: node:crypto on the server
 * (about 12× faster than @noble/curves on this project's machines: 6,763 vs 573 verifies/s
 * measured), @noble/curves and @noble/hashes in the browser and in `stele check-proof`.
 */
import { fromHex, toHex } from '../hash/hex.js';
import type { Sha256 } from '../hash/sha256.js';

/** Verifies an Ed25519 signature: (signature 64 B, message, public key 32 B) → valid. Never throws. */
export type Ed25519Verify = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean;

/** The three signed fields of a checkpoint. */
export interface CheckpointCommitment {
  size: number;
  logRoot: string;
  stateRoot: string;
}

/** A checkpoint's data as it appears in the log: the commitment and, when signed, sig and keyId. */
export interface CheckpointData extends CheckpointCommitment {
  sig?: string;
  keyId?: string;
}

export const signatureHexLength = 128;
export const publicKeyBytes = 32;

const hex64 = /^[0-9a-f]{64}$/;

/**
 * The signed message: the RFC 8785 canonical JSON of the three fields. Built directly (the
 * fields are two hex strings and a safe integer, whose JCS forms are fixed); a test checks
 * it equals `canonicalize`.
 */
export function checkpointMessage(c: CheckpointCommitment): Uint8Array {
  if (!Number.isSafeInteger(c.size) || c.size < 0 || !hex64.test(c.logRoot) || !hex64.test(c.stateRoot)) {
    throw new RangeError('a checkpoint commitment is {size: integer ≥ 0, logRoot: 64 hex, stateRoot: 64 hex}');
  }
  return new TextEncoder().encode(`{"logRoot":"${c.logRoot}","size":${c.size},"stateRoot":"${c.stateRoot}"}`);
}

/** keyId of a raw Ed25519 public key: SHA-256, lowercase hex. */
export function keyIdOf(sha: Sha256, publicKey: Uint8Array): string {
  return toHex(sha(publicKey));
}

export type SignatureCheck =
  /** No sig and no keyId. */
  | { status: 'unsigned' }
  /** sig verifies under the public key whose SHA-256 is keyId. */
  | { status: 'valid'; keyId: string }
  /** Signed by a key that is not among those given: neither valid nor invalid. */
  | { status: 'unknown-key'; keyId: string }
  /** sig does not verify, is malformed, or sig and keyId are not both present. */
  | { status: 'invalid'; keyId: string | undefined; reason: string };

/**
 * Checks a checkpoint's signature against the public keys given (raw 32 bytes each; their
 * keyIds are computed here, so a key cannot be given under another key's id).
 */
export function checkCheckpointSignature(verify: Ed25519Verify, sha: Sha256, data: CheckpointData, publicKeys: readonly Uint8Array[]): SignatureCheck {
  return checkpointSignatureChecker(verify, sha, publicKeys)(data);
}

/** Checks one checkpoint's `sig`/`keyId`; see `checkpointSignatureChecker`. */
export type CheckpointSignatureChecker = (data: CheckpointData) => SignatureCheck;

/**
 * `checkCheckpointSignature` for many checkpoints against the same keys: the keyIds are
 * computed once. `lookup`, when given, is asked once per keyId none of the keys has (a
 * follower reads a key a restarted writer added to the keyring); its answer is kept.
 *
 * Verdicts, in order: neither field → unsigned; one without the other, a sig that is not
 * 128 lowercase hex, or a keyId that is not 64 lowercase hex (the formatter never writes
 * those) → invalid; no key with that keyId → unknown-key; then the Ed25519 verification.
 */
export function checkpointSignatureChecker(
  verify: Ed25519Verify,
  sha: Sha256,
  publicKeys: readonly Uint8Array[],
  lookup?: (keyId: string) => Uint8Array | undefined,
): CheckpointSignatureChecker {
  const byId = new Map<string, Uint8Array | undefined>();
  for (const k of publicKeys) if (k.length === publicKeyBytes) byId.set(keyIdOf(sha, k), k);
  const keyOf = (keyId: string): Uint8Array | undefined => {
    if (byId.has(keyId) || lookup === undefined) return byId.get(keyId);
    const found = lookup(keyId);
    // A looked-up key is only taken under its own id.
    const key = found !== undefined && found.length === publicKeyBytes && keyIdOf(sha, found) === keyId ? found : undefined;
    byId.set(keyId, key);
    return key;
  };
  return (data) => {
    const { sig, keyId } = data;
    if (sig === undefined && keyId === undefined) return { status: 'unsigned' };
    if (sig === undefined || keyId === undefined) return { status: 'invalid', keyId, reason: sig === undefined ? 'keyId without sig' : 'sig without keyId' };
    if (typeof keyId !== 'string' || !hex64.test(keyId)) return { status: 'invalid', keyId: String(keyId), reason: 'keyId is not 64 lowercase hex characters' };
    const sigBytes = typeof sig === 'string' && sig.length === signatureHexLength ? fromHex(sig) : undefined;
    if (sigBytes === undefined) return { status: 'invalid', keyId, reason: 'sig is not 128 lowercase hex characters' };
    const key = keyOf(keyId);
    if (key === undefined) return { status: 'unknown-key', keyId };
    let ok: boolean;
    try {
      ok = verify(sigBytes, checkpointMessage(data), key);
    } catch {
      ok = false;
    }
    return ok ? { status: 'valid', keyId } : { status: 'invalid', keyId, reason: 'the Ed25519 signature does not verify under this key' };
  };
}
