/**
 * The JSON file of a state proof (DESIGN.md §3): that a key has a value in the state with a
 * given root (inclusion), or that it has none (non-inclusion), and its offline check.
 *
 *   inclusion:     {"type":"state","v":1,"key":"kv:a","keyHash":hex,"value":<json>,"valueHash":hex,
 *                   "stateRoot":hex,"siblings":[hex…]}
 *   non-inclusion: {"type":"state","v":1,"key":"kv:z","keyHash":hex,"stateRoot":hex,"siblings":[hex…],
 *                   "end":{"type":"empty"} | {"type":"leaf","keyHash":hex,"valueHash":hex}}
 *
 * - `keyHash` = SHA-256(UTF-8 `key`), `valueHash` = SHA-256(JCS(`value`)), as DESIGN.md §3
 *   defines them: written out so that standard tools (`printf %s kv:a | sha256sum`) can
 *   check them, and re-derived by `checkStateProofJson`.
 * - `value` is optional in an inclusion proof (the holder may already have the value, or it
 *   may be large); when present it is checked against `valueHash`.
 * - `siblings[d]` is the subtree root, at depth d + 1, on the other side of bit d of keyHash
 *   (bit 0 = top bit of byte 0), 32 zero bytes where that side is empty; from the root down.
 *   The key's path ends at depth `siblings.length` (at most `stateProofSiblingsMax` = 256):
 *   at the key's own leaf for an inclusion proof; for a non-inclusion proof at `end`, an
 *   empty subtree or the leaf of another key that shares those first bits.
 * - An inclusion proof has `valueHash` and no `end`; a non-inclusion proof has `end` and
 *   neither `value` nor `valueHash`.
 *
 * The parser is strict: unknown or missing fields, a wrong `type` or `v`, hex that is not 64
 * lowercase characters, more than 256 siblings, a key that is not well-formed Unicode or is
 * longer than a log line, a value outside the JSON data model, and an `end` leaf with the
 * proof's own keyHash are all STELE_E_PROOF_FORMAT. Verification takes the SHA-256 as a
 * parameter and imports nothing node-only, so the browser checks with @noble/hashes; it
 * returns a boolean, and the caller (like `stele check-proof`) reports STELE_E_PROOF_INVALID.
 */
import type { JsonValue } from '../canonical/json.js';
import { canonicalize } from '../canonical/json.js';
import { utf8ByteLength } from '../canonical/utf8.js';
import { isSteleError, steleError } from '../errors.js';
import { bytesEqual, fromHex, toHex } from '../hash/hex.js';
import type { Sha256 } from '../hash/sha256.js';
import { limits } from '../limits.js';
import type { StateProof } from '../state/smt-hash.js';
import { checkStateProof, hashStateKey, hashStateValue, stateKeyBits } from '../state/smt-hash.js';

/** Format version of the state proof file. */
export const stateProofVersion = 1;

/** Siblings in a state proof: one per bit of a keyHash at most (DESIGN.md §3). */
export const stateProofSiblingsMax = stateKeyBits;

/**
 * UTF-8 bytes of a proof's key: every state key is written in some event line, so none is
 * longer than a line.
 */
export const stateProofKeyBytesMax = limits.lineBytesMax;

export type StateProofEndJson = { type: 'empty' } | { type: 'leaf'; keyHash: string; valueHash: string };

/** A state proof file, as written by `formatStateProof` and returned by `parseStateProof`. */
export interface StateProofJson {
  type: 'state';
  v: typeof stateProofVersion;
  key: string;
  keyHash: string;
  /** Inclusion only, optional: the value, checked against valueHash. */
  value?: JsonValue;
  /** Inclusion only, required. */
  valueHash?: string;
  stateRoot: string;
  siblings: string[];
  /** Non-inclusion only, required. */
  end?: StateProofEndJson;
}

/** A broken contract of the caller inside stele (not an operating error). */
function bug(message: string): never {
  throw new Error(`stele bug in proof/state-proof: ${message}`);
}

