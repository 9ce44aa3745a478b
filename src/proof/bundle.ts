/**
 * Proof bundles (issue #5): one self-contained file that proves an event is in the log, or
 * that a state key has a value (or none), and — when the log is signed — that a signed
 * checkpoint commits to it. Format, strict parser, constructors and the verifier.
 *
 * Portable: no node-only import, hashing and Ed25519 come in as parameters. The same
 * compiled file runs in `stele check-proof` (node), in the dashboard (the browser loads it
 * from /assets/lib/proof/bundle.js with @noble/hashes and @noble/curves), and for library
 * users (`verifyBundle` is exported from the package).
 *
 * The file is the RFC 8785 (JCS) canonical JSON of the bundle plus one `\n`, and the parser
 * accepts nothing else: not re-indented JSON, not another key order, not uppercase hex, no
 * unknown or missing field. Every other byte is covered by a hash or the signature, so any
 * single altered byte makes the bundle malformed or makes a check fail; the format below is
 * designed for that (docs/file-format.md, "Proof bundles"):
 *
 *   event: {"checkpoint"?:{"keyId","logRoot","publicKey","sig","size","stateRoot"},"eventHash":hex,
 *           "kind":"event","line":"<the exact log line>","logRoot"?:hex,"path":[hex…],"seq":N,
 *           "type":"stele.proof","v":1}
 *   state: {"checkpoint"?:{"keyId","logRoot","publicKey","sig","size","stateRoot"},"kind":"state",
 *           "proof":<state proof of ./state-proof.ts, with the value when present>,
 *           "type":"stele.proof","v":1}
 *
 * - Event: `path` is the RFC 9162 §2.1.3 inclusion proof of leaf seq (leaf input: eventHash,
 *   the SHA-256 of `line`) in the tree the bundle commits to. Anchored: the checkpoint's tree,
 *   of its signed `size` and `logRoot` — the check a Certificate Transparency client makes
 *   against a signed tree head. Unanchored: the log of size seq + 1, whose root is the
 *   bundle's `logRoot` (the root the event's append was acknowledged with), present only
 *   then. No tree size is ever a free field: the RFC's verification binds a size only
 *   through the shape of the path (the path of leaf 0 in a tree of 3 also verifies for 4
 *   against the same root), so an unsigned size in the file could be altered undetected.
 *   It is the signed checkpoint size, or seq + 1, and seq is the line's own.
 * - State: the proof leads to `proof.stateRoot`, which must be the checkpoint's signed
 *   `stateRoot`. An inclusion proof must carry its value (the entry is what is proven).
 * - Checkpoint: exactly the signed data of a `stele.checkpoint` event (DESIGN.md §4) plus the
 *   signer's raw `publicKey`, whose SHA-256 must be `keyId`. No `ts`, no line: they would be
 *   unverified bytes. The key in the file makes the bundle checkable as it is; trust comes
 *   from pinning a key (`publicKeys`): a bundle signed by an unpinned key verifies as
 *   "signed by the key it carries", and fails as soon as any key is pinned.
 * - No checkpoint (an unsigned log, or an event after the newest signed checkpoint): the
 *   bundle proves the entry against the stated root only (`anchored: false`).
 *
 * Signatures are checked once per (commitment, signature, key) and remembered, per Ed25519
 * function, up to `limits.signatureCacheEntriesMax` successes: a batch of bundles against
 * one checkpoint costs one Ed25519 verification.
 */
import type { JsonValue } from '../canonical/json.js';
import { canonicalize, parseJsonBytes } from '../canonical/json.js';
import { utf8ByteLength } from '../canonical/utf8.js';
import type { CheckpointCommitment, Ed25519Verify } from '../crypto/checkpoint-sig.js';
import { checkpointMessage, keyIdOf, publicKeyBytes, signatureHexLength } from '../crypto/checkpoint-sig.js';
import type { SteleError, SteleErrorJson } from '../errors.js';
import { isSteleError, steleError } from '../errors.js';
import { bytesEqual, fromHex, toHex } from '../hash/hex.js';
import type { Sha256 } from '../hash/sha256.js';
import { limits } from '../limits.js';
import { checkInclusion, hashLeaf } from '../merkle/log-tree.js';
import { checkStateProof, hashStateKey, hashStateValue } from '../state/smt-hash.js';
import type { StateProofJson } from './state-proof.js';
import { parseStateProof, stateProofOf } from './state-proof.js';

