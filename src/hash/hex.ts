/**
 * Hex codec for 32-byte hashes. Strict: only lowercase hex of even length is accepted,
 * because the formats of DESIGN.md write lowercase and a parser rejects what the formatter
 * would never write. No node-only APIs, so the browser verifier can use it.
 */

const hexChars = '0123456789abcdef';

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    out += hexChars[b >> 4]! + hexChars[b & 15]!;
  }
  return out;
}

/** Parses lowercase hex; returns undefined for anything else (odd length, uppercase, junk). */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexValue(text.charCodeAt(2 * i));
    const lo = hexValue(text.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return undefined;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

/** True for exactly 64 lowercase hex characters (a SHA-256 in DESIGN.md's formats). */
export function isHash64(text: string): boolean {
  return text.length === 64 && /^[0-9a-f]{64}$/.test(text);
}

/** The `prev` of event 0: 64 zeros. */
export const zeroHash64 = '0'.repeat(64);

/** Byte-wise equality of two byte arrays (hashes), without node-only APIs. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
