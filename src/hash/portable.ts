/**
 * SHA-256 on @noble/hashes: pure JavaScript, runs unchanged in browsers. Used by the offline
 * proof checker and everything that must not depend on node:crypto. Slower than
 * `./sha256.ts` (~210k vs ~2.4M line hashes/s measured), so never on the server's hot path.
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import type { Sha256 } from './sha256.js';

export const sha256Portable: Sha256 = (data) => nobleSha256(data);
