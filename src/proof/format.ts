/**
 * The JSON proof files of `stele prove` and `stele consistency`, and their offline check.
 *
 *   inclusion:   {"type":"inclusion","seq":N,"size":N,"eventHash":hex,"logRoot":hex,"path":[hex…]}
 *   consistency: {"type":"consistency","size1":N,"size2":N,"root1":hex,"root2":hex,"path":[hex…]}
 *
 * `type` is written by stele; a file without it is classified by its fields, so proofs
 * assembled by hand from the documented shape check too. The parser is strict: unknown
 * fields, non-lowercase hex, wrong hash lengths, sizes out of range and over-long paths are
 * rejected with STELE_E_PROOF_FORMAT. Verification follows RFC 9162 §2.1.3.2 / §2.1.4.2 and
 * takes the SHA-256 implementation as a parameter: no node-only import, so the same code
 * checks proofs in the browser with @noble/hashes.
 */
import { steleError } from '../errors.js';
import { fromHex, toHex } from '../hash/hex.js';
import type { Sha256 } from '../hash/sha256.js';
import { checkConsistency, checkInclusion, hashLeaf } from '../merkle/log-tree.js';
import { limits } from '../limits.js';

export interface InclusionProof {
  type: 'inclusion';
  seq: number;
  size: number;
  eventHash: string;
  logRoot: string;
  path: string[];
}

export interface ConsistencyProof {
  type: 'consistency';
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  path: string[];
}

export type LogProof = InclusionProof | ConsistencyProof;

export function formatInclusionProof(seq: number, size: number, eventHash: string, logRoot: string, path: readonly Uint8Array[]): InclusionProof {
  return { type: 'inclusion', seq, size, eventHash, logRoot, path: path.map(toHex) };
}

export function formatConsistencyProof(size1: number, size2: number, root1: string, root2: string, path: readonly Uint8Array[]): ConsistencyProof {
  return { type: 'consistency', size1, size2, root1, root2, path: path.map(toHex) };
}

const inclusionKeys = ['eventHash', 'logRoot', 'path', 'seq', 'size'];
const consistencyKeys = ['path', 'root1', 'root2', 'size1', 'size2'];

/** Parses a proof object (already JSON-parsed); throws STELE_E_PROOF_FORMAT on anything off. */
export function parseProof(value: unknown): LogProof {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw formatError('a proof is a JSON object');
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => k !== 'type');
  const declared = obj.type;
  const kind = declared ?? (keys.includes('seq') ? 'inclusion' : keys.includes('size1') ? 'consistency' : undefined);
  if (kind === 'inclusion') {
    checkKeys(keys, inclusionKeys);
    const seq = size(obj.seq, 'seq');
    const sz = size(obj.size, 'size');
    if (seq >= sz) throw formatError(`seq ${seq} is not below size ${sz}`, 'seq');
    return { type: 'inclusion', seq, size: sz, eventHash: hash(obj.eventHash, 'eventHash'), logRoot: hash(obj.logRoot, 'logRoot'), path: hashes(obj.path) };
  }
  if (kind === 'consistency') {
    checkKeys(keys, consistencyKeys);
    const size1 = size(obj.size1, 'size1');
    const size2 = size(obj.size2, 'size2');
    if (size1 > size2) throw formatError(`size1 ${size1} is above size2 ${size2}`, 'size1');
    return { type: 'consistency', size1, size2, root1: hash(obj.root1, 'root1'), root2: hash(obj.root2, 'root2'), path: hashes(obj.path) };
  }
  throw formatError('unknown proof type: expected "inclusion" (seq, size, eventHash, logRoot, path) or "consistency" (size1, size2, root1, root2, path)', 'type');
}

/** Verifies a parsed proof (RFC 9162 §2.1.3.2 / §2.1.4.2). Pure: no log needed. */
export function checkProof(sha: Sha256, proof: LogProof): boolean {
  const path = proof.path.map((h) => fromHex(h)!);
  if (proof.type === 'inclusion') {
    const leaf = hashLeaf(sha, fromHex(proof.eventHash)!);
    return checkInclusion(sha, proof.seq, proof.size, leaf, path, fromHex(proof.logRoot)!);
  }
  return checkConsistency(sha, proof.size1, proof.size2, fromHex(proof.root1)!, fromHex(proof.root2)!, path);
}

function checkKeys(keys: string[], allowed: string[]): void {
  for (const k of keys) if (!allowed.includes(k)) throw formatError(`unknown field ${k}`, k);
  for (const k of allowed) if (!keys.includes(k)) throw formatError(`missing field ${k}`, k);
}

function size(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw formatError(`${field} must be an integer ≥ 0`, field);
  return value;
}

function hash(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value)) throw formatError(`${field} must be 64 lowercase hex characters`, field);
  return value;
}

function hashes(value: unknown): string[] {
  if (!Array.isArray(value)) throw formatError('path must be an array of hashes', 'path');
  if (value.length > limits.proofHashesMax) throw formatError(`path has ${value.length} hashes, over the limit of ${limits.proofHashesMax}`, 'path');
  return value.map((h, i) => hash(h, `path[${i}]`));
}

function formatError(message: string, path?: string) {
  return steleError('STELE_E_PROOF_FORMAT', `invalid proof: ${message}`, {
    ...(path === undefined ? {} : { where: { path } }),
    fix: 'pass a file written by stele prove or stele consistency',
  });
}
