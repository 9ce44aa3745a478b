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

/** SHA-256 through node:crypto's one-shot API (no Hash object per call). */
export const sha256: Sha256 = (data) => hash('sha256', data, 'buffer');

/** SHA-256 of a string's UTF-8 bytes, as lowercase hex; the event-hash fast path. */
export function sha256HexOfUtf8(text: string): string {
  return hash('sha256', text, 'hex');
}

/** SHA-256 of a string's UTF-8 bytes; node:crypto encodes natively, no JS Buffer needed. */
export function sha256Utf8(text: string): Buffer {
  return hash('sha256', text, 'buffer');
}
