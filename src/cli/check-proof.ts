/**
 * `stele check-proof FILE`: verifies a log inclusion or consistency proof, or a state proof
 * (`"type":"state"`, from `stele state get KEY --proof`), with nothing but the
 * file. Uses the portable SHA-256 (@noble/hashes), the implementation the browser and
 * third-party checkers use, so the CLI proves that path too.
 */
import fs from 'node:fs';
import { parseJsonBytes } from '../canonical/json.js';
import { steleError } from '../errors.js';
import { sha256Portable } from '../hash/portable.js';
import { limits } from '../limits.js';
import { checkProof, parseProof } from '../proof/format.js';
import { checkStateProofJson, parseStateProof } from '../proof/state-proof.js';
import { exitCodes, printJson } from './output.js';

export function checkProofFile(file: string, json: boolean): number {
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
  const value = parseJsonBytes(bytes);
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && value.type === 'state') return checkStateProofFile(value, json);
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
