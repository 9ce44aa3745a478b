/**
 * SHA-256 for the server's hot paths, and hex helpers.
 *
 * Measured on this project's machines (issue #2): SHA-256 of a ~260-byte line runs at
 * ~2.4M/s with node:crypto's one-shot `crypto.hash` versus ~210k/s with @noble/hashes, so
 * the writer, reader and verifier use this file. `./portable.ts` is the same function on
 * @noble/hashes for the offline proof checker and the browser; a test proves both agree.
 */
import { hash } from 'node:crypto';

/** A SHA-256 implementation: bytes in, 32 bytes out. */
export type Sha256 = (data: Uint8Array) => Uint8Array;

/**
 * SHA-256 through node:crypto's one-shot API (no Hash object per call).
 * Fast case: on Node 20, `crypto.hash(…, 'buffer')` of a 65-byte input runs at ~1.45M/s but
 * the same digest as a latin1 string converted with Buffer.from runs at ~2.35M/s (measured
 * on this project's machines), so the digest takes the string route.
 */
export const sha256: Sha256 = (data) => Buffer.from(hash('sha256', data, 'binary'), 'latin1');

/** SHA-256 of a string's UTF-8 bytes; node:crypto encodes natively, no JS Buffer needed. */
export function sha256Utf8(text: string): Buffer {
  return Buffer.from(hash('sha256', text, 'binary'), 'latin1');
}

/** SHA-256 as lowercase hex; node:crypto's fastest output form. */
export function sha256Hex(data: Uint8Array): string {
  return hash('sha256', data, 'hex');
}

/** SHA-256 of a string's UTF-8 bytes, as lowercase hex. */
export function sha256HexUtf8(text: string): string {
  return hash('sha256', text, 'hex');
}