/**
 * The proof file of `key` from a tree's `prove(keyHash)` and the root it was made against.
 * An inclusion proof (the path ends at `key`'s own leaf) may carry `value`, which must hash
 * to the leaf's valueHash; a non-inclusion proof must not.
 */
export function formatStateProof(sha: Sha256, key: string, proof: StateProof, stateRoot: Uint8Array, value?: unknown): StateProofJson {
  const keyHash = hashStateKey(sha, key);
  const out: StateProofJson = { type: 'state', v: stateProofVersion, key, keyHash: toHex(keyHash), stateRoot: toHex(stateRoot), siblings: proof.siblings.map(toHex) };
  const end = proof.end;
  if (end.type === 'leaf' && bytesEqual(end.keyHash, keyHash)) {
    if (value !== undefined) {
      if (!bytesEqual(hashStateValue(sha, value), end.valueHash)) bug(`the value given for ${key} does not hash to the proof's valueHash`);
      out.value = value as JsonValue;
    }
    out.valueHash = toHex(end.valueHash);
    return out;
  }
  if (value !== undefined) bug(`a value was given for ${key}, which the proof shows absent`);
  out.end = end.type === 'empty' ? { type: 'empty' } : { type: 'leaf', keyHash: toHex(end.keyHash), valueHash: toHex(end.valueHash) };
  return out;
}

const requiredKeys = ['key', 'keyHash', 'siblings', 'stateRoot', 'type', 'v'];
const inclusionKeys = [...requiredKeys, 'value', 'valueHash'];
const nonInclusionKeys = [...requiredKeys, 'end'];

/**
 * Parses a state proof (already JSON-parsed, e.g. by `parseJsonBytes` after the caller's
 * size check) strictly; throws STELE_E_PROOF_FORMAT, with `where.path` the offending field,
 * on anything `formatStateProof` would not write.
 */
export function parseStateProof(value: unknown): StateProofJson {
  if (!isObject(value)) throw formatError('a state proof is a JSON object');
  if (value.type !== 'state') throw formatError('type must be "state"', 'type');
  const inclusion = Object.hasOwn(value, 'valueHash');
  const keys = Object.keys(value);
  checkKeys(keys, inclusion ? inclusionKeys : nonInclusionKeys, inclusion ? ['value'] : []);
  if (value.v !== stateProofVersion) throw formatError(`v must be ${stateProofVersion}`, 'v');
  const key = value.key;
  if (typeof key !== 'string' || !key.isWellFormed()) throw formatError('key must be a string of well-formed Unicode', 'key');
  if (utf8ByteLength(key) > stateProofKeyBytesMax) throw formatError(`key is over ${stateProofKeyBytesMax} bytes of UTF-8`, 'key');
  const out: StateProofJson = {
    type: 'state',
    v: stateProofVersion,
    key,
    keyHash: hash(value.keyHash, 'keyHash'),
    stateRoot: hash(value.stateRoot, 'stateRoot'),
    siblings: siblings(value.siblings),
  };
  if (inclusion) {
    if (Object.hasOwn(value, 'value')) out.value = jsonValue(value.value);
    out.valueHash = hash(value.valueHash, 'valueHash');
    return out;
  }
  const end = value.end;
  if (!isObject(end)) throw formatError('end must be an object', 'end');
  if (end.type === 'empty') {
    checkKeys(Object.keys(end), ['type'], [], 'end.');
    out.end = { type: 'empty' };
  } else if (end.type === 'leaf') {
    checkKeys(Object.keys(end), ['keyHash', 'type', 'valueHash'], [], 'end.');
    const endKeyHash = hash(end.keyHash, 'end.keyHash');
    if (endKeyHash === out.keyHash) throw formatError('end.keyHash is the proof\'s own keyHash: an inclusion proof has valueHash and no end', 'end.keyHash');
    out.end = { type: 'leaf', keyHash: endKeyHash, valueHash: hash(end.valueHash, 'end.valueHash') };
  } else {
    throw formatError('end.type must be "empty" or "leaf"', 'end.type');
  }
  return out;
}

