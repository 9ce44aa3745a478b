/**
 * Ed25519 verification on @noble/curves: pure JavaScript, runs unchanged in browsers (the
 * dashboard's proof checker) and in `stele check-proof`. Slower than `./keys.ts`'s
 * node:crypto verify (573 vs 6,763 verifies/s measured), so not on the replay path.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import type { Ed25519Verify } from './checkpoint-sig.js';

export const ed25519VerifyPortable: Ed25519Verify = (signature, message, publicKey) => {
  try {
    return ed25519.verify(signature, message, publicKey);
  } catch {
    return false;
  }
};
