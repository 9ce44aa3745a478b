/**
 * node:crypto SHA-256 in the allocation-free `Sha256Into` form the state tree hashes with:
 * the tree's default (./smt.ts). Node-only; everything else about the state tree's hashing is
 * in the portable ./smt-hash.ts.
 *
 * Fast case (measured on this project's 2-core machine, Node 20): `crypto.hash` of a 65-byte
 * node input returning a one-byte ('binary' = latin1) string, its 32 char codes copied into
 * the arena, runs at ~1.8M/s; the `Buffer.from(…, 'latin1')` that src/hash/sha256.ts's
 * `sha256` adds costs ~250 ns more per hash (~1.2M/s), a third of a 1M-key build.
 */
import { hash } from 'node:crypto';
import type { Sha256Into } from './smt-hash.js';

/** SHA-256 of `data` written to `out[offset … offset + 32)`. */
export const sha256Into: Sha256Into = (data, out, offset) => {
  const digest = hash('sha256', data, 'binary');
  for (let i = 0; i < 32; i++) out[offset + i] = digest.charCodeAt(i);
};

/**
 * SHA-256 of a string's UTF-8 bytes written to `out[offset … offset + 32)`: node:crypto
 * encodes the string natively, so a keyHash or the valueHash of canonical JSON text
 * (DESIGN.md §3) needs no JS-side encoding.
 */
export function sha256Utf8Into(text: string, out: Uint8Array, offset: number): void {
  const digest = hash('sha256', text, 'binary');
  for (let i = 0; i < 32; i++) out[offset + i] = digest.charCodeAt(i);
}
