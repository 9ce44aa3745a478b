/**
 * `stele check-proof FILE`: verifies, with nothing but the file, a proof bundle
 * (`"type":"stele.proof"`, from `stele prove event|state`: every check is printed, then the
 * verdict), or a bare log inclusion or consistency proof, or a state proof (`"type":"state"`,
 * from `stele state get KEY --proof`). Uses the portable SHA-256 (@noble/hashes) and Ed25519
 * (@noble/curves), the implementations the browser and third-party checkers use, so the CLI
 * proves that path too.
 *
 * Pinned keys (`--pubkey`): a bundle must then be anchored by a checkpoint signed by one of
 * them. A bare proof carries no signature, so with a pinned key it does not verify.
 * Exit: 0 valid, 1 invalid, 2 malformed.
 */
import fs from 'node:fs';
import { parseJsonBytes } from '../canonical/json.js';
import { ed25519VerifyPortable } from '../crypto/ed25519-portable.js';
import type { PublicKey } from '../crypto/keys.js';
import { isSteleError, steleError } from '../errors.js';
import { sha256Portable } from '../hash/portable.js';
import { limits } from '../limits.js';
import type { BundleVerdict } from '../proof/bundle.js';
import { bundleType, verifyBundle } from '../proof/bundle.js';
import { checkProof, parseProof } from '../proof/format.js';
import { checkStateProofJson, parseStateProof } from '../proof/state-proof.js';
import { exitCodes, printJson } from './output.js';

const bundleMarker = Buffer.from(`"type":"${bundleType}"`);
/** How a bundle's canonical JSON can begin (its first keys in sorted order); no other proof file begins so. */
const bundleStarts = ['{"checkpoint":{', '{"eventHash":"', '{"kind":"'].map((s) => Buffer.from(s));

/** A file that is not JSON but was meant as a bundle (cut, or altered) is reported as a bundle. */
function looksLikeBundle(bytes: Buffer): boolean {
  return bytes.includes(bundleMarker) || bundleStarts.some((start) => bytes.subarray(0, start.length).equals(start));
}

export function checkProofFile(file: string, json: boolean, publicKeys?: readonly PublicKey[]): number {
  let bytes: Buffer;
  try {
    const fd = file === '-' ? 0 : fs.openSync(file, 'r');
    try {
      const size = file === '-' ? 0 : fs.fstatSync(fd).size;
      if (size > limits.inputBytesMax) throw steleError('STELE_E_INPUT_TOO_LARGE', `${file} is over ${limits.inputBytesMax} bytes`, { where: { file } });
      bytes = fs.readFileSync(fd);
    } finally {
      if (file !== '-') fs.closeSync(fd);
    }
  } catch (err) {
    if (err instanceof Error && 'code' in err && String(err.code).startsWith('STELE_E_')) throw err;
    throw steleError('STELE_E_USAGE', `cannot read ${file}: ${(err as Error).message}`, { where: { file }, fix: 'pass the path of a proof file' });
  }
  if (bytes.length > limits.inputBytesMax) throw steleError('STELE_E_INPUT_TOO_LARGE', `${file} is over ${limits.inputBytesMax} bytes`, { where: { file } });
  let value: unknown;
  try {
    value = parseJsonBytes(bytes);
  } catch (err) {
    // A damaged bundle is still reported as a bundle, with its format check failed.
    if (isSteleError(err) && looksLikeBundle(bytes)) return checkBundleFile(bytes, file, json, publicKeys);
    throw err;
  }
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (isObject && (value as { type?: unknown }).type === bundleType) return checkBundleFile(bytes, file, json, publicKeys);
  if (publicKeys !== undefined && publicKeys.length > 0) {
    throw steleError('STELE_E_PROOF_INVALID', 'a key is pinned (--pubkey), but this proof file carries no signature: it can only prove against its stated root', {
      where: { file },
      fix: 'ask for a signed proof bundle (stele prove event SEQ / stele prove state KEY), or drop --pubkey',
    });
  }
  if (isObject && (value as { type?: unknown }).type === 'state') return checkStateProofFile(value, json);
  const proof = parseProof(value);
  const ok = checkProof(sha256Portable, proof);
  if (json) printJson({ ok, ...proof });
  else if (ok) {
    process.stdout.write(
      proof.type === 'inclusion'
        ? `ok: event ${proof.seq} (hash ${proof.eventHash}) is included in the log of size ${proof.size} with root ${proof.logRoot}\n`
        : `ok: the log of size ${proof.size1} (root ${proof.root1}) is a prefix of the log of size ${proof.size2} (root ${proof.root2})\n`,
    );
  } else {
    process.stderr.write(`stele: the ${proof.type} proof does not verify [STELE_E_PROOF_INVALID]\n  fix:      the proof, the hashes or the root were altered; ask the log operator for a new proof\n`);
  }
  return ok ? exitCodes.ok : exitCodes.verifyFailed;
}

