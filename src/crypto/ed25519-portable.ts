/**
 * Ed25519 verification on @noble/curves: pure JavaScript, runs unchanged in browsers (the
 * dashboard's proof checker) and in `stele check-proof`. Slower than `./keys.ts`'s
 * node:crypto verify (573 vs 6,763 verifies/s measured), so not on the replay path.
 *
 * Strict RFC 8032 / FIPS 186-5 decoding (`zip215: false`), not noble's permissive ZIP-215
 * default: ZIP-215 accepts the all-zero (small-order) public key with the all-zero signature
 * for every message, which OpenSSL refuses, so the two verifiers would disagree about a
 * checkpoint. Strict mode rejects small-order keys and non-canonical encodings as OpenSSL
 * does; a test checks that both verifiers agree. (They can still differ on a signature a key
 * holder crafts with a small-order component in R — noble's equation is cofactored,
 * OpenSSL's is not — which only the holder of the secret key can make.)
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import type { Ed25519Verify } from './checkpoint-sig.js';

export const ed25519VerifyPortable: Ed25519Verify = (signature, message, publicKey) => {
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
};