/** The in-memory `StateProof` of a parsed file. */
export function stateProofOf(proof: StateProofJson): StateProof {
  const bytes = (text: string): Uint8Array => fromHex(text) ?? bug('a parsed proof holds a bad hash');
  const siblings = proof.siblings.map(bytes);
  if (proof.valueHash !== undefined) return { siblings, end: { type: 'leaf', keyHash: bytes(proof.keyHash), valueHash: bytes(proof.valueHash) } };
  const end = proof.end ?? bug('a non-inclusion proof without end');
  return { siblings, end: end.type === 'empty' ? { type: 'empty' } : { type: 'leaf', keyHash: bytes(end.keyHash), valueHash: bytes(end.valueHash) } };
}

/**
 * Verifies a parsed state proof (DESIGN.md §3): keyHash = SHA-256(UTF-8 key), valueHash =
 * SHA-256(JCS(value)) when the value is given, and the path from the end up to stateRoot
 * (`checkStateProof`). Pure, no log or state needed; false on any mismatch, never throws.
 * Whether stateRoot is a root the log committed to (a checkpoint's) is the caller's question.
 */
export function checkStateProofJson(sha: Sha256, proof: StateProofJson): boolean {
  try {
    const keyHash = fromHex(proof.keyHash);
    const root = fromHex(proof.stateRoot);
    if (keyHash === undefined || root === undefined || !bytesEqual(hashStateKey(sha, proof.key), keyHash)) return false;
    let valueHash: Uint8Array | undefined;
    if (proof.valueHash !== undefined) {
      valueHash = fromHex(proof.valueHash);
      if (valueHash === undefined) return false;
      if (proof.value !== undefined && !bytesEqual(hashStateValue(sha, proof.value), valueHash)) return false;
    } else if (proof.value !== undefined || proof.end === undefined) {
      return false;
    }
    return checkStateProof(sha, stateProofOf(proof), root, keyHash, valueHash);
  } catch (err) {
    // A hand-built object can hold what parse rejects (a bad hash, a non-JSON value).
    if (isSteleError(err) || err instanceof Error) return false;
    throw err;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(keys: readonly string[], allowed: readonly string[], optional: readonly string[], prefix = ''): void {
  for (const k of keys) if (!allowed.includes(k)) throw formatError(`unknown field ${prefix}${k}`, `${prefix}${k}`);
  for (const k of allowed) if (!optional.includes(k) && !keys.includes(k)) throw formatError(`missing field ${prefix}${k}`, `${prefix}${k}`);
}

function hash(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value)) throw formatError(`${field} must be 64 lowercase hex characters`, field);
  return value;
}

function siblings(value: unknown): string[] {
  if (!Array.isArray(value)) throw formatError('siblings must be an array of hashes', 'siblings');
  // Checked before reading any element, so an oversized array costs nothing more.
  if (value.length > stateProofSiblingsMax) throw formatError(`siblings has ${value.length} hashes, over the limit of ${stateProofSiblingsMax}`, 'siblings');
  // The field name is built only for the error: this runs for every sibling of every proof checked.
  for (let i = 0; i < value.length; i++) {
    const h: unknown = value[i];
    if (typeof h !== 'string' || !/^[0-9a-f]{64}$/.test(h)) hash(h, `siblings[${i}]`);
  }
  return value as string[];
}

function jsonValue(value: unknown): JsonValue {
  try {
    canonicalize(value);
  } catch (err) {
    if (isSteleError(err)) throw formatError(`value is not JSON: ${err.message}`, err.where.path === undefined ? 'value' : `value.${err.where.path}`);
    throw err;
  }
  return value as JsonValue;
}

function formatError(message: string, path?: string) {
  return steleError('STELE_E_PROOF_FORMAT', `invalid state proof: ${message}`, {
    ...(path === undefined ? {} : { where: { path } }),
    fix: 'pass a state proof file as written by stele (see src/proof/state-proof.ts for the format)',
  });
}