function checkStateProofFile(value: unknown, json: boolean): number {
  const proof = parseStateProof(value);
  const ok = checkStateProofJson(sha256Portable, proof);
  const included = proof.valueHash !== undefined;
  if (json) printJson({ ok, ...proof });
  else if (ok) {
    process.stdout.write(
      included
        ? `ok: ${proof.key} has the value with hash ${proof.valueHash} in the state with root ${proof.stateRoot}\n`
        : `ok: ${proof.key} is absent from the state with root ${proof.stateRoot}\n`,
    );
  } else {
    process.stderr.write(`stele: the state proof does not verify [STELE_E_PROOF_INVALID]\n  fix:      the proof, the value or the root were altered; ask the operator for a new proof\n`);
  }
  return ok ? exitCodes.ok : exitCodes.verifyFailed;
}

/** A proof bundle: every check on stdout, the verdict, and the exit code (0 valid, 1 invalid, 2 malformed). */
function checkBundleFile(bytes: Buffer, file: string, json: boolean, publicKeys: readonly PublicKey[] | undefined): number {
  const verdict = verifyBundle(bytes, {
    sha256: sha256Portable,
    ed25519Verify: ed25519VerifyPortable,
    ...(publicKeys === undefined ? {} : { publicKeys: publicKeys.map((k) => k.publicKey) }),
  });
  const code = verdict.malformed ? exitCodes.usage : verdict.valid ? exitCodes.ok : exitCodes.verifyFailed;
  if (json) {
    const out: Omit<BundleVerdict, 'bundle'> & { file: string } = { file, ...verdict };
    delete (out as { bundle?: unknown }).bundle;
    printJson(out);
    return code;
  }
  if (verdict.malformed) {
    // The format error, with where and fix, printed like every other error (exit 2).
    const e = verdict.error!;
    throw steleError(e.code, e.message, { where: { file, ...e.where }, ...(e.fix === undefined ? {} : { fix: e.fix }) });
  }
  for (const c of verdict.checks) process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.label}: ${c.detail}\n`);
  if (verdict.valid) {
    process.stdout.write(`${verdict.anchored ? 'valid' : 'valid, not anchored'}: ${verdict.summary}\n`);
  } else {
    const failed = verdict.checks.find((c) => !c.ok)!;
    process.stderr.write(
      `stele: the proof bundle does not verify: ${failed.label} [STELE_E_PROOF_INVALID]\n  where:    ${file} (check ${failed.id})\n  found:    ${failed.detail}\n  fix:      ${fixOf(failed.id)}\n`,
    );
  }
  return code;
}

function fixOf(id: string): string {
  switch (id) {
    case 'pinned':
    case 'anchor':
      return 'the bundle is not signed by a key you pinned: check the --pubkey you gave, or ask the operator for a bundle anchored by a checkpoint signed with that key';
    case 'covers':
      return 'the checkpoint does not include the event: ask for a new bundle once a later checkpoint is written';
    default:
      return 'the bundle was altered, or does not belong to this log: ask the operator for a new one (stele prove)';
  }
}