const utf8 = new TextEncoder();

/** `type` of every bundle. */
export const bundleType = 'stele.proof';
/** Format version of the bundle. */
export const bundleVersion = 1;

/** A checkpoint's signed data (DESIGN.md §4) and the key it verifies under. */
export interface BundleCheckpoint {
  size: number;
  logRoot: string;
  stateRoot: string;
  /** Ed25519 over JCS({logRoot, size, stateRoot}), 128 lowercase hex. */
  sig: string;
  /** SHA-256 of publicKey, 64 lowercase hex. */
  keyId: string;
  /** The raw 32-byte Ed25519 public key, 64 lowercase hex. */
  publicKey: string;
}

export interface EventBundle {
  type: typeof bundleType;
  v: typeof bundleVersion;
  kind: 'event';
  seq: number;
  /** The exact log line, without `\n`. */
  line: string;
  /** SHA-256 of the line's UTF-8 bytes. */
  eventHash: string;
  /** Unanchored bundles only: the root of the log of size seq + 1. */
  logRoot?: string;
  /** Inclusion proof of leaf seq (RFC 9162 §2.1.3) in the checkpoint's tree, or else in the log of size seq + 1. */
  path: string[];
  checkpoint?: BundleCheckpoint;
}

export interface StateBundle {
  type: typeof bundleType;
  v: typeof bundleVersion;
  kind: 'state';
  proof: StateProofJson;
  checkpoint?: BundleCheckpoint;
}

export type ProofBundle = EventBundle | StateBundle;

// ---- Constructors ----

/** The signer's part of a bundle: a checkpoint's signed data and its raw public key. */
export interface SignedCheckpoint extends CheckpointCommitment {
  sig: string;
  keyId: string;
  publicKey: Uint8Array;
}

/**
 * An event bundle from its parts: the exact line (without `\n`) and the inclusion path of
 * leaf seq, either in the signed checkpoint's tree (`checkpoint`) or, unanchored, in the log
 * of size seq + 1 whose root is `logRoot`. Checks nothing cryptographic: verify the result
 * (`verifyBundle`) before handing it out.
 */
export function makeEventBundle(
  sha: Sha256,
  parts: { seq: number; line: string; path: readonly Uint8Array[] } & ({ checkpoint: SignedCheckpoint } | { logRoot: string }),
): EventBundle {
  const bundle: EventBundle = { type: bundleType, v: bundleVersion, kind: 'event', seq: parts.seq, line: parts.line, eventHash: toHex(sha(utf8.encode(parts.line))), path: parts.path.map(toHex) };
  if ('checkpoint' in parts) bundle.checkpoint = checkpointJson(parts.checkpoint);
  else bundle.logRoot = parts.logRoot;
  return bundle;
}

/** A state bundle from a state proof (with its value, for an inclusion proof) and optionally the signed checkpoint whose stateRoot it leads to. */
export function makeStateBundle(proof: StateProofJson, signed?: SignedCheckpoint): StateBundle {
  const bundle: StateBundle = { type: bundleType, v: bundleVersion, kind: 'state', proof };
  if (signed !== undefined) bundle.checkpoint = checkpointJson(signed);
  return bundle;
}

function checkpointJson(s: SignedCheckpoint): BundleCheckpoint {
  return { size: s.size, logRoot: s.logRoot, stateRoot: s.stateRoot, sig: s.sig, keyId: s.keyId, publicKey: toHex(s.publicKey) };
}

/**
 * The file of a bundle: its RFC 8785 canonical JSON and `\n`. The bundle is parsed first, so
 * this never writes what `parseBundle` would refuse (STELE_E_PROOF_FORMAT otherwise).
 */
export function formatBundle(bundle: ProofBundle): string {
  const text = bundleJson(parseBundleValue(bundle));
  if (utf8ByteLength(text) + 1 > limits.proofBundleBytesMax) {
    throw steleError('STELE_E_INPUT_TOO_LARGE', `the bundle would be over ${limits.proofBundleBytesMax} bytes`, {
      fix: 'the entry is too large to prove in a bundle; use stele state get KEY --proof without the value, or raise proofBundleBytesMax',
    });
  }
  return `${text}\n`;
}

// ---- Strict parser ----

const eventKeys = ['eventHash', 'kind', 'line', 'path', 'seq', 'type', 'v'];
const stateKeys = ['kind', 'proof', 'type', 'v'];
const checkpointKeys = ['keyId', 'logRoot', 'publicKey', 'sig', 'size', 'stateRoot'];

/**
 * Parses a bundle file's bytes (or its text): at most `limits.proofBundleBytesMax` bytes,
 * strict UTF-8, exactly the canonical JSON of a bundle followed by one `\n`. Anything else
 * is STELE_E_PROOF_FORMAT (STELE_E_INPUT_TOO_LARGE over the size), with `where.path` the
 * offending field or `where.offset` the byte. Checks the format only: see `verifyBundle`.
 */
export function parseBundle(input: Uint8Array | string): ProofBundle {
  const bytes = typeof input === 'string' ? utf8.encode(input) : input;
  if (bytes.length > limits.proofBundleBytesMax) {
    throw steleError('STELE_E_INPUT_TOO_LARGE', `the bundle is ${bytes.length} bytes, over the limit of ${limits.proofBundleBytesMax}`, { fix: 'pass a bundle written by stele prove' });
  }
  if (bytes.length === 0 || bytes[bytes.length - 1] !== 0x0a) throw formatError('a bundle file ends with one newline (\\n) after its JSON', undefined, bytes.length);
  const body = bytes.subarray(0, bytes.length - 1);
  // Hot path of the verifier: strict UTF-8 and the platform's JSON.parse, then the fields,
  // then the canonical check: the text must be exactly what `bundleJson` writes for the
  // parsed bundle. That accepts exactly the canonical form: whatever JSON.parse is lenient
  // about (duplicate keys, whitespace, other escapes, number forms or key orders) gives
  // other text, and lone surrogates and non-JSON values are refused by the field checks.
  let text: string | undefined;
  let value: unknown;
  try {
    text = strictUtf8.decode(body);
    value = JSON.parse(text);
  } catch {
    text = undefined;
  }
  if (text === undefined) {
    // Only to say where: the strict parser names the byte.
    try {
      parseJsonBytes(body);
    } catch (err) {
      if (!isSteleError(err)) throw err;
      throw formatError(`not JSON: ${err.message}`, err.where.path, err.where.offset);
    }
    throw formatError('not JSON');
  }
  const bundle = parseBundleValue(value);
  const canonical = bundleJson(bundle);
  if (canonical !== text) {
    let at = 0;
    while (at < text.length && at < canonical.length && text.charCodeAt(at) === canonical.charCodeAt(at)) at++;
    throw formatError(`not canonical JSON (RFC 8785): the text differs from the canonical form at character ${at}`);
  }
  return bundle;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The RFC 8785 canonical JSON of a parsed bundle, written field by field (keys in sorted
 * order, hex and integers as they are, strings as ECMAScript JSON.stringify writes them,
 * which RFC 8785 §3.2.2.2 adopts for well-formed strings, the state value through
 * `canonicalize`). Equal to `canonicalize(bundle)` (a test checks it), about five times
 * faster: it is the canonical check of every verification.
 */
function bundleJson(b: ProofBundle): string {
  const v = `"type":"${bundleType}","v":${bundleVersion}}`;
  if (b.kind === 'event') {
    const cp = b.checkpoint === undefined ? '' : `"checkpoint":{${checkpointFields(b.checkpoint)}},`;
    const root = b.logRoot === undefined ? '' : `"logRoot":"${b.logRoot}",`;
    return `{${cp}"eventHash":"${b.eventHash}","kind":"event","line":${JSON.stringify(b.line)},${root}"path":${hexList(b.path)},"seq":${b.seq},${v}`;
  }
  const c = b.checkpoint;
  const cp = c === undefined ? '' : `"checkpoint":{${checkpointFields(c)}},`;
  const p = b.proof;
  const end = p.end === undefined ? '' : p.end.type === 'empty' ? '"end":{"type":"empty"},' : `"end":{"keyHash":"${p.end.keyHash}","type":"leaf","valueHash":"${p.end.valueHash}"},`;
  const value = p.valueHash === undefined ? '' : `,"value":${canonicalize(p.value)},"valueHash":"${p.valueHash}"`;
  const proof = `{${end}"key":${JSON.stringify(p.key)},"keyHash":"${p.keyHash}","siblings":${hexList(p.siblings)},"stateRoot":"${p.stateRoot}","type":"state","v":${p.v}${value}}`;
  return `{${cp}"kind":"state","proof":${proof},${v}`;
}

function checkpointFields(c: BundleCheckpoint): string {
  return `"keyId":"${c.keyId}","logRoot":"${c.logRoot}","publicKey":"${c.publicKey}","sig":"${c.sig}","size":${c.size},"stateRoot":"${c.stateRoot}"`;
}

function hexList(list: readonly string[]): string {
  return list.length === 0 ? '[]' : `["${list.join('","')}"]`;
}

/** Checks an already-parsed value is a bundle of this version (fields, types, hex, limits); returns it typed. */
export function parseBundleValue(value: unknown): ProofBundle {
  if (!isObject(value)) throw formatError('a bundle is a JSON object');
  if (value.type !== bundleType) throw formatError(`type must be "${bundleType}"`, 'type');
  if (value.v !== bundleVersion) throw formatError(`v must be ${bundleVersion} (this stele reads version ${bundleVersion} bundles)`, 'v');
  if (value.kind === 'event') {
    // Anchored: the checkpoint's tree; else the log of size seq + 1 and its root.
    const anchored = Object.hasOwn(value, 'checkpoint');
    checkKeys(value, anchored ? eventKeys : [...eventKeys, 'logRoot'], anchored ? ['checkpoint'] : []);
    const seq = count(value.seq, 'seq');
    if (seq >= Number.MAX_SAFE_INTEGER) throw formatError('seq is too large', 'seq');
    const line = value.line;
    if (typeof line !== 'string' || !line.isWellFormed()) throw formatError('line must be a string of well-formed Unicode', 'line');
    if (utf8ByteLength(line) > limits.lineBytesMax) throw formatError(`line is over the ${limits.lineBytesMax} bytes of a log line`, 'line');
    const out: EventBundle = { type: bundleType, v: bundleVersion, kind: 'event', seq, line, eventHash: hash(value.eventHash, 'eventHash'), path: hashes(value.path, 'path') };
    if (anchored) {
      const c = value.checkpoint;
      if (!isObject(c)) throw formatError('checkpoint must be an object', 'checkpoint');
      checkKeys(c, checkpointKeys, [], 'checkpoint.');
      out.checkpoint = checkpoint(c);
    } else {
      out.logRoot = hash(value.logRoot, 'logRoot');
    }
    return out;
  }
  if (value.kind === 'state') {
    checkKeys(value, stateKeys, ['checkpoint']);
    let proof: StateProofJson;
    try {
      proof = parseStateProof(value.proof);
    } catch (err) {
      if (!isSteleError(err)) throw err;
      throw formatError(err.message.replace(/^invalid state proof: /, 'proof: '), err.where.path === undefined ? 'proof' : `proof.${err.where.path}`);
    }
    if (proof.valueHash !== undefined && !Object.hasOwn(proof, 'value')) throw formatError('proof has valueHash but no value: a state bundle carries the entry it proves', 'proof.value');
    const out: StateBundle = { type: bundleType, v: bundleVersion, kind: 'state', proof };
    if (Object.hasOwn(value, 'checkpoint')) {
      const c = value.checkpoint;
      if (!isObject(c)) throw formatError('checkpoint must be an object', 'checkpoint');
      checkKeys(c, checkpointKeys, [], 'checkpoint.');
      out.checkpoint = checkpoint(c);
    }
    return out;
  }
  throw formatError('kind must be "event" or "state"', 'kind');
}

function checkpoint(c: Record<string, unknown>): BundleCheckpoint {
  const size = count(c.size, 'checkpoint.size');
  const sig = c.sig;
  if (!isLowerHex(sig, signatureHexLength)) throw formatError(`checkpoint.sig must be ${signatureHexLength} lowercase hex characters`, 'checkpoint.sig');
  return {
    size,
    logRoot: hash(c.logRoot, 'checkpoint.logRoot'),
    stateRoot: hash(c.stateRoot, 'checkpoint.stateRoot'),
    sig,
    keyId: hash(c.keyId, 'checkpoint.keyId'),
    publicKey: hash(c.publicKey, 'checkpoint.publicKey'),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(obj: Record<string, unknown>, required: readonly string[], optional: readonly string[], prefix = ''): void {
  for (const k of Object.keys(obj)) if (!required.includes(k) && !optional.includes(k)) throw formatError(`unknown field ${prefix}${k}`, `${prefix}${k}`);
  for (const k of required) if (!Object.hasOwn(obj, k)) throw formatError(`missing field ${prefix}${k}`, `${prefix}${k}`);
}

function count(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw formatError(`${field} must be an integer ≥ 0`, field);
  return value;
}

function hash(value: unknown, field: string): string {
  if (!isLowerHex(value, 64)) throw formatError(`${field} must be 64 lowercase hex characters`, field);
  return value;
}

/** `length` lowercase hex characters. A loop, not a regex: three times faster on the verifier's hot path. */
function isLowerHex(value: unknown, length: number): value is string {
  if (typeof value !== 'string' || value.length !== length) return false;
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function hashes(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) throw formatError(`${field} must be an array of hashes`, field);
  // Checked before reading any element, so an oversized array costs nothing more.
  if (value.length > limits.proofHashesMax) throw formatError(`${field} has ${value.length} hashes, over the limit of ${limits.proofHashesMax}`, field);
  for (let i = 0; i < value.length; i++) if (!isLowerHex(value[i], 64)) throw formatError(`${field}[${i}] must be 64 lowercase hex characters`, `${field}[${i}]`);
  return value as string[];
}

function formatError(message: string, path?: string, offset?: number): SteleError {
  const where = { ...(path === undefined ? {} : { path }), ...(offset === undefined ? {} : { offset }) };
  return steleError('STELE_E_PROOF_FORMAT', `invalid proof bundle: ${message}`, {
    where,
    fix: 'pass the file exactly as stele prove wrote it: a bundle is checked byte for byte (canonical JSON and one newline), so any edit, re-indentation or re-encoding makes it malformed',
  });
}

// ---- Verification ----

/** What a check established. Ids are stable (tests and tools match on them). */
export type BundleCheckId =
  | 'format'
  | 'line'
  | 'eventHash'
  | 'inclusion'
  | 'keyHash'
  | 'valueHash'
  | 'statePath'
  | 'keyId'
  | 'signature'
  | 'pinned'
  | 'anchor'
  | 'covers'
  | 'stateRoot';

export interface BundleCheck {
  id: BundleCheckId;
  ok: boolean;
  /** What is checked, in words. */
  label: string;
  /** The value found, or what differed. */
  detail: string;
}

export interface BundleVerdict {
  /** Every check passed. */
  valid: boolean;
  /** The bytes are not a bundle (the `format` check failed): `error` says why. */
  malformed: boolean;
  kind: 'event' | 'state' | null;
  /** A checkpoint commits to the entry and its signature verifies (pinned or not: see `signer`). */
  anchored: boolean;
  /** The checkpoint's signer, when the bundle has one; `pinned` when it is among `publicKeys`. */
  signer: { keyId: string; pinned: boolean } | null;
  /** Every check, in order, passed or not. */
  checks: BundleCheck[];
  /** One sentence: what the bundle proves, or the first check that failed. */
  summary: string;
  /** The parsed bundle (absent when malformed). */
  bundle?: ProofBundle;
  /** The format error when malformed. */
  error?: SteleErrorJson;
}

export interface VerifyBundleOptions {
  sha256: Sha256;
  ed25519Verify: Ed25519Verify;
  /**
   * Pinned public keys (raw 32 bytes). None: a signed bundle verifies under the key it
   * carries (`signer.pinned` false). Some: the checkpoint must be signed by one of them, and
   * a bundle without a signed checkpoint fails.
   */
  publicKeys?: readonly Uint8Array[];
  /** Remember successful signature checks (default true; false: verify every time). */
  signatureCache?: boolean;
}

/**
 * Verified signatures, per Ed25519 function (a cache filled by one implementation is never
 * consulted for another): `publicKey.sig.logRoot.size.stateRoot` (hex) → true. Only successes
 * are kept, so garbage signatures cannot churn it; it is emptied when full.
 */
const signatureCaches = new WeakMap<Ed25519Verify, Map<string, true>>();

/** keyIds (SHA-256 of a public key) already computed, per SHA-256 function, same bound. */
const keyIdCaches = new WeakMap<Sha256, Map<string, string>>();

function keyIdOfHex(sha: Sha256, publicKeyHex: string, publicKey: Uint8Array): string {
  let cache = keyIdCaches.get(sha);
  if (cache === undefined) {
    cache = new Map();
    keyIdCaches.set(sha, cache);
  }
  let keyId = cache.get(publicKeyHex);
  if (keyId === undefined) {
    keyId = keyIdOf(sha, publicKey);
    if (cache.size >= limits.signatureCacheEntriesMax) cache.clear();
    cache.set(publicKeyHex, keyId);
  }
  return keyId;
}

function verifySignature(options: VerifyBundleOptions, cp: BundleCheckpoint, publicKey: Uint8Array): boolean {
  const useCache = options.signatureCache !== false;
  const cacheKey = `${cp.publicKey}.${cp.sig}.${cp.logRoot}.${cp.size}.${cp.stateRoot}`;
  let cache = useCache ? signatureCaches.get(options.ed25519Verify) : undefined;
  if (cache?.has(cacheKey) === true) return true;
  let ok: boolean;
  try {
    ok = options.ed25519Verify(fromHex(cp.sig)!, checkpointMessage(cp), publicKey);
  } catch {
    ok = false;
  }
  if (ok && useCache) {
    if (cache === undefined) {
      cache = new Map();
      signatureCaches.set(options.ed25519Verify, cache);
    }
    if (cache.size >= limits.signatureCacheEntriesMax) cache.clear();
    cache.set(cacheKey, true);
  }
  return ok;
}

/**
 * Verifies a bundle: its file bytes (or text), or an already parsed bundle (then only the
 * fields, not the bytes, are checked for form). Never throws on any input: a malformed file
 * is a verdict with `malformed` and the failed `format` check. Every applicable check is
 * run and reported, so a failure names exactly what did not hold:
 *
 * - event: the line is a canonical event with this seq; SHA-256(line) = eventHash; with a
 *   checkpoint, seq < its size; the path leads from leaf seq (leaf input eventHash, RFC 9162
 *   §2.1.3.2) to the checkpoint's logRoot in its tree of its size, or, unanchored, to
 *   logRoot in the log of size seq + 1;
 * - state: SHA-256(key) = keyHash; SHA-256(JCS(value)) = valueHash; the siblings lead to
 *   stateRoot (DESIGN.md §3); with a checkpoint, stateRoot is its signed stateRoot;
 * - checkpoint: SHA-256(publicKey) = keyId; the Ed25519 signature of JCS({logRoot, size,
 *   stateRoot}) verifies under publicKey; the key is pinned (when keys are given);
 * - no checkpoint and keys pinned: fails (`anchor`).
 */
export function verifyBundle(input: Uint8Array | string | ProofBundle, options: VerifyBundleOptions): BundleVerdict {
  let bundle: ProofBundle;
  try {
    bundle = typeof input === 'string' || input instanceof Uint8Array ? parseBundle(input) : parseBundleValue(input);
  } catch (err) {
    if (!isSteleError(err)) throw err;
    const check: BundleCheck = { id: 'format', ok: false, label: formatLabel, detail: err.message.replace(/^invalid proof bundle: /, '') };
    return { valid: false, malformed: true, kind: null, anchored: false, signer: null, checks: [check], summary: `malformed: ${check.detail}`, error: err.toJSON() };
  }
  const sha = options.sha256;
  const checks: BundleCheck[] = [{ id: 'format', ok: true, label: formatLabel, detail: bundle.kind === 'event' ? 'event bundle, v1' : 'state bundle, v1' }];
  const subject = bundle.kind === 'event' ? verifyEventParts(bundle, sha, checks) : verifyStateParts(bundle, sha, checks);
  const pinned = options.publicKeys ?? [];
  let signer: BundleVerdict['signer'] = null;
  let signed = false;
  const cp = bundle.checkpoint;
  if (cp === undefined) {
    if (pinned.length > 0) checks.push({ id: 'anchor', ok: false, label: 'a checkpoint signed by a pinned key commits to the entry', detail: 'the bundle has no signed checkpoint: it proves the entry against its stated root only' });
  } else {
    const publicKey = fromHex(cp.publicKey)!;
    const keyId = keyIdOfHex(sha, cp.publicKey, publicKey);
    const keyIdOk = keyId === cp.keyId;
    checks.push({ id: 'keyId', ok: keyIdOk, label: "keyId is the SHA-256 of the bundle's public key", detail: keyIdOk ? keyId : `SHA-256 of publicKey is ${keyId}, keyId says ${cp.keyId}` });
    const sigOk = verifySignature(options, cp, publicKey);
    checks.push({
      id: 'signature',
      ok: sigOk,
      label: `Ed25519 signature of the checkpoint of size ${cp.size} verifies under that key`,
      detail: sigOk ? `signed by ${cp.keyId}` : 'the signature does not verify over {logRoot, size, stateRoot} under publicKey',
    });
    const isPinned = pinned.some((k) => k.length === publicKeyBytes && bytesEqual(k, publicKey));
    if (pinned.length > 0) {
      checks.push({ id: 'pinned', ok: isPinned, label: 'the signing key is pinned', detail: isPinned ? cp.keyId : `signed by ${cp.keyId}, which is none of the ${plural(pinned.length, 'pinned key', 'pinned keys')}` });
    }
    if (bundle.kind === 'state') {
      const same = bundle.proof.stateRoot === cp.stateRoot;
      checks.push({ id: 'stateRoot', ok: same, label: "the proof's state root is the checkpoint's signed stateRoot", detail: same ? cp.stateRoot : `proof.stateRoot ${bundle.proof.stateRoot}, checkpoint.stateRoot ${cp.stateRoot}` });
    }
    signed = keyIdOk && sigOk;
    if (signed) signer = { keyId: cp.keyId, pinned: isPinned };
  }
  let valid = true;
  for (const c of checks) if (!c.ok) valid = false;
  const anchored = valid && signed;
  let summary: string;
  if (!valid) {
    const first = checks.find((c) => !c.ok)!;
    summary = `does not verify: ${first.label} — ${first.detail}`;
  } else if (anchored && cp !== undefined) {
    const by = signer!.pinned ? `pinned key ${cp.keyId}` : `key ${cp.keyId}, carried in the bundle and not pinned (pin a key to trust it)`;
    summary = `${subject}, committed by the checkpoint of size ${cp.size} signed by ${by}`;
  } else {
    summary = `${subject}, against the stated root only: no signed checkpoint commits to it`;
  }
  return { valid, malformed: false, kind: bundle.kind, anchored, signer, checks, summary, bundle };
}

const formatLabel = 'canonical JSON of a stele.proof bundle';

/** The event checks; returns what the bundle proves, in words. */
function verifyEventParts(b: EventBundle, sha: Sha256, checks: BundleCheck[]): string {
  let lineDetail: string;
  let lineOk = false;
  let type = '?';
  try {
    // JSON.parse then canonicalize: equal text iff the line is canonical (see parseBundle).
    const event = JSON.parse(b.line) as JsonValue;
    if (!isObject(event)) lineDetail = 'the line is not a JSON object';
    else if (event.seq !== b.seq) lineDetail = `the line's seq is ${JSON.stringify(event.seq)}, the bundle's ${b.seq}`;
    else if (typeof event.type !== 'string') lineDetail = 'the line has no type';
    else if (canonicalize(event) !== b.line) lineDetail = 'the line is not canonical JSON (RFC 8785), as every log line is';
    else {
      type = event.type;
      lineOk = true;
      lineDetail = `seq ${b.seq}, ${type}`;
    }
  } catch (err) {
    if (!isSteleError(err) && !(err instanceof SyntaxError)) throw err;
    lineDetail = `the line is not canonical JSON: ${err.message}`;
  }
  checks.push({ id: 'line', ok: lineOk, label: `the line is a canonical event with seq ${b.seq}`, detail: lineDetail });
  const computed = toHex(sha(utf8.encode(b.line)));
  checks.push({ id: 'eventHash', ok: computed === b.eventHash, label: 'SHA-256 of the line is eventHash', detail: computed === b.eventHash ? computed : `computed ${computed}, eventHash says ${b.eventHash}` });
  const cp = b.checkpoint;
  // The tree the path leads into: the checkpoint's (signed size and root), or the log of size seq + 1.
  const size = cp === undefined ? b.seq + 1 : cp.size;
  const root = cp === undefined ? b.logRoot! : cp.logRoot;
  let covered = true;
  if (cp !== undefined) {
    covered = b.seq < cp.size;
    checks.push({ id: 'covers', ok: covered, label: `the checkpoint covers event ${b.seq}`, detail: covered ? `seq ${b.seq} < size ${cp.size}` : `the checkpoint's log has ${cp.size} events: event ${b.seq} is not among them` });
  }
  const included = covered && checkInclusion(sha, b.seq, size, hashLeaf(sha, fromHex(b.eventHash)!), b.path.map((h) => fromHex(h)!), fromHex(root)!);
  checks.push({
    id: 'inclusion',
    ok: included,
    label: `the inclusion path (${plural(b.path.length, 'hash', 'hashes')}) leads from the event to the ${cp === undefined ? 'root' : "checkpoint's signed root"} of the log of size ${size}`,
    detail: included ? root : `the path does not lead to ${root}`,
  });
  return `event ${b.seq} (${type}) is in the log`;
}

/** The state checks; returns what the bundle proves, in words. */
function verifyStateParts(b: StateBundle, sha: Sha256, checks: BundleCheck[]): string {
  const p = b.proof;
  const keyHash = toHex(hashStateKey(sha, p.key));
  checks.push({ id: 'keyHash', ok: keyHash === p.keyHash, label: 'SHA-256 of the key is keyHash', detail: keyHash === p.keyHash ? keyHash : `computed ${keyHash}, keyHash says ${p.keyHash}` });
  if (p.valueHash !== undefined) {
    const valueHash = toHex(hashStateValue(sha, p.value));
    checks.push({ id: 'valueHash', ok: valueHash === p.valueHash, label: 'SHA-256 of the canonical value is valueHash', detail: valueHash === p.valueHash ? valueHash : `computed ${valueHash}, valueHash says ${p.valueHash}` });
  }
  const included = p.valueHash !== undefined;
  const pathOk = checkStateProof(sha, stateProofOf(p), fromHex(p.stateRoot)!, fromHex(p.keyHash)!, included ? fromHex(p.valueHash!)! : undefined);
  checks.push({
    id: 'statePath',
    ok: pathOk,
    label: `the path (${plural(p.siblings.length, 'sibling', 'siblings')}) leads from ${included ? "the key's leaf" : p.end?.type === 'empty' ? "an empty subtree on the key's path" : "another key's leaf on the key's path"} to the state root`,
    detail: pathOk ? p.stateRoot : `the path does not lead to ${p.stateRoot}`,
  });
  return included ? `${p.key} has the value ${abbreviate(canonicalize(p.value))} in the state` : `${p.key} is absent from the state`;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Values are shown in one line of a summary, cut to this many characters. */
const summaryValueCharsMax = 80;

function abbreviate(text: string): string {
  return text.length > summaryValueCharsMax ? `${text.slice(0, summaryValueCharsMax - 1)}…` : text;
}
